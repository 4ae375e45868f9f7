//! Every error answers with a status and a JSON body naming the problem.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::ingest::InboundError;

pub fn status_of(error: &InboundError) -> StatusCode {
    match error {
        InboundError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        InboundError::Forbidden(_) => StatusCode::FORBIDDEN,
        InboundError::MissingField(_)
        | InboundError::InvalidField { .. }
        | InboundError::InvalidBody(_) => StatusCode::BAD_REQUEST,
        InboundError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        InboundError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        InboundError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
        InboundError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// `{"error": "...", "field": "..."}` with the error's status.
pub fn json_error(error: &InboundError) -> HttpResponse {
    let status = status_of(error);
    let mut reply = HttpResponse::build(status);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        reply.insert_header(("Retry-After", "30"));
    }
    if status == StatusCode::UNAUTHORIZED {
        reply.insert_header(("WWW-Authenticate", "Bearer"));
    }
    reply.json(error_body(error))
}

pub fn error_body(error: &InboundError) -> serde_json::Value {
    match error {
        InboundError::MissingField(field) => json!({"error": "missing field", "field": field}),
        InboundError::InvalidField { field, reason } => {
            json!({"error": "invalid field", "field": field, "reason": reason})
        }
        other => json!({"error": other.to_string()}),
    }
}

/// Errors of the read API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Inbound(#[from] InboundError),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Inbound(e) => status_of(e),
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Inbound(e) => json_error(e),
            ApiError::NotFound(_) => {
                HttpResponse::NotFound().json(json!({"error": self.to_string()}))
            }
            ApiError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "request failed");
                HttpResponse::ServiceUnavailable()
                    .insert_header(("Retry-After", "5"))
                    .json(json!({"error": "temporarily unavailable"}))
            }
        }
    }
}
