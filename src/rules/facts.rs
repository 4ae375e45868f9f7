//! What the rule engine knows of a report, whichever way it arrives: from
//! the worker (just enriched), from the store (windows rebuilt at start),
//! or from a `rules test` file.

use chrono::{DateTime, Utc};

use crate::enrich::{EnrichedReport, LanguageGuess, PlaceGuess};
use crate::store::StoredReport;

#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Our id of the stored report (a ULID): what windows count and
    /// evidence lists. A retry must carry the id of the copy first stored
    /// (`Engine::observe_stored` sees to it), so that it counts once.
    pub id: String,
    /// `source:source_id`, which finds the first stored copy.
    pub dedup_key: String,
    pub source: String,
    pub text: String,
    pub sender: Option<String>,
    pub language: String,
    pub place: PlaceGuess,
    /// Event time: when the sender sent it.
    pub at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

impl Facts {
    pub fn from_enriched(enriched: &EnrichedReport) -> Self {
        let report = &enriched.report;
        Self {
            id: report.id.to_string(),
            dedup_key: report.dedup_key(),
            source: report.source.as_str().to_owned(),
            text: report.text.as_str().to_owned(),
            sender: report.sender_pseudonym.clone(),
            language: enriched.enrichment.language.code.as_str().to_owned(),
            place: enriched.enrichment.place.clone(),
            at: event_time(report.sent_at, report.received_at),
            received_at: report.received_at,
        }
    }

    pub fn from_stored(stored: &StoredReport) -> Self {
        Self {
            id: stored.id.clone(),
            // The same `{source}:{source_id}` the worker counted it under.
            dedup_key: format!("{}:{}", stored.source, stored.source_id),
            source: stored.source.clone(),
            text: stored.text.clone(),
            sender: stored.sender_pseudonym.clone(),
            language: stored
                .language
                .clone()
                .unwrap_or_else(LanguageGuess::undetermined)
                .code
                .as_str()
                .to_owned(),
            place: stored.place.clone().unwrap_or_else(PlaceGuess::none),
            at: event_time(stored.sent_at, stored.received_at),
            received_at: stored.received_at,
        }
    }
}

/// When the sender sent it, but never after we received it: phones with
/// wrong clocks must not push a report into windows of the future.
pub fn event_time(sent_at: Option<DateTime<Utc>>, received_at: DateTime<Utc>) -> DateTime<Utc> {
    sent_at.map_or(received_at, |sent| sent.min(received_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_is_when_sent_but_never_in_the_future() {
        let received: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        let earlier: DateTime<Utc> = "2025-03-01T09:00:00Z".parse().unwrap();
        let later: DateTime<Utc> = "2025-03-01T11:00:00Z".parse().unwrap();
        assert_eq!(event_time(Some(earlier), received), earlier);
        assert_eq!(event_time(Some(later), received), received);
        assert_eq!(event_time(None, received), received);
    }
}
