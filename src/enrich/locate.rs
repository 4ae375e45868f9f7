//! Where a report is about (being built by the geo helper).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceMethod {
    Coordinates,
    Text,
    SenderCountry,
    None,
}

/// The place a report is about; `method: none` when nothing was trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceGuess {
    pub method: PlaceMethod,
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
}

/// Placeholder until the gazetteer lands.
pub struct Locator;

impl Locator {
    pub fn from_config(
        _geo: &crate::config::GeoConfig,
        _data_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        Ok(Self)
    }

    pub fn locate(
        &self,
        _text: &str,
        _coordinates: Option<crate::report::Coordinates>,
        _sender_country: Option<&str>,
    ) -> PlaceGuess {
        PlaceGuess::none()
    }
}
