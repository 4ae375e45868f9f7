//! Between the queue and the store: what language a report is in and
//! where it is about.

pub mod boundaries;
pub mod clean;
pub mod gazetteer;
pub mod geoparse;
pub mod language;
pub mod locate;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::report::IncomingReport;

pub use language::LanguageGuess;
pub use locate::PlaceGuess;

/// What the worker adds to a report before storing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    pub language: LanguageGuess,
    pub place: PlaceGuess,
}

/// A report with what the worker worked out about it: what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichedReport {
    pub report: crate::report::IncomingReport,
    pub enrichment: Enrichment,
}

impl Enrichment {
    /// Nothing worked out: `und`, no place.
    pub fn nothing() -> Self {
        Self {
            language: LanguageGuess::undetermined(),
            place: PlaceGuess::none(),
        }
    }
}

/// Language detection and place finding, loaded once at start and shared
/// by every worker thread.
pub struct Enricher {
    language: language::LanguageDetector,
    locator: locate::Locator,
}

impl Enricher {
    /// Loads the language models and the gazetteer: seconds, so done once.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let languages = language::parse_languages(&config.language.languages)?;
        Ok(Self {
            language: language::LanguageDetector::new(&languages),
            locator: locate::Locator::from_config(&config.geo, &config.data_dir)?,
        })
    }

    /// CPU-bound (language models): call it off the async runtime.
    pub fn enrich(&self, report: &IncomingReport) -> Enrichment {
        let country = report.sender.as_ref().and_then(crate::country::of_sender);
        let text = report.text.as_str();
        Enrichment {
            language: self.language.detect(text, country),
            place: self
                .locator
                .locate(text, report.location, country.map(|c| c.iso.as_str())),
        }
    }
}
