//! Every error answers with a status and a JSON body naming the problem.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::ingest::InboundError;

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
            ApiError::Inbound(e) => e.status(),
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Inbound(e) => e.json_response(),
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
