//! Why an inbound request was refused, and the HTTP answer each reason
//! gets: gateways and the report API answer alike.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::json;

/// Why an inbound request was refused. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("missing credentials: {0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("missing field")]
    MissingField(String),
    #[error("invalid field: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("invalid body: {0}")]
    InvalidBody(String),
    #[error("unsupported content type {0:?}")]
    UnsupportedMediaType(String),
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("body not received within {millis} ms")]
    BodyTimeout { millis: u64 },
    #[error("the report could not be made durable; retry later")]
    Unavailable,
}

impl InboundError {
    pub fn invalid(field: &str, reason: impl ToString) -> Self {
        Self::InvalidField {
            field: field.to_owned(),
            reason: reason.to_string(),
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Self::MissingField(f) | Self::InvalidField { field: f, .. } => Some(f),
            _ => None,
        }
    }
}

impl InboundError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::MissingField(_) | Self::InvalidField { .. } | Self::InvalidBody(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// `{"error": "...", "field": "..."}` with the error's status.
    pub fn json_response(&self) -> HttpResponse {
        let status = self.status();
        let mut reply = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            reply.insert_header(("Retry-After", "30"));
        }
        if status == StatusCode::UNAUTHORIZED {
            reply.insert_header(("WWW-Authenticate", "Bearer"));
        }
        reply.json(self.json_body())
    }

    pub fn json_body(&self) -> serde_json::Value {
        match self {
            Self::MissingField(field) => json!({"error": "missing field", "field": field}),
            Self::InvalidField { field, reason } => {
                json!({"error": "invalid field", "field": field, "reason": reason})
            }
            other => json!({"error": other.to_string()}),
        }
    }
}
