//! What a report's language is called: ISO 639-1 codes, checked against
//! the languages this build can detect, and the configured list of them.

use std::collections::HashSet;
use std::fmt;

use lingua::Language;
use serde::{Deserialize, Serialize};

/// The languages configured when `language.languages` is not set: the
/// working languages of the humanitarian response in East Africa, the Horn,
/// the Sahel and South and South-East Asia.
pub const DEFAULT_LANGUAGES: &[&str] =
    &["en", "fr", "es", "pt", "ar", "sw", "so", "hi", "id", "tl"];

/// A configured language that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LanguageError {
    #[error("no languages given; supported: {supported}")]
    Empty { supported: String },
    #[error("unknown language code {code:?}; supported: {supported}")]
    Unknown { code: String, supported: String },
    #[error("language {0:?} is listed twice")]
    Duplicate(String),
}

/// An ISO 639-1 code, or `und` when the text does not say.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    pub fn is_undetermined(&self) -> bool {
        self.0 == "und"
    }

    pub(crate) fn of(language: Language) -> Self {
        Self(language.iso_code_639_1().to_string())
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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

/// The ISO 639-1 codes this build can detect, sorted.
pub fn supported_codes() -> Vec<String> {
    let mut codes: Vec<String> = Language::all()
        .into_iter()
        .map(|l| l.iso_code_639_1().to_string())
        .collect();
    codes.sort();
    codes
}

/// Looked up for every report with a sender (its country's languages):
/// built once rather than formatting every language's code each time.
static BY_CODE: std::sync::LazyLock<std::collections::HashMap<String, Language>> =
    std::sync::LazyLock::new(|| {
        Language::all()
            .into_iter()
            .map(|l| (l.iso_code_639_1().to_string(), l))
            .collect()
    });

pub(crate) fn language_of(code: &str) -> Option<Language> {
    BY_CODE.get(code).copied()
}

/// Checks the configured codes (any case, surrounding spaces ignored). One
/// language is allowed: every text with enough letters of its script is
/// then that language, which is what a single-language deployment wants.
pub fn parse_languages(codes: &[String]) -> Result<Vec<LanguageCode>, LanguageError> {
    let supported = || supported_codes().join(", ");
    if codes.is_empty() {
        return Err(LanguageError::Empty {
            supported: supported(),
        });
    }
    let mut seen = HashSet::new();
    let mut parsed = Vec::with_capacity(codes.len());
    for raw in codes {
        let code = raw.trim().to_ascii_lowercase();
        let language = language_of(&code).ok_or_else(|| LanguageError::Unknown {
            code: raw.clone(),
            supported: supported(),
        })?;
        if !seen.insert(language) {
            return Err(LanguageError::Duplicate(code));
        }
        parsed.push(LanguageCode::of(language));
    }
    Ok(parsed)
}
