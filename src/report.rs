//! Domain types of a report, built at the edge so the core never handles
//! unchecked strings.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use ulid::Ulid;
use unicode_normalization::UnicodeNormalization;

/// Our own id of a report: a ULID, so ids sort by the time we received them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReportId(Ulid);

static GENERATOR: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());

/// A ULID monotonic within this process, so two made in the same
/// millisecond still sort in the order they were made. Overflow within one
/// millisecond (2^80 ids) falls back to random.
pub(crate) fn monotonic_ulid() -> Ulid {
    match GENERATOR.lock().map(|mut g| g.generate()) {
        Ok(Ok(id)) => id,
        _ => Ulid::new(),
    }
}

impl ReportId {
    /// Reports received in the same millisecond list in the order they
    /// arrived.
    pub fn new() -> Self {
        Self(monotonic_ulid())
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
///
/// Read back from the queue through the same checks as every other domain
/// value: another producer on the queue is outside input too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Source(String);

impl Source {
    pub fn new(name: &str) -> Self {
        Self(name.to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Source {
    type Error = FieldError;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        // `/` is what `dedup_key` writes for a feed's colon.
        if name.is_empty() || name.len() > 200 || name.contains(['\0', '/']) {
            return Err(FieldError(
                "source must be 1 to 200 characters without NUL or `/`",
            ));
        }
        Ok(Self(name))
    }
}

impl From<Source> for String {
    fn from(source: Source) -> Self {
        source.0
    }
}

/// A field of a queued report that no edge would have let through.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct FieldError(&'static str);

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The source's own id of a message: what makes a retry recognisable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceId(String);

impl TryFrom<String> for SourceId {
    type Error = FieldError;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        match Self::given(&id) {
            Some(given) if given.0 == id && !id.contains('\0') => Ok(given),
            _ => Err(FieldError(
                "source_id must be 1 to 200 bytes, trimmed, without NUL",
            )),
        }
    }
}

impl From<SourceId> for String {
    fn from(id: SourceId) -> Self {
        id.0
    }
}

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
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl TryFrom<String> for Text {
    type Error = TextError;
    /// What the queue hands back was normalised at the edge: checked in
    /// place, not copied, unless it is not NFC after all.
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        if unicode_normalization::is_nfc(&raw) {
            Self::checked(raw)
        } else {
            Self::parse(&raw)
        }
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.0
    }
}

impl Text {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        Self::checked(raw.nfc().collect())
    }

    fn checked(text: String) -> Result<Self, TextError> {
        // PostgreSQL cannot store NUL in text: refused here, not
        // dead-lettered after the sender was told it was accepted.
        if text.contains('\0') {
            return Err(TextError::Nul);
        }
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
    #[error("text holds a NUL character")]
    Nul,
}

/// A report's free-form metadata: a JSON object with no NUL character in
/// any key or string, at any depth, since PostgreSQL's `jsonb` refuses one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>", into = "Map<String, Value>")]
pub struct Meta(Map<String, Value>);

/// Where in a JSON object a NUL character is: `meta.a.b[1]`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{reason}")]
pub struct NulError {
    pub path: String,
    pub reason: &'static str,
}

impl Meta {
    pub fn parse(map: Map<String, Value>) -> Result<Self, NulError> {
        refuse_nul("meta", &map)?;
        Ok(Self(map))
    }
}

/// Refuses a NUL character in any key or string of `map`, naming where it
/// is under `prefix` ("" for the top level).
pub fn refuse_nul(prefix: &str, map: &Map<String, Value>) -> Result<(), NulError> {
    let mut path = prefix.to_owned();
    map.iter()
        .try_for_each(|(k, v)| nul_in_entry(&mut path, k, v))
}

fn nul_in_entry(path: &mut String, key: &str, value: &Value) -> Result<(), NulError> {
    if key.contains('\0') {
        return Err(NulError {
            path: if path.is_empty() {
                "body".into()
            } else {
                path.clone()
            },
            reason: "a key holds a NUL character",
        });
    }
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    let found = nul_in_value(path, value);
    path.truncate(len);
    found
}

fn nul_in_value(path: &mut String, value: &Value) -> Result<(), NulError> {
    match value {
        Value::String(s) if s.contains('\0') => Err(NulError {
            // A top-level key may be empty; the error still names a field.
            path: if path.is_empty() {
                "body".into()
            } else {
                path.clone()
            },
            reason: "holds a NUL character",
        }),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = nul_in_value(path, item);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| nul_in_entry(path, k, v)),
        _ => Ok(()),
    }
}

impl TryFrom<Map<String, Value>> for Meta {
    type Error = NulError;
    fn try_from(map: Map<String, Value>) -> Result<Self, NulError> {
        Self::parse(map)
    }
}

impl From<Meta> for Map<String, Value> {
    fn from(meta: Meta) -> Self {
        meta.0
    }
}

impl std::ops::Deref for Meta {
    type Target = Map<String, Value>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Meta {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A point on Earth, in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCoordinates")]
pub struct Coordinates {
    lat: f64,
    lon: f64,
}

/// Coordinates as read from the queue, before the range check.
#[derive(Deserialize)]
struct RawCoordinates {
    lat: f64,
    lon: f64,
}

impl TryFrom<RawCoordinates> for Coordinates {
    type Error = CoordinatesError;
    fn try_from(raw: RawCoordinates) -> Result<Self, Self::Error> {
        Self::new(raw.lat, raw.lon)
    }
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
    pub meta: Meta,
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
    fn coordinates_come_back_from_json_bit_for_bit() {
        // Found by fuzzing: without serde_json's `float_roundtrip` this
        // latitude came back one unit in the last place off.
        let at = Coordinates::new(-0.45324444444444445, 36.81667).unwrap();
        let json = serde_json::to_string(&at).unwrap();
        let back: Coordinates = serde_json::from_str(&json).unwrap();
        assert_eq!(back.lat().to_bits(), at.lat().to_bits(), "{json}");
    }

    #[test]
    fn a_queued_report_is_read_through_the_same_checks_as_at_the_edge() {
        let text = |s: &str| serde_json::from_value::<Text>(Value::String(s.into()));
        assert!(text("Flood").is_ok());
        for bad in ["", "  ", "a\0b"] {
            assert!(text(bad).is_err(), "{bad:?}");
        }
        let id = |s: &str| serde_json::from_value::<SourceId>(Value::String(s.into()));
        assert!(id("SM123").is_ok());
        for bad in ["", " x", "a\0b", &"x".repeat(201)] {
            assert!(id(bad).is_err(), "{bad:?}");
        }
        let source = |s: &str| serde_json::from_value::<Source>(Value::String(s.into()));
        assert!(source("feed:kobo").is_ok());
        for bad in ["", "feed/kobo", "a\0"] {
            assert!(source(bad).is_err(), "{bad:?}");
        }
        let at = |v: Value| serde_json::from_value::<Coordinates>(v);
        assert!(at(serde_json::json!({"lat": -1.2, "lon": 36.8})).is_ok());
        assert!(at(serde_json::json!({"lat": 91.0, "lon": 0.0})).is_err());
        assert!(at(serde_json::json!({"lat": 0.0, "lon": -180.5})).is_err());
    }

    #[test]
    fn text_is_normalised_to_nfc() {
        let decomposed = "chole\u{301}ra";
        assert_eq!(Text::parse(decomposed).unwrap().as_str(), "choléra");
    }

    #[test]
    fn nul_is_refused_in_text_and_anywhere_in_meta() {
        assert_eq!(Text::parse("a\0b"), Err(TextError::Nul));
        let meta = |v: Value| Meta::parse(v.as_object().unwrap().clone());
        let deep = meta(serde_json::json!({"a": {"b": ["ok", "x\u{0}"]}}));
        assert_eq!(deep.unwrap_err().path, "meta.a.b[1]");
        let key = meta(serde_json::json!({"a": {"k\u{0}": 1}}));
        assert_eq!(key.unwrap_err().path, "meta.a");
        assert!(meta(serde_json::json!({"a": [1, {"b": "fine"}]})).is_ok());
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
