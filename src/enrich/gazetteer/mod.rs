//! Places and admin-1 regions from GeoNames dump files: the compact extract
//! compiled into the binary, or a directory of the user's own dump files.

pub mod dump;
pub mod import;
pub mod nearest;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::Context;
use flate2::read::MultiGzDecoder;

pub use nearest::NearestPlaces;

/// The extract of `cities1000.txt` built by `ishara gazetteer build`.
const EMBEDDED_PLACES: &[u8] = include_bytes!("../../../data/geonames/places.txt.gz");
const EMBEDDED_ADMIN1: &str = include_str!("../../../data/geonames/admin1CodesASCII.txt");

/// The file that names admin-1 regions in a gazetteer directory.
pub const ADMIN1_FILE: &str = "admin1CodesASCII.txt";

/// ISO 3166-1 alpha-2, upper case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn parse(code: &str) -> Option<Self> {
        match code.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        // Built only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// GeoNames id.
    pub id: u32,
    pub name: Box<str>,
    pub ascii_name: Box<str>,
    /// Comma-separated, as in the dump, filtered by
    /// [`dump::useful_alternates`]; one string per place keeps memory low.
    pub alternate_names: Box<str>,
    // Degrees; f32 is within 2 m, plenty for a town.
    pub lat: f32,
    pub lon: f32,
    /// GeoNames feature code: `PPL`, `PPLA` (admin-1 seat), `PPLC`, ...
    pub feature_code: Box<str>,
    pub country: CountryCode,
    /// The admin-1 code within the country (`46`), empty when unknown.
    pub admin1: Box<str>,
    /// 0 when GeoNames does not know it.
    pub population: u32,
}

impl Place {
    /// `KE.46`; none when GeoNames does not place it in a region (`00`).
    pub fn admin1_code(&self) -> Option<String> {
        (!self.admin1.is_empty() && &*self.admin1 != "00")
            .then(|| format!("{}.{}", self.country, self.admin1))
    }

    pub fn alternates(&self) -> impl Iterator<Item = &str> {
        self.alternate_names.split(',').filter(|a| !a.is_empty())
    }
}

/// An admin-1 region: a county, state, province, department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin1 {
    pub name: Box<str>,
    pub ascii_name: Box<str>,
}

pub struct Gazetteer {
    places: Vec<Place>,
    /// `KE.46` → Turkana.
    admin1: HashMap<Box<str>, Admin1>,
}

impl Gazetteer {
    /// The worldwide extract compiled into the binary (GeoNames places of
    /// 1,000 people or more).
    pub fn embedded() -> anyhow::Result<Self> {
        let mut gazetteer = Self::empty();
        gazetteer.read_admin1(EMBEDDED_ADMIN1);
        gazetteer
            .read_places(BufReader::new(MultiGzDecoder::new(EMBEDDED_PLACES)))
            .context("embedded gazetteer")?;
        Ok(gazetteer)
    }

    /// A directory of GeoNames dump files: every `*.txt` or `*.txt.gz` is
    /// a place file except `admin1CodesASCII.txt` (region names, added to
    /// the embedded ones) and `countryInfo.txt` (read from the binary).
    pub fn load_dir(dir: &Path) -> anyhow::Result<Self> {
        let mut gazetteer = Self::empty();
        gazetteer.read_admin1(EMBEDDED_ADMIN1);
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read gazetteer directory {}", dir.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        let mut place_files = 0;
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == ADMIN1_FILE {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                gazetteer.read_admin1(&text);
            } else if name == "countryInfo.txt" {
                continue;
            } else if name.ends_with(".txt") || name.ends_with(".txt.gz") {
                let file =
                    File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
                let reader: Box<dyn Read> = if name.ends_with(".gz") {
                    Box::new(MultiGzDecoder::new(file))
                } else {
                    Box::new(file)
                };
                gazetteer
                    .read_places(BufReader::new(reader))
                    .with_context(|| format!("cannot read {}", path.display()))?;
                place_files += 1;
            }
        }
        if place_files == 0 {
            anyhow::bail!("no GeoNames place file (*.txt) in {}", dir.display());
        }
        Ok(gazetteer)
    }

    /// Places and admin-1 names from dump text; what tests build on.
    pub fn from_dump(places: &str, admin1: &str) -> anyhow::Result<Self> {
        let mut gazetteer = Self::empty();
        gazetteer.read_admin1(admin1);
        gazetteer.read_places(places.as_bytes())?;
        Ok(gazetteer)
    }

    /// `self` with the places of every country that `detail` covers taken
    /// from `detail` instead: a user's `KE.txt` replaces the extract's
    /// Kenyan towns and keeps the rest of the world.
    pub fn overlay(mut self, detail: Gazetteer) -> Self {
        let covered: HashSet<CountryCode> = detail.places.iter().map(|p| p.country).collect();
        self.places.retain(|p| !covered.contains(&p.country));
        self.places.extend(detail.places);
        self.admin1.extend(detail.admin1);
        self
    }

    pub fn places(&self) -> &[Place] {
        &self.places
    }

    /// The name of an admin-1 region from its `KE.46` code.
    pub fn admin1_name(&self, code: &str) -> Option<&str> {
        self.admin1.get(code).map(|r| &*r.name)
    }

    /// `(code, name)` of the admin-1 regions of `country`.
    pub fn admin1_regions(&self, country: CountryCode) -> impl Iterator<Item = (&str, &str)> {
        self.admin1
            .iter()
            .filter(move |(code, _)| code.as_bytes().get(..2) == Some(country.as_str().as_bytes()))
            .map(|(c, r)| (&**c, &*r.name))
    }

    /// Every admin-1 region, by its `KE.46` code.
    pub fn admin1(&self) -> impl Iterator<Item = (&str, &Admin1)> {
        self.admin1.iter().map(|(c, r)| (&**c, r))
    }

    fn empty() -> Self {
        Self {
            places: Vec::new(),
            admin1: HashMap::new(),
        }
    }

    fn read_admin1(&mut self, text: &str) {
        for row in dump::admin1_rows(text) {
            let region = Admin1 {
                name: row.name.into(),
                ascii_name: row.ascii_name.into(),
            };
            self.admin1.insert(row.code.into(), region);
        }
    }

    /// Reads a place file, keeping what [`dump::is_kept`] keeps; rows that
    /// do not parse are counted and skipped rather than failing the file.
    fn read_places(&mut self, reader: impl BufRead) -> anyhow::Result<()> {
        let mut bad = 0usize;
        let mut first_error = None;
        dump::read_lines(reader, |line| {
            match line {
                dump::Line::Kept(place) => self.places.push(place),
                dump::Line::Skipped => {}
                dump::Line::Bad(e) => {
                    bad += 1;
                    first_error.get_or_insert(e);
                }
            }
            Ok(())
        })?;
        if let Some(e) = first_error {
            tracing::warn!(bad_rows = bad, first = %e, "skipped gazetteer rows");
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A handful of real GeoNames rows (trimmed) for tests across the
    //! geo modules.

    pub const PLACES: &str = include_str!("../../../tests/data/geonames/places.txt");
    pub const ADMIN1: &str = include_str!("../../../tests/data/geonames/admin1CodesASCII.txt");

    pub fn gazetteer() -> super::Gazetteer {
        super::Gazetteer::from_dump(PLACES, ADMIN1).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_loads_places_and_region_names() {
        let g = fixture::gazetteer();
        let kisumu = g.places().iter().find(|p| &*p.name == "Kisumu").unwrap();
        let code = kisumu.admin1_code().unwrap();
        assert_eq!(g.admin1_name(&code), Some("Kisumu"));
    }

    #[test]
    fn embedded_extract_covers_the_world() {
        let g = Gazetteer::embedded().unwrap();
        assert!(g.places().len() > 100_000, "{}", g.places().len());
        assert_eq!(g.admin1_name("KE.05"), Some("Nairobi Area"));
        assert!(g.places().iter().any(|p| &*p.name == "Port-au-Prince"));
    }

    #[test]
    fn a_country_file_replaces_that_country_only() {
        let world = fixture::gazetteer();
        let kenya_only = "1\tNewtown\tNewtown\t\t0.5\t37.5\tP\tPPL\tKE\t\t30\t\t\t\t1200\t\t\t\t\n";
        let detail = Gazetteer::from_dump(kenya_only, "").unwrap();
        let merged = world.overlay(detail);
        let kenyan: Vec<_> = merged
            .places()
            .iter()
            .filter(|p| p.country.as_str() == "KE")
            .collect();
        assert_eq!(kenyan.len(), 1);
        assert!(merged.places().iter().any(|p| p.country.as_str() == "UG"));
    }

    #[test]
    fn a_directory_without_place_files_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ADMIN1_FILE), "KE.30\tNairobi\tNairobi\t1\n").unwrap();
        let err = Gazetteer::load_dir(dir.path()).err().unwrap();
        assert!(err.to_string().contains("no GeoNames place file"), "{err}");
    }
}
