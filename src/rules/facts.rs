//! What the rule engine knows of a report, whichever way it arrives: from
//! the worker (just enriched), from the store (windows rebuilt at start),
//! or from a `rules test` file.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::matcher::Subject;
use crate::enrich::locate::{PlaceKind, PlaceMethod};
use crate::enrich::{EnrichedReport, PlaceGuess};
use crate::store::StoredReport;

/// The place of a report stored before enrichment existed.
static NO_PLACE: PlaceGuess = PlaceGuess {
    method: PlaceMethod::None,
    kind: PlaceKind::None,
    place_id: None,
    name: None,
    country: None,
    admin1_code: None,
    admin1_name: None,
    lat: None,
    lon: None,
    confidence: 0.0,
};

/// Borrows from the report it describes: counting a batch copies none of
/// its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts<'a> {
    /// Our id of the stored report (a ULID): what windows count and
    /// evidence lists. A retry must carry the id of the copy first stored
    /// (`Engine::observe_stored` sees to it), so that it counts once.
    pub id: Cow<'a, str>,
    pub source: &'a str,
    pub text: &'a str,
    pub sender: Option<&'a str>,
    pub language: &'a str,
    pub place: &'a PlaceGuess,
    /// Event time: when the sender sent it.
    pub at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// A copy stored before this one came (a retry, a redelivery, a
    /// rebuild): it is judged late or not by when it first arrived, not by
    /// when it came again.
    pub stored_before: bool,
}

impl<'a> Facts<'a> {
    pub fn from_enriched(enriched: &'a EnrichedReport) -> Self {
        let report = &enriched.report;
        Self {
            id: Cow::Owned(report.id.to_string()),
            source: report.source.as_str(),
            text: report.text.as_str(),
            sender: report.sender_pseudonym.as_deref(),
            language: enriched.enrichment.language.code.as_str(),
            place: &enriched.enrichment.place,
            at: event_time(report.sent_at, report.received_at),
            received_at: report.received_at,
            stored_before: false,
        }
    }

    pub fn from_stored(stored: &'a StoredReport) -> Self {
        Self {
            id: Cow::Borrowed(&stored.id),
            source: &stored.source,
            text: &stored.text,
            sender: stored.sender_pseudonym.as_deref(),
            language: stored.language.as_ref().map_or("und", |l| l.code.as_str()),
            place: stored.place.as_ref().unwrap_or(&NO_PLACE),
            at: event_time(stored.sent_at, stored.received_at),
            received_at: stored.received_at,
            stored_before: true,
        }
    }

    /// What the matcher looks at.
    pub fn subject(&self) -> Subject<'_> {
        let place = self.place;
        Subject {
            text: self.text,
            language: self.language,
            source: self.source,
            country: place.country.as_deref(),
            admin1_code: place.admin1_code.as_deref(),
            admin1_name: place.admin1_name.as_deref(),
            place_name: place.name.as_deref(),
            lat: place.lat,
            lon: place.lon,
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
