//! Language detection with lingua (being built by the language helper).

use serde::{Deserialize, Serialize};

/// The languages configured when `language.languages` is not set.
pub const DEFAULT_LANGUAGES: &[&str] =
    &["en", "fr", "es", "pt", "ar", "sw", "so", "hi", "id", "tl"];

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LanguageError(pub String);

/// An ISO 639-1 code, or `und` when the text does not say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LanguageCode(String);

impl LanguageCode {
    pub fn undetermined() -> Self {
        Self("und".into())
    }
    /// A code read back from the store, which only ever held checked codes.
    pub fn from_stored(code: String) -> Self {
        Self(code)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageGuess {
    pub code: LanguageCode,
    /// 0 to 1; 0 with `und`.
    pub confidence: f64,
}

impl LanguageGuess {
    pub fn undetermined() -> Self {
        Self {
            code: LanguageCode::undetermined(),
            confidence: 0.0,
        }
    }
}

pub fn parse_languages(codes: &[String]) -> Result<Vec<LanguageCode>, LanguageError> {
    if codes.is_empty() {
        return Err(LanguageError("at least one language is needed".into()));
    }
    Ok(codes.iter().map(|c| LanguageCode(c.clone())).collect())
}

/// Placeholder until the lingua pipeline lands: lingua alone.
pub struct LanguageDetector {
    detector: lingua::LanguageDetector,
}

impl LanguageDetector {
    pub fn new(codes: &[LanguageCode]) -> Self {
        use std::str::FromStr;
        let languages: Vec<lingua::Language> = codes
            .iter()
            .filter_map(|c| lingua::IsoCode639_1::from_str(c.as_str()).ok())
            .map(|c| lingua::Language::from_iso_code_639_1(&c))
            .collect();
        Self {
            detector: lingua::LanguageDetectorBuilder::from_languages(&languages)
                .with_preloaded_language_models()
                .build(),
        }
    }

    pub fn detect(
        &self,
        text: &str,
        _sender_country: Option<&crate::country::Country>,
    ) -> LanguageGuess {
        match self
            .detector
            .compute_language_confidence_values(text)
            .first()
        {
            Some((language, confidence)) if *confidence > 0.5 => LanguageGuess {
                code: LanguageCode(language.iso_code_639_1().to_string()),
                confidence: *confidence,
            },
            _ => LanguageGuess::undetermined(),
        }
    }

    pub fn detect_raw(&self, text: &str) -> Option<lingua::Language> {
        self.detector.detect_language_of(text)
    }
}
