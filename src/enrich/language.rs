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

pub fn parse_languages(codes: &[String]) -> Result<Vec<LanguageCode>, LanguageError> {
    if codes.is_empty() {
        return Err(LanguageError("at least one language is needed".into()));
    }
    Ok(codes.iter().map(|c| LanguageCode(c.clone())).collect())
}
