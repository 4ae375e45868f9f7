//! Where a report is about: its coordinates if it has any, else a place
//! named in its text, else the sender's country.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::GeoConfig;
use crate::enrich::boundaries::{Boundaries, Region};
use crate::enrich::gazetteer::{CountryCode, Gazetteer, NearestPlaces, Place};
use crate::enrich::geoparse::{Geoparser, Named, TextMatch};
use crate::fold::fold;
use crate::report::Coordinates;

/// A point this close to a gazetteer place is taken to be at it.
const NEAREST_PLACE_MAX_M: f64 = 50_000.0;
/// Farther than [`NEAREST_PLACE_MAX_M`] but this close, the point is
/// probably in that place's country (not at sea, not across a border).
const SAME_COUNTRY_MAX_M: f64 = 150_000.0;
/// What the sender's phone number says is little: a Kenyan SIM roams.
const SENDER_COUNTRY_CONFIDENCE: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceMethod {
    Coordinates,
    Text,
    SenderCountry,
    None,
}

/// How precise a [`PlaceGuess`] is: a town, a whole admin-1 region (the
/// text named a county, or coordinates fell in a region's polygon far from
/// any town), only a country, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    Place,
    Admin1,
    Country,
    None,
}

impl PlaceKind {
    /// What the stored fields of a guess amount to.
    pub fn of(place_id: Option<i64>, admin1_code: Option<&str>, country: Option<&str>) -> Self {
        match (place_id, admin1_code, country) {
            (Some(_), _, _) => Self::Place,
            (None, Some(_), _) => Self::Admin1,
            (None, None, Some(_)) => Self::Country,
            (None, None, None) => Self::None,
        }
    }
}

/// The place a report is about; `method: none` when nothing was trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceGuess {
    pub method: PlaceMethod,
    /// Derived from the fields below; `place` means `place_id` is set.
    pub kind: PlaceKind,
    /// GeoNames id of the place, when one place was found.
    pub place_id: Option<i64>,
    pub name: Option<String>,
    /// ISO alpha-2.
    pub country: Option<String>,
    /// `KE.46` style.
    pub admin1_code: Option<String>,
    pub admin1_name: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// 0 to 1; 0 with `none`.
    pub confidence: f64,
}

impl PlaceGuess {
    pub fn none() -> Self {
        Self {
            method: PlaceMethod::None,
            kind: PlaceKind::None,
            place_id: None,
            name: None,
            country: None,
            admin1_code: None,
            admin1_name: None,
            lat: None,
            lon: None,
            confidence: 0.0,
        }
    }

    fn country_only(method: PlaceMethod, country: &str, confidence: f64) -> Self {
        Self {
            method,
            kind: PlaceKind::Country,
            country: Some(country.to_owned()),
            confidence,
            ..Self::none()
        }
    }
}

pub struct Locator {
    geoparser: Geoparser,
    nearest: NearestPlaces,
    boundaries: Option<Boundaries>,
    /// Boundary region code → GeoNames admin-1 code of the same name, so
    /// reports found by polygon and by text group under one code.
    geonames_codes: HashMap<String, String>,
}

impl Locator {
    /// The gazetteer is the embedded extract, with the countries covered by
    /// `geo.gazetteer` (or else `data_dir/gazetteer`, where `ishara
    /// gazetteer import` writes) taken from those files instead.
    pub fn from_config(geo: &GeoConfig, data_dir: &Path) -> anyhow::Result<Self> {
        let mut gazetteer = Gazetteer::embedded()?;
        let imported = data_dir.join("gazetteer");
        let dir = match &geo.gazetteer {
            Some(dir) => Some(dir.clone()),
            None => imported.is_dir().then_some(imported),
        };
        if let Some(dir) = dir {
            gazetteer = gazetteer.overlay(Gazetteer::load_dir(&dir)?);
        }
        let boundaries = if geo.boundaries.is_empty() {
            None
        } else {
            Some(Boundaries::load_all(&geo.boundaries)?)
        };
        Ok(Self::new(Arc::new(gazetteer), &geo.countries, boundaries))
    }

    pub fn new(
        gazetteer: Arc<Gazetteer>,
        countries: &[String],
        boundaries: Option<Boundaries>,
    ) -> Self {
        let geonames_codes = boundaries
            .iter()
            .flat_map(|b| b.regions())
            .filter_map(|r| Some((r.code.clone(), geonames_code(&gazetteer, r)?)))
            .collect();
        Self {
            nearest: NearestPlaces::new(&gazetteer),
            geoparser: Geoparser::new(gazetteer, countries),
            boundaries,
            geonames_codes,
        }
    }

    /// `sender_country`: ISO alpha-2 of the sender's phone number.
    pub fn locate(
        &self,
        text: &str,
        coordinates: Option<Coordinates>,
        sender_country: Option<&str>,
    ) -> PlaceGuess {
        self.locate_and_name(text, coordinates, sender_country).0
    }

    /// [`Locator::locate`], and the folded words of the place names in
    /// `text`, which say nothing about its language.
    pub fn locate_and_name(
        &self,
        text: &str,
        coordinates: Option<Coordinates>,
        sender_country: Option<&str>,
    ) -> (PlaceGuess, Vec<String>) {
        let reading = self.geoparser.read(text, sender_country);
        let guess = match coordinates.and_then(|c| self.at(c)) {
            Some(guess) => guess,
            None => match reading.best {
                Some(found) => self.guess_from_text(&found),
                None => self.guess_from_sender(sender_country),
            },
        };
        (guess, reading.name_words)
    }

    fn guess_from_text(&self, found: &TextMatch) -> PlaceGuess {
        let guess = match found.named {
            Named::Place(i) => self.guess_at_place(&self.gazetteer().places()[i]),
            Named::Region(i) => {
                let region = self.geoparser.region(i);
                PlaceGuess {
                    method: PlaceMethod::Text,
                    kind: PlaceKind::Admin1,
                    country: Some(region.country.as_str().to_owned()),
                    admin1_name: self
                        .gazetteer()
                        .admin1_name(&region.code)
                        .map(str::to_owned),
                    admin1_code: Some(region.code.to_string()),
                    ..PlaceGuess::none()
                }
            }
        };
        PlaceGuess {
            method: PlaceMethod::Text,
            confidence: found.confidence,
            ..guess
        }
    }

    fn guess_from_sender(&self, sender_country: Option<&str>) -> PlaceGuess {
        match sender_country.and_then(CountryCode::parse) {
            Some(country) => PlaceGuess::country_only(
                PlaceMethod::SenderCountry,
                country.as_str(),
                SENDER_COUNTRY_CONFIDENCE,
            ),
            None => PlaceGuess::none(),
        }
    }

    fn gazetteer(&self) -> &Gazetteer {
        self.geoparser.gazetteer()
    }

    fn at(&self, at: Coordinates) -> Option<PlaceGuess> {
        let nearest = self.nearest.nearest(at.lat(), at.lon());
        let near_place = nearest
            .filter(|(_, m)| *m <= NEAREST_PLACE_MAX_M)
            .map(|(i, m)| (&self.gazetteer().places()[i], m));
        let region = self.boundaries.as_ref().and_then(|b| b.region_at(at));
        let mut guess = match (region, near_place) {
            (Some(region), place) => {
                let mut guess = place
                    .map(|(p, _)| self.guess_at_place(p))
                    .unwrap_or_else(PlaceGuess::none);
                guess.admin1_code = Some(
                    self.geonames_codes
                        .get(&region.code)
                        .cloned()
                        .unwrap_or_else(|| region.code.clone()),
                );
                if guess.place_id.is_none() {
                    guess.kind = PlaceKind::Admin1;
                }
                guess.admin1_name = Some(region.name.clone());
                if let Some(country) = &region.country {
                    guess.country = Some(country.clone());
                }
                guess.confidence = 0.95;
                guess
            }
            (None, Some((place, metres))) => PlaceGuess {
                // Trust fades with distance: 0.9 at the place, 0.6 at the limit.
                confidence: 0.9 - 0.3 * metres / NEAREST_PLACE_MAX_M,
                ..self.guess_at_place(place)
            },
            (None, None) => {
                let (i, metres) = nearest?;
                if metres > SAME_COUNTRY_MAX_M {
                    return None;
                }
                let country = self.gazetteer().places()[i].country;
                PlaceGuess::country_only(PlaceMethod::Coordinates, country.as_str(), 0.4)
            }
        };
        guess.method = PlaceMethod::Coordinates;
        guess.lat = Some(at.lat());
        guess.lon = Some(at.lon());
        Some(guess)
    }

    fn guess_at_place(&self, place: &Place) -> PlaceGuess {
        let admin1_code = place.admin1_code();
        PlaceGuess {
            method: PlaceMethod::Text,
            kind: PlaceKind::Place,
            place_id: Some(i64::from(place.id)),
            name: Some(place.name.to_string()),
            country: Some(place.country.as_str().to_owned()),
            admin1_name: admin1_code
                .as_deref()
                .and_then(|c| self.gazetteer().admin1_name(c))
                .map(str::to_owned),
            admin1_code,
            lat: Some(degrees(place.lat)),
            lon: Some(degrees(place.lon)),
            confidence: 0.0,
        }
    }
}

/// The GeoNames admin-1 region of the same country whose name matches,
/// ignoring words like "County" or "City" that the sources add or drop.
fn geonames_code(gazetteer: &Gazetteer, region: &Region) -> Option<String> {
    let country = CountryCode::parse(region.country.as_deref()?)?;
    let wanted = core_name(&region.name);
    gazetteer
        .admin1_regions(country)
        .find(|(_, name)| core_name(name) == wanted)
        .map(|(code, _)| code.to_owned())
}

fn core_name(name: &str) -> String {
    const GENERIC: &[&str] = &[
        "county",
        "city",
        "area",
        "region",
        "province",
        "state",
        "district",
        "department",
        "governorate",
        "division",
        "municipality",
        "of",
    ];
    fold(name)
        .split(' ')
        .filter(|w| !GENERIC.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The gazetteer keeps degrees as `f32` to save memory; GeoNames gives
/// five decimals, so widen to those rather than to `-0.45274999737739563`.
fn degrees(value: f32) -> f64 {
    (f64::from(value) * 1e5).round() / 1e5
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::gazetteer::fixture;

    fn locator(boundaries: bool) -> Locator {
        let boundaries = boundaries.then(|| {
            Boundaries::parse(include_str!("../../tests/data/boundaries.geojson")).unwrap()
        });
        Locator::new(Arc::new(fixture::gazetteer()), &[], boundaries)
    }

    fn at(lat: f64, lon: f64) -> Option<Coordinates> {
        Some(Coordinates::new(lat, lon).unwrap())
    }

    #[test]
    fn the_locator_is_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Locator>();
    }

    #[test]
    fn coordinates_win_over_text_and_take_the_polygon_region() {
        let guess = locator(true).locate("floods in Garissa", at(-0.12, 34.80), Some("KE"));
        assert_eq!(guess.method, PlaceMethod::Coordinates);
        // Named like GeoNames' region, so the GeoNames code.
        assert_eq!(guess.admin1_code.as_deref(), Some("KE.26"));
        assert_eq!(guess.name.as_deref(), Some("Kisumu"));
        assert_eq!(guess.lat, Some(-0.12));
    }

    #[test]
    fn polygon_regions_take_the_geonames_code_of_the_same_name() {
        let guess = locator(true).locate("", at(-1.29, 36.82), None);
        assert_eq!(guess.admin1_code.as_deref(), Some("KE.05"));
        assert_eq!(guess.admin1_name.as_deref(), Some("Nairobi City"));
    }

    #[test]
    fn without_polygons_coordinates_take_the_nearest_place_region() {
        let guess = locator(false).locate("", at(-0.12, 34.80), None);
        assert_eq!(guess.method, PlaceMethod::Coordinates);
        assert_eq!(guess.admin1_code.as_deref(), Some("KE.26"));
        assert!(guess.confidence > 0.8, "{}", guess.confidence);
    }

    #[test]
    fn coordinates_far_from_any_place_fall_back_to_the_text() {
        let guess = locator(false).locate("floods in Garissa", at(-40.0, -20.0), Some("KE"));
        assert_eq!(guess.method, PlaceMethod::Text);
        assert_eq!(guess.admin1_code.as_deref(), Some("KE.16"));
        assert_eq!(guess.admin1_name.as_deref(), Some("Garissa"));
        assert_eq!(guess.place_id, Some(197745));
    }

    #[test]
    fn no_place_in_the_text_leaves_the_sender_country_or_nothing() {
        let l = locator(false);
        let guess = l.locate("we need water", None, Some("KE"));
        assert_eq!(guess.method, PlaceMethod::SenderCountry);
        assert_eq!(guess.country.as_deref(), Some("KE"));
        assert_eq!(guess.admin1_code, None);
        assert_eq!(l.locate("we need water", None, None), PlaceGuess::none());
    }
}
