//! Admin regions by point-in-polygon, from boundary GeoJSON a user loads
//! (geoBoundaries, GADM, Natural Earth or hand-made).

use std::path::Path;

use anyhow::Context;
use geo::{Intersects, MultiPolygon, Point};
use geojson::{Feature, FeatureCollection};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::report::Coordinates;

/// Properties read for a region's code, first present wins:
/// geoBoundaries, ours, Natural Earth admin-1, GADM, generic.
pub const CODE_PROPERTIES: &[&str] = &["shapeISO", "admin1_code", "iso_3166_2", "HASC_1", "code"];
/// Properties read for a region's name, first present wins.
pub const NAME_PROPERTIES: &[&str] = &["shapeName", "admin1_name", "NAME_1", "name"];
/// Properties read for the ISO alpha-2 country; without one, the two
/// letters before `-` or `.` in the code (`KE-30`, `KE.46`).
pub const COUNTRY_PROPERTIES: &[&str] = &["country", "iso_a2", "ISO_A2"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// As the file writes it: `KE-30` from geoBoundaries, `KE.46` if the
    /// file uses GeoNames codes.
    pub code: String,
    pub name: String,
    /// ISO alpha-2, upper case, when the file or the code tells.
    pub country: Option<String>,
}

struct Shape {
    region: Region,
    area: MultiPolygon<f64>,
}

pub struct Boundaries {
    shapes: Vec<Shape>,
    /// Bounding boxes of `shapes`, so a lookup tests a few polygons only.
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
}

impl Boundaries {
    pub fn load_geojson(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read boundaries {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("boundaries {}", path.display()))
    }

    /// Several files as one; a point in two regions gets the first file's.
    pub fn load_all(paths: &[impl AsRef<Path>]) -> anyhow::Result<Self> {
        let mut shapes = Vec::new();
        for path in paths {
            shapes.extend(Self::load_geojson(path.as_ref())?.shapes);
        }
        Ok(Self::from_shapes(shapes))
    }

    /// A FeatureCollection of Polygon or MultiPolygon features.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let collection: FeatureCollection =
            text.parse().context("not a GeoJSON FeatureCollection")?;
        let mut shapes = Vec::new();
        for (i, feature) in collection.features.into_iter().enumerate() {
            shapes.push(shape(feature).with_context(|| format!("feature {i}"))?);
        }
        if shapes.is_empty() {
            anyhow::bail!("no features");
        }
        Ok(Self::from_shapes(shapes))
    }

    fn from_shapes(shapes: Vec<Shape>) -> Self {
        let boxes = shapes
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let rect = geo::BoundingRect::bounding_rect(&s.area)?;
                Some(GeomWithData::new(
                    Rectangle::from_aabb(AABB::from_corners(
                        [rect.min().x, rect.min().y],
                        [rect.max().x, rect.max().y],
                    )),
                    i,
                ))
            })
            .collect();
        Self {
            shapes,
            tree: RTree::bulk_load(boxes),
        }
    }

    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.shapes.iter().map(|s| &s.region)
    }

    /// The region a point lies in (on its border counts as in).
    pub fn region_at(&self, at: Coordinates) -> Option<&Region> {
        let point = Point::new(at.lon(), at.lat());
        self.tree
            .locate_all_at_point(&[at.lon(), at.lat()])
            .map(|b| b.data)
            .filter(|&i| self.shapes[i].area.intersects(&point))
            .min()
            .map(|i| &self.shapes[i].region)
    }
}

fn shape(feature: Feature) -> anyhow::Result<Shape> {
    let text = |keys: &[&str]| {
        keys.iter().find_map(|k| {
            feature
                .property(k)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        })
    };
    let code = text(CODE_PROPERTIES)
        .with_context(|| format!("no region code (one of {})", CODE_PROPERTIES.join(", ")))?;
    let name = text(NAME_PROPERTIES).unwrap_or_else(|| code.clone());
    let country = text(COUNTRY_PROPERTIES)
        .filter(|c| c.len() == 2)
        .or_else(|| {
            let (prefix, _) = code.split_once(['-', '.'])?;
            (prefix.len() == 2).then(|| prefix.to_owned())
        })
        .map(|c| c.to_ascii_uppercase());
    let geometry = feature.geometry.context("no geometry")?;
    let area = match geo::Geometry::<f64>::try_from(geometry).context("bad geometry")? {
        geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
        geo::Geometry::MultiPolygon(m) => m,
        _ => anyhow::bail!("region {code} is not a Polygon or MultiPolygon"),
    };
    Ok(Shape {
        region: Region {
            code,
            name,
            country,
        },
        area,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/data/boundaries.geojson");

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).unwrap()
    }

    #[test]
    fn points_fall_in_the_polygon_that_holds_them() {
        let b = Boundaries::parse(FIXTURE).unwrap();
        assert_eq!(b.len(), 2);
        let kisumu = b.region_at(at(-0.10, 34.76)).unwrap();
        assert_eq!(kisumu.code, "KE-17");
        assert_eq!(kisumu.name, "Kisumu");
        assert_eq!(kisumu.country.as_deref(), Some("KE"));
        let nairobi = b.region_at(at(-1.29, 36.82)).unwrap();
        assert_eq!(nairobi.name, "Nairobi City");
    }

    #[test]
    fn points_in_a_bounding_box_but_outside_the_polygon_have_no_region() {
        let b = Boundaries::parse(FIXTURE).unwrap();
        // Inside Nairobi's box, in the notch cut out of its polygon.
        assert_eq!(b.region_at(at(-1.05, 37.05)), None);
        assert_eq!(b.region_at(at(10.0, 10.0)), None);
    }

    #[test]
    fn features_without_a_code_are_refused_with_the_names_read() {
        let text = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"x":1},
            "geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}"#;
        let err = format!("{:#}", Boundaries::parse(text).err().unwrap());
        assert!(err.contains("shapeISO"), "{err}");
    }
}
