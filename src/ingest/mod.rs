//! The front door: one module per SMS gateway behind [`Gateway`], and the
//! report feed. Each turns a raw HTTP request into checked
//! [`IncomingReport`]s; nothing here touches the queue.

pub mod africastalking;
mod error;
pub mod feed;
pub mod generic;
mod params;
pub mod smssync;
pub mod twilio;
pub mod vonage;

use actix_web::HttpResponse;
use actix_web::http::header::HeaderMap;
use chrono::{DateTime, Utc};

pub use error::InboundError;
pub use params::Params;

use crate::phone::PhoneNormalizer;
use crate::report::{
    Coordinates, IncomingReport, MessagePart, Meta, ReportId, Source, SourceId, Text, TextError,
};

/// The parts of an HTTP request a gateway needs, read once by the API.
pub struct InboundRequest<'a> {
    pub method: &'a actix_web::http::Method,
    /// The URL as the gateway called it: the configured public base URL
    /// plus the raw path and query, byte for byte.
    pub url: String,
    pub query: &'a str,
    /// A token given as the last path segment (`/v1/inbound/at/{token}`).
    pub path_token: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub content_type: BodyKind,
    pub body: &'a [u8],
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Empty,
    Form,
    Json,
    NdJson,
    GeoJson,
    Other,
}

impl BodyKind {
    pub fn from_header(content_type: Option<&str>, body_is_empty: bool) -> Self {
        let Some(ct) = content_type else {
            return if body_is_empty {
                Self::Empty
            } else {
                Self::Other
            };
        };
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-www-form-urlencoded" => Self::Form,
            "application/json" | "text/json" => Self::Json,
            "application/x-ndjson" | "application/jsonl" | "application/jsonlines" => Self::NdJson,
            "application/geo+json" => Self::GeoJson,
            "" if body_is_empty => Self::Empty,
            _ => Self::Other,
        }
    }
}

impl InboundRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type_name(&self) -> String {
        self.header("content-type").unwrap_or("none").to_owned()
    }

    /// The URL token of gateways that cannot sign: `?token=` or last segment.
    pub fn url_token(&self) -> Option<String> {
        self.path_token.map(str::to_owned).or_else(|| {
            form_urlencoded::parse(self.query.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        })
    }
}

/// What a gateway does with a request: check it, then read its messages.
pub trait Gateway: Send + Sync {
    fn name(&self) -> &'static str;

    /// Authenticates and parses, in that order: nothing is read from a
    /// request whose signature does not hold.
    fn accept(&self, request: &InboundRequest<'_>) -> Result<Inbound, InboundError>;

    /// The reply this gateway expects once every message is durable.
    fn success(&self) -> HttpResponse;

    /// The reply on error; most gateways take the common JSON error.
    fn failure(&self, error: &InboundError) -> HttpResponse {
        error.json_response()
    }
}

/// What a gateway request carries: messages to queue, or a question the
/// gateway asks (SMSSync's task polling) that needs no queueing.
pub enum Inbound {
    Messages(Vec<Message>),
    Poll(HttpResponse),
}

/// One message as a gateway or feed gave it, before normalisation.
#[derive(Debug, Default)]
pub struct Message {
    pub source_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub text: String,
    /// The name of the text field in this gateway's format, for errors.
    pub text_field: &'static str,
    pub sent_at: Option<DateTime<Utc>>,
    pub location: Option<Coordinates>,
    pub meta: serde_json::Map<String, serde_json::Value>,
    pub part: Option<MessagePart>,
}

/// Turns gateway messages into reports: E.164 senders, NFC text,
/// pseudonyms, our id.
#[derive(Clone)]
pub struct Normalizer {
    phones: PhoneNormalizer,
    pseudonym_key: Vec<u8>,
}

impl Normalizer {
    pub fn new(phones: PhoneNormalizer, pseudonym_key: Vec<u8>) -> Self {
        Self {
            phones,
            pseudonym_key,
        }
    }

    pub fn report(
        &self,
        source: &Source,
        message: Message,
        received_at: DateTime<Utc>,
    ) -> Result<IncomingReport, InboundError> {
        let text = Text::parse(&message.text).map_err(|e| match e {
            TextError::Empty => InboundError::MissingField(message.text_field.to_owned()),
            TextError::TooLong | TextError::Nul => InboundError::invalid(message.text_field, e),
        })?;
        let mut meta =
            Meta::parse(message.meta).map_err(|e| InboundError::invalid(&e.path, e.reason))?;
        let sender = message
            .from
            .as_deref()
            .map(|raw| self.phones.normalize(raw));
        let source_id = match message.source_id.as_deref().and_then(SourceId::given) {
            Some(id) => id,
            None => SourceId::content_hash(
                source,
                sender.as_ref().map_or("", |s| s.value.as_str()),
                message.to.as_deref().unwrap_or(""),
                text.as_str(),
                // Without a send time, retries are recognised within the
                // minute we received them, rather than merging identical
                // texts sent days apart.
                message.sent_at.or(Some(received_at)),
            ),
        };
        if let Some(channel) = sender.as_ref().and_then(|s| s.channel.clone()) {
            meta.insert("channel".into(), channel.into());
        }
        Ok(IncomingReport {
            id: ReportId::new(),
            source: source.clone(),
            source_id,
            sender_pseudonym: sender.as_ref().map(|s| self.pseudonym(&s.value)),
            sender,
            recipient: message.to.filter(|t| !t.is_empty()),
            text,
            sent_at: message.sent_at,
            received_at,
            location: message.location,
            meta,
            part: message.part,
        })
    }

    /// A keyed hash: stable per sender, so counts of distinct senders and
    /// logs work without the number.
    pub fn pseudonym(&self, sender: &str) -> String {
        crate::secret::pseudonym(&self.pseudonym_key, sender)
    }
}

/// Parses the time formats gateways send: RFC 3339, or `YYYY-MM-DD
/// HH:MM:SS` in UTC.
pub fn parse_gateway_time(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|fmt| chrono::NaiveDateTime::parse_from_str(value, fmt).ok())
    .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer() -> Normalizer {
        Normalizer::new(PhoneNormalizer::new(Some("KE")).unwrap(), b"k".to_vec())
    }

    #[test]
    fn gateway_times_parse_in_utc() {
        let t = parse_gateway_time("2025-03-01 08:15:30").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-03-01T08:15:30+00:00");
        let t = parse_gateway_time("2025-03-01T08:15:30.000+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-03-01T08:15:30+00:00");
        let t = parse_gateway_time("2025-03-01T11:15:30+03:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-03-01T08:15:30+00:00");
        assert!(parse_gateway_time("yesterday").is_none());
    }

    #[test]
    fn pseudonyms_are_stable_and_hide_the_number() {
        let n = normalizer();
        let p = n.pseudonym("+254712345678");
        assert_eq!(p, n.pseudonym("+254712345678"));
        assert_ne!(p, n.pseudonym("+254712345679"));
        assert!(!p.contains("712345678"));
    }

    #[test]
    fn message_without_id_gets_a_content_hash() {
        let n = normalizer();
        let msg = || Message {
            from: Some("0712345678".into()),
            text: "Maji yamefika".into(),
            text_field: "text",
            ..Default::default()
        };
        let a = n
            .report(&Source::new("generic"), msg(), Utc::now())
            .unwrap();
        let b = n
            .report(&Source::new("generic"), msg(), Utc::now())
            .unwrap();
        assert_eq!(a.source_id, b.source_id);
        assert_ne!(a.id, b.id);
        assert_eq!(a.sender.unwrap().value, "+254712345678");
    }

    #[test]
    fn empty_text_names_the_gateway_field() {
        let n = normalizer();
        let msg = Message {
            text: " ".into(),
            text_field: "Body",
            ..Default::default()
        };
        let err = n
            .report(&Source::new("twilio"), msg, Utc::now())
            .unwrap_err();
        assert_eq!(err.field(), Some("Body"));
    }
}
