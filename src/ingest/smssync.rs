//! Ushahidi SMSSync, the Android gateway app ("SMSSync" in
//! `docs/gateways.md`; the Ushahidi SMSSync documentation,
//! http://smssync.ushahidi.com/developers/).
//! The app keeps an SMS pending until it reads `payload.success: true`, so
//! every answer, errors included, uses its envelope.

use actix_web::HttpResponse;
use actix_web::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{BodyKind, Gateway, Inbound, InboundError, InboundRequest, Message, Params};
use crate::config::SmsSyncConfig;
use crate::secret::matches_any;

pub struct SmsSync {
    secrets: Vec<String>,
    device_ids: Vec<String>,
}

impl SmsSync {
    pub fn new(config: &SmsSyncConfig) -> Self {
        Self {
            secrets: config.secret.all().into_iter().map(str::to_owned).collect(),
            device_ids: config.device_ids.clone(),
        }
    }

    fn check_secret(&self, given: Option<&str>) -> Result<(), InboundError> {
        let given = given
            .filter(|s| !s.is_empty())
            .ok_or(InboundError::Unauthenticated("secret"))?;
        if matches_any(given.as_bytes(), self.secrets.iter().map(String::as_str)) {
            Ok(())
        } else {
            Err(InboundError::Forbidden("secret does not match"))
        }
    }

    /// Task polling: the app asks for messages to send. Outbound SMS through
    /// the phone is not offered yet, so the lists are empty.
    fn task(&self, task: &str, query: &Params, method: &Method) -> Result<Inbound, InboundError> {
        self.check_secret(query.get("secret"))?;
        let body = match (task, method) {
            ("send", &Method::GET) => json!({"payload": {
                "task": "send",
                "secret": query.get("secret"),
                "messages": [],
            }}),
            ("sent", _) | ("result", &Method::GET) => json!({"message_uuids": []}),
            ("result", _) => json!({"payload": {"success": true, "error": null}}),
            _ => {
                return Err(InboundError::invalid(
                    "task",
                    "expected send, sent or result",
                ));
            }
        };
        Ok(Inbound::Poll(HttpResponse::Ok().json(body)))
    }
}

impl Gateway for SmsSync {
    fn name(&self) -> &'static str {
        "smssync"
    }

    fn accept(&self, req: &InboundRequest<'_>) -> Result<Inbound, InboundError> {
        let query = Params::from_urlencoded(req.query.as_bytes())?;
        if let Some(task) = query.get("task") {
            return self.task(task, &query, req.method);
        }
        let fields = match req.content_type {
            BodyKind::Form => Params::from_urlencoded(req.body)?,
            BodyKind::Json => Params::from_json_object(req.body)?,
            _ => return Err(InboundError::UnsupportedMediaType(req.content_type_name())),
        };
        self.check_secret(fields.get("secret"))?;
        let device_id = fields.get("device_id").unwrap_or_default();
        if !self.device_ids.is_empty() && !self.device_ids.iter().any(|d| d == device_id) {
            return Err(InboundError::Forbidden("device_id is not allowed"));
        }
        let from = fields.require("from")?;
        let message_id = fields.require("message_id")?;
        let sent_at = fields
            .non_empty("sent_timestamp")
            .map(parse_timestamp)
            .transpose()?;
        let mut meta = serde_json::Map::new();
        fields.copy_into(&["device_id", "sent_to"], &mut meta);
        Ok(Inbound::Messages(vec![Message {
            // A UUID the phone made; the device keeps two phones apart.
            source_id: Some(if device_id.is_empty() {
                message_id.to_owned()
            } else {
                format!("{device_id}:{message_id}")
            }),
            from: Some(from.to_owned()),
            to: fields.get("sent_to").map(str::to_owned),
            text: fields.get("message").unwrap_or_default().to_owned(),
            text_field: "message",
            sent_at,
            meta,
            ..Default::default()
        }]))
    }

    fn success(&self) -> HttpResponse {
        HttpResponse::Ok().json(json!({"payload": {"success": true, "error": null}}))
    }

    fn failure(&self, error: &InboundError) -> HttpResponse {
        let status = error.status();
        let reason = match error.field() {
            Some(field) => format!("{error}: {field}"),
            None => error.to_string(),
        };
        let mut reply = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            reply.insert_header(("Retry-After", "30"));
        }
        reply.json(json!({"payload": {"success": false, "error": reason}}))
    }
}

/// The app sends milliseconds (`Date.getTime()`); its website says seconds.
/// Values below 10^11 cannot be milliseconds of any date after 1973.
fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, InboundError> {
    let n: i64 = raw
        .trim()
        .parse()
        .map_err(|_| InboundError::invalid("sent_timestamp", "expected milliseconds since 1970"))?;
    let out_of_range = || InboundError::invalid("sent_timestamp", "out of range");
    // A large negative number in seconds would overflow as milliseconds.
    let millis = if n < 100_000_000_000 {
        n.checked_mul(1000).ok_or_else(out_of_range)?
    } else {
        n
    };
    DateTime::from_timestamp_millis(millis).ok_or_else(out_of_range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_too_far_back_is_out_of_range_not_an_overflow() {
        // Found by fuzzing: seconds times 1,000 overflowed i64.
        let err = parse_timestamp("-9223372036854775808").unwrap_err();
        assert_eq!(err.field(), Some("sent_timestamp"), "{err}");
    }

    #[test]
    fn timestamps_in_milliseconds_or_seconds() {
        let ms = parse_timestamp("1740816930000").unwrap();
        let s = parse_timestamp("1740816930").unwrap();
        assert_eq!(ms, s);
        assert_eq!(ms.to_rfc3339(), "2025-03-01T08:15:30+00:00");
        assert!(parse_timestamp("soon").is_err());
    }
}
