//! The gazetteer place nearest to a point, for coordinates when no
//! boundary polygons are loaded.

use rstar::{AABB, PointDistance, RTree, RTreeObject};

use super::Gazetteer;

/// Mean Earth radius, metres.
const EARTH_RADIUS_M: f64 = 6_371_000.0;

struct Point {
    /// Unit-sphere x, y, z: straight-line distance there orders the same
    /// as great-circle distance, so the R-tree needs no special metric.
    xyz: [f64; 3],
    place: u32,
}

impl RTreeObject for Point {
    type Envelope = AABB<[f64; 3]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_point(self.xyz)
    }
}

impl PointDistance for Point {
    fn distance_2(&self, point: &[f64; 3]) -> f64 {
        self.xyz
            .iter()
            .zip(point)
            .map(|(a, b)| (a - b) * (a - b))
            .sum()
    }
}

fn unit(lat: f64, lon: f64) -> [f64; 3] {
    let (lat, lon) = (lat.to_radians(), lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

pub struct NearestPlaces {
    tree: RTree<Point>,
}

impl NearestPlaces {
    pub fn new(gazetteer: &Gazetteer) -> Self {
        let points = gazetteer
            .places()
            .iter()
            .enumerate()
            .map(|(i, p)| Point {
                xyz: unit(p.lat.into(), p.lon.into()),
                place: i as u32,
            })
            .collect();
        Self {
            tree: RTree::bulk_load(points),
        }
    }

    /// Index of the nearest place in [`Gazetteer::places`] and its
    /// distance in metres.
    pub fn nearest(&self, lat: f64, lon: f64) -> Option<(usize, f64)> {
        let point = unit(lat, lon);
        let found = self.tree.nearest_neighbor(&point)?;
        let chord = found.distance_2(&point).sqrt();
        let metres = 2.0 * (chord / 2.0).min(1.0).asin() * EARTH_RADIUS_M;
        Some((found.place as usize, metres))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::gazetteer::fixture;

    #[test]
    fn a_point_outside_kisumu_finds_kisumu_a_few_km_away() {
        let g = fixture::gazetteer();
        let nearest = NearestPlaces::new(&g);
        let (i, metres) = nearest.nearest(-0.12, 34.80).unwrap();
        assert_eq!(&*g.places()[i].name, "Kisumu");
        assert!((3_000.0..6_000.0).contains(&metres), "{metres}");
    }
}
