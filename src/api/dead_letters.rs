//! `GET /v1/dead-letters`: what the worker (or, with `queue=alerts`, the
//! notifier) set aside and why, so that an operator sees it without a
//! broker console.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::queue::DeadLetter;

const MAX_LIMIT: u32 = 500;

#[derive(Deserialize)]
pub struct Params {
    limit: Option<String>,
    queue: Option<String>,
}

pub async fn list(
    req: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&req)?;
    let limit = super::parse_limit(params.limit.as_deref(), 50, MAX_LIMIT)?;
    let queue = match params.queue.as_deref() {
        None | Some("reports") => &state.queue,
        Some("alerts") => &state.alerts_queue,
        Some(_) => {
            return Err(crate::ingest::InboundError::invalid(
                "queue",
                "expected reports or alerts",
            )
            .into());
        }
    };
    let letters = queue.dead_letters(limit as usize).await?;
    let letters: Vec<Value> = letters.iter().map(describe).collect();
    Ok(HttpResponse::Ok().json(json!({ "dead_letters": letters })))
}

/// A letter that is a report shows as one; anything else as text.
fn describe(letter: &DeadLetter) -> Value {
    let payload = serde_json::from_slice::<Value>(&letter.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&letter.payload).into_owned()));
    json!({ "reason": letter.reason, "payload": payload })
}
