//! Between the queue and the store: what language a report is in and
//! where it is about.

pub mod boundaries;
pub mod clean;
pub mod gazetteer;
pub mod geoparse;
pub mod language;
pub mod locate;

use serde::{Deserialize, Serialize};

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
