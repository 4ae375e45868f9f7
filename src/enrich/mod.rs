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
use crate::country::Country;
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
        let country = sender_country(report);
        let (place, names) = self.place_of(report, country);
        Enrichment {
            language: self.language_of(report, country, &names),
            place,
        }
    }

    /// Enriches a batch, each report on its own: one the enricher panics
    /// on comes back as the reason, and the others are unharmed.
    ///
    /// Every place first, then every language: lingua's models are far
    /// larger than the caches, so they run back to back rather than
    /// alternating with the gazetteer's index, which would push them out.
    /// Places come first because their names are left out of the text
    /// whose language is judged.
    pub fn enrich_batch(&self, reports: &[IncomingReport]) -> Vec<Result<Enrichment, String>> {
        let countries: Vec<_> = reports.iter().map(sender_country).collect();
        let places: Vec<_> = reports
            .iter()
            .zip(&countries)
            .map(|(report, &country)| unpanicked(|| self.place_of(report, country)))
            .collect();
        reports
            .iter()
            .zip(&countries)
            .zip(places)
            .map(|((report, &country), place)| {
                let (place, names) = place?;
                let language = unpanicked(|| self.language_of(report, country, &names))?;
                Ok(Enrichment { language, place })
            })
            .collect()
    }

    fn language_of(
        &self,
        report: &IncomingReport,
        country: Option<&Country>,
        place_names: &[String],
    ) -> LanguageGuess {
        self.language
            .detect_without(report.text.as_str(), country, place_names)
    }

    /// The place, and the words that named places in the text.
    fn place_of(
        &self,
        report: &IncomingReport,
        country: Option<&Country>,
    ) -> (PlaceGuess, Vec<String>) {
        self.locator.locate_and_name(
            report.text.as_str(),
            report.location,
            country.map(|c| c.iso.as_str()),
        )
    }
}

fn sender_country(report: &IncomingReport) -> Option<&'static Country> {
    report.sender.as_ref().and_then(|s| s.country())
}

/// The panic's message as an error, so that one bad report does not sink
/// the batch it came in.
fn unpanicked<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        format!("enrichment failed: {what}")
    })
}
