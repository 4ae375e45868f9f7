//! `GET /v1/dead-letters`: what the worker (or, with `queue=alerts`, the
//! notifier) set aside and why, so that an operator sees it without a
//! broker console.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::queue::{DeadLetter, batch};

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

/// A letter that is a report shows as one; a grouped message the broker
/// gave up on (see [`batch`]) as its reports; anything else as text.
fn describe(letter: &DeadLetter) -> Value {
    if let Ok(payload) = serde_json::from_slice::<Value>(&letter.payload) {
        return json!({ "reason": letter.reason, "payload": payload });
    }
    if let Some(payloads) = grouped_json(&letter.payload) {
        return json!({ "reason": letter.reason, "payloads": payloads });
    }
    let text = String::from_utf8_lossy(&letter.payload);
    json!({ "reason": letter.reason, "payload": text })
}

fn grouped_json(body: &[u8]) -> Option<Vec<Value>> {
    batch::decode(body)
        .ok()?
        .into_iter()
        .map(|payload| serde_json::from_slice(payload).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(payload: Vec<u8>) -> DeadLetter {
        DeadLetter {
            payload,
            reason: "x-death".into(),
        }
    }

    #[test]
    fn a_report_a_grouped_message_and_text_each_show_as_what_they_are() {
        let report = br#"{"source_id":"sms-1"}"#.to_vec();
        assert_eq!(
            describe(&letter(report.clone()))["payload"]["source_id"],
            "sms-1"
        );
        let grouped = batch::encode(&[report.as_slice(), br#"{"source_id":"sms-2"}"#]);
        let shown = describe(&letter(grouped));
        assert_eq!(shown["payloads"][1]["source_id"], "sms-2", "{shown}");
        assert_eq!(
            describe(&letter(b"not json".to_vec()))["payload"],
            "not json"
        );
    }
}
