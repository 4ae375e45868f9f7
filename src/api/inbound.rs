//! `/v1/inbound/{gateway}`: verify, normalise, make durable, then answer
//! the way that gateway expects.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::json;

use super::AppState;
use crate::ingest::{BodyKind, Inbound, InboundError, InboundRequest};
use crate::report::Source;

pub async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let name = req
        .match_info()
        .get("gateway")
        .unwrap_or_default()
        .to_owned();
    let path_token = req.match_info().get("token").map(str::to_owned);
    let Some(gateway) = state.gateways.get(name.as_str()).cloned() else {
        return HttpResponse::NotFound().json(json!({
            "error": "gateway not configured",
            "gateway": name,
        }));
    };
    let body =
        match super::body::read(&req, payload, state.max_body_bytes, state.body_timeout).await {
            Ok(body) => body,
            Err(e) => return gateway.failure(&e),
        };
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let request = InboundRequest {
        method: req.method(),
        url: called_url(&req, state.public_url.as_deref()),
        query: req.query_string(),
        path_token: path_token.as_deref(),
        headers: req.headers(),
        content_type: BodyKind::from_header(content_type, body.is_empty()),
        body: &body,
        received_at: Utc::now(),
    };
    let messages = match gateway.accept(&request) {
        Ok(Inbound::Messages(messages)) => messages,
        Ok(Inbound::Poll(reply)) => return reply,
        Err(e) => {
            tracing::info!(gateway = gateway.name(), error = %e, "inbound request refused");
            return gateway.failure(&e);
        }
    };
    let source = Source::new(gateway.name());
    let reports: Result<Vec<_>, InboundError> = messages
        .into_iter()
        .map(|m| state.normalizer.report(&source, m, request.received_at))
        .collect();
    let reports = match reports {
        Ok(reports) => reports,
        Err(e) => return gateway.failure(&e),
    };
    if let Some(Err(e)) = state
        .enqueue(&reports)
        .await
        .into_iter()
        .find(Result::is_err)
    {
        return gateway.failure(&e);
    }
    gateway.success()
}

/// The URL the gateway called: our public base URL (proxies rewrite scheme
/// and host) and the path and query exactly as received.
fn called_url(req: &HttpRequest, public_url: Option<&str>) -> String {
    let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    match public_url {
        Some(base) => format!("{}{path_and_query}", base.trim_end_matches('/')),
        None => {
            let host = req
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}{path_and_query}")
        }
    }
}
