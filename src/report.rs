//! Domain types of a report, built at the edge so the core never handles
//! unchecked strings.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ulid::Ulid;
use unicode_normalization::UnicodeNormalization;

/// Our own id of a report: a ULID, so ids sort by the time we received them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReportId(Ulid);

static GENERATOR: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());

impl ReportId {
    /// Monotonic within this process, so two reports received in the same
    /// millisecond still list in the order they arrived.
    pub fn new() -> Self {
        // Overflow within one millisecond (2^80 ids) falls back to random.
        match GENERATOR.lock().map(|mut g| g.generate()) {
            Ok(Ok(id)) => Self(id),
            _ => Self(Ulid::new()),
        }
    }
}

impl Default for ReportId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ReportId {
    type Err = ulid::DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(s).map(Self)
    }
}

impl TryFrom<String> for ReportId {
    type Error = ulid::DecodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ReportId> for String {
    fn from(id: ReportId) -> Self {
        id.to_string()
    }
}

/// Where a report came from: a gateway (`twilio`) or a feed (`feed`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Source(String);

impl Source {
    pub fn new(name: &str) -> Self {
        Self(name.to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The source's own id of a message: what makes a retry recognisable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SourceId(String);

impl SourceId {
    /// A non-empty id given by the source, kept verbatim.
    pub fn given(id: &str) -> Option<Self> {
        let id = id.trim();
        (!id.is_empty() && id.len() <= 200).then(|| Self(id.to_owned()))
    }

    /// For sources without ids: a hash of what identifies one message, so a
    /// retried request maps to the same id. Minutes, because gateways that
    /// retry re-stamp seconds.
    pub fn content_hash(
        source: &Source,
        from: &str,
        to: &str,
        text: &str,
        sent_at: Option<DateTime<Utc>>,
    ) -> Self {
        let minute = sent_at
            .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default();
        let data = format!("{}|{from}|{to}|{text}|{minute}", source.as_str());
        Self(format!("sha256:{}", hex::encode(Sha256::digest(data))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the store and the worker deduplicate on: `{source}:{source id}`,
/// with the colon of a named feed's source written as `/` (`feed/kobo:17`).
/// Ids may hold colons, so without that `feed` with id `kobo:17` and
/// `feed:kobo` with id `17` would share a key, and one report would be
/// dropped as the other's duplicate. Sources never hold `/`, so the first
/// `:` ends the source.
pub fn dedup_key(source: &Source, source_id: &SourceId) -> String {
    format!(
        "{}:{}",
        source.as_str().replace(':', "/"),
        source_id.as_str()
    )
}

/// Message text: Unicode NFC, the form keyword matching relies on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let text: String = raw.nfc().collect();
        if text.trim().is_empty() {
            return Err(TextError::Empty);
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(TextError::TooLong);
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextError {
    #[error("text is empty")]
    Empty,
    #[error("text is longer than {} characters", Text::MAX_CHARS)]
    TooLong,
}

/// A point on Earth, in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    lat: f64,
    lon: f64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoordinatesError {
    #[error("latitude must be between -90 and 90")]
    Latitude,
    #[error("longitude must be between -180 and 180")]
    Longitude,
}

impl Coordinates {
    pub fn new(lat: f64, lon: f64) -> Result<Self, CoordinatesError> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(CoordinatesError::Latitude);
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(CoordinatesError::Longitude);
        }
        Ok(Self { lat, lon })
    }
    pub fn lat(&self) -> f64 {
        self.lat
    }
    pub fn lon(&self) -> f64 {
        self.lon
    }
}

/// One part of a multipart SMS that the gateway did not join for us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePart {
    /// Identifies the parts of one message: sender, recipient and the
    /// gateway's concatenation reference (which alone is not unique).
    pub group: String,
    /// 1-based.
    pub index: u16,
    pub total: u16,
}

/// A report as accepted at the edge: checked, normalised, ready to queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncomingReport {
    pub id: ReportId,
    pub source: Source,
    pub source_id: SourceId,
    pub sender: Option<crate::phone::Sender>,
    pub sender_pseudonym: Option<String>,
    pub recipient: Option<String>,
    pub text: Text,
    pub sent_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub location: Option<Coordinates>,
    #[serde(default)]
    pub meta: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<MessagePart>,
}

impl IncomingReport {
    pub fn dedup_key(&self) -> String {
        dedup_key(&self.source, &self.source_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_normalised_to_nfc() {
        let decomposed = "chole\u{301}ra";
        assert_eq!(Text::parse(decomposed).unwrap().as_str(), "choléra");
    }

    #[test]
    fn blank_text_is_refused() {
        assert_eq!(Text::parse("  \n"), Err(TextError::Empty));
    }

    #[test]
    fn coordinates_out_of_range_are_refused() {
        assert_eq!(Coordinates::new(91.0, 0.0), Err(CoordinatesError::Latitude));
        assert_eq!(
            Coordinates::new(0.0, -181.0),
            Err(CoordinatesError::Longitude)
        );
        assert!(Coordinates::new(-1.29, 36.82).is_ok());
    }

    #[test]
    fn content_hash_ignores_seconds_but_not_text() {
        let src = Source::new("generic");
        let t1 = "2025-03-01T08:15:01Z".parse().ok();
        let t2 = "2025-03-01T08:15:59Z".parse().ok();
        let a = SourceId::content_hash(&src, "+254712345678", "22384", "flood", t1);
        let b = SourceId::content_hash(&src, "+254712345678", "22384", "flood", t2);
        let c = SourceId::content_hash(&src, "+254712345678", "22384", "floods", t1);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.as_str().starts_with("sha256:"));
    }

    #[test]
    fn report_ids_round_trip_and_sort_by_time() {
        let a = ReportId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = ReportId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<ReportId>().unwrap(), a);
    }
}
