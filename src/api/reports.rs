//! `/v1/reports`: reports pushed by other systems, and the list of what
//! arrived.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::ingest::feed::{self, Feed, Item};
use crate::ingest::{BodyKind, InboundError};
use crate::store::ListQuery;

const MAX_LIMIT: u32 = 500;

pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(e) = state.authorize(&req) {
        return e.json_response();
    }
    let body =
        match super::body::read(&req, payload, state.max_body_bytes, state.body_timeout).await {
            Ok(body) => body,
            Err(e) => return e.json_response(),
        };
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let kind = BodyKind::from_header(content_type, body.is_empty());
    if matches!(kind, BodyKind::Form | BodyKind::Other) {
        return InboundError::UnsupportedMediaType(content_type.unwrap_or("none").to_owned())
            .json_response();
    }
    match feed::parse(kind, &body) {
        Err(e) => e.json_response(),
        Ok(Feed::One(item)) => {
            let mut results = accept(&state, vec![*item]).await;
            match results.remove(0) {
                (Ok(id), source_id) => HttpResponse::Accepted()
                    .json(json!({"status": "accepted", "id": id, "source_id": source_id})),
                (Err(e), _) => e.json_response(),
            }
        }
        Ok(Feed::Batch(items)) => batch_reply(accept(&state, items).await),
    }
}

type Outcome = (Result<String, InboundError>, Option<String>);

/// Normalises and enqueues the good items; each keeps its own outcome and
/// the source's id, so callers can match answers to what they sent.
async fn accept(state: &AppState, items: Vec<Item>) -> Vec<Outcome> {
    let received_at = Utc::now();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(items.len());
    let mut reports = Vec::new();
    let mut positions = Vec::new();
    for item in items {
        let normalized = item.and_then(|(source, message)| {
            let source_id = message.source_id.clone();
            state
                .normalizer
                .report(&source, message, received_at)
                .map(|r| (r, source_id))
        });
        match normalized {
            Ok((report, source_id)) => {
                positions.push(outcomes.len());
                outcomes.push((Ok(report.id.to_string()), source_id));
                reports.push(report);
            }
            Err(e) => outcomes.push((Err(e), None)),
        }
    }
    for (position, result) in positions.into_iter().zip(state.enqueue(&reports).await) {
        if let Err(e) = result {
            outcomes[position].0 = Err(e);
        }
    }
    outcomes
}

fn batch_reply(outcomes: Vec<Outcome>) -> HttpResponse {
    let accepted = outcomes.iter().filter(|(r, _)| r.is_ok()).count();
    let unavailable = outcomes
        .iter()
        .any(|(r, _)| matches!(r, Err(InboundError::Unavailable)));
    let results: Vec<_> = outcomes
        .iter()
        .enumerate()
        .map(|(index, (result, source_id))| match result {
            Ok(id) => {
                json!({"index": index, "status": "accepted", "id": id, "source_id": source_id})
            }
            Err(e) => {
                let mut body = e.json_body();
                body["index"] = index.into();
                body["status"] = "rejected".into();
                body
            }
        })
        .collect();
    let body = json!({
        "accepted": accepted,
        "rejected": outcomes.len() - accepted,
        "results": results,
    });
    if accepted == 0 && unavailable {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "30"))
            .json(body)
    } else if accepted == 0 && !outcomes.is_empty() {
        HttpResponse::BadRequest().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list(
    req: HttpRequest,
    params: web::Query<ListParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&req)?;
    let limit = super::parse_limit(params.limit.as_deref(), 50, MAX_LIMIT)?;
    let before = super::parse_cursor(params.cursor.as_deref())?;
    let reports = state
        .store
        .list_reports(&ListQuery { limit, before })
        .await
        .map_err(anyhow::Error::from)?;
    let next_cursor = (reports.len() == limit as usize)
        .then(|| reports.last().map(|r| r.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({"reports": reports, "next_cursor": next_cursor})))
}
