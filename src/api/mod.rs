//! The HTTP API: gateway webhooks, the report feed and the read API.

mod alerts;
pub mod body;
mod cap;
mod dead_letters;
pub mod error;
mod inbound;
mod reports;

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::future::join_all;

use crate::ingest::{Gateway, InboundError, Normalizer};
use crate::queue::MessageQueue;
use crate::report::IncomingReport;
use crate::store::Store;

/// Reports of one request published at once; see [`AppState::enqueue`].
const ENQUEUE_CHUNK: usize = 256;

/// What every request handler shares.
pub struct AppState {
    pub queue: Arc<dyn MessageQueue>,
    pub store: Arc<dyn Store>,
    pub gateways: HashMap<&'static str, Arc<dyn Gateway>>,
    pub normalizer: Normalizer,
    pub api_token: String,
    /// The base URL gateways call, for URL-signed webhooks.
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    /// The whole body must arrive within this.
    pub body_timeout: std::time::Duration,
    /// The rules in force, where this process runs a worker.
    pub rules: Option<Arc<crate::reload::Reloader>>,
    /// Where alerts wait for notifiers; its dead letters are shown too.
    pub alerts_queue: Arc<dyn MessageQueue>,
    pub templates: Arc<crate::notify::templates::LiveTemplates>,
    pub cap: CapSettings,
    /// `http.public_url`, or the listen address: links in CAP and feeds.
    pub alert_base_url: String,
}

/// What CAP messages say of their sender, and who may read them.
#[derive(Debug, Clone)]
pub struct CapSettings {
    pub sender: String,
    pub status: String,
    /// Readable without the API token.
    pub public: bool,
}

impl AppState {
    /// Makes every report durable; `Ok` only once all of them are.
    ///
    /// A chunk at a time: a large batch never has more than
    /// [`ENQUEUE_CHUNK`] publishes waiting, so a webhook that arrives
    /// meanwhile waits behind one chunk rather than the whole batch, and
    /// only one chunk's payloads are held at once.
    pub async fn enqueue(&self, reports: &[IncomingReport]) -> Vec<Result<(), InboundError>> {
        let mut results = Vec::with_capacity(reports.len());
        for chunk in reports.chunks(ENQUEUE_CHUNK) {
            results.extend(join_all(chunk.iter().map(|report| self.enqueue_one(report))).await);
        }
        results
    }

    async fn enqueue_one(&self, report: &IncomingReport) -> Result<(), InboundError> {
        let payload = crate::queue::codec::encode_report(report);
        self.queue.publish(&payload).await.map_err(|e| {
            tracing::error!(error = %e, id = %report.id, "report not durable");
            InboundError::Unavailable
        })?;
        tracing::info!(
            id = %report.id,
            source = %report.source,
            sender = report.sender_pseudonym.as_deref().unwrap_or("-"),
            "report accepted"
        );
        Ok(())
    }

    /// Checks the bootstrap admin bearer token in constant time.
    pub fn authorize(&self, req: &HttpRequest) -> Result<(), InboundError> {
        let token = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(InboundError::Unauthenticated("Authorization: Bearer token"))?;
        if crate::secret::constant_time_eq(token.trim().as_bytes(), self.api_token.as_bytes()) {
            Ok(())
        } else {
            Err(InboundError::Forbidden("token is not valid"))
        }
    }
}

/// A page size from `?limit=`: `default` when absent, else 1 to `max`.
fn parse_limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, InboundError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| InboundError::invalid("limit", format!("expected 1 to {max}"))),
    }
}

/// A page cursor from `?cursor=`: the last id of the previous page.
fn parse_cursor(raw: Option<&str>) -> Result<Option<crate::report::ReportId>, InboundError> {
    raw.map(str::parse)
        .transpose()
        .map_err(|_| InboundError::invalid("cursor", "not a cursor from a previous page"))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .service(
            web::resource(["/v1/inbound/{gateway}", "/v1/inbound/{gateway}/{token}"])
                .route(web::post().to(inbound::handle))
                .route(web::get().to(inbound::handle)),
        )
        .service(
            web::resource("/v1/reports")
                .route(web::post().to(reports::create))
                .route(web::get().to(reports::list)),
        )
        .route("/v1/dead-letters", web::get().to(dead_letters::list))
        .route("/v1/alerts", web::get().to(alerts::list))
        // Before `{id}`: `cap` is not an alert id.
        .route("/v1/alerts/cap", web::get().to(cap::feed))
        .route("/v1/alerts/{id}", web::get().to(alerts::one))
        .route("/v1/alerts/{id}/cap", web::get().to(cap::one))
        .route("/v1/rules", web::get().to(alerts::rules))
        .default_service(web::to(not_found));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "no such endpoint",
        "path": req.path(),
    }))
}
