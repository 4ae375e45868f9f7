//! `GET /v1/alerts`: what rules fired and resolved, with the reports that
//! made them; `GET /v1/rules`: the rules in force and the latest reload.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::alert::{Alert, AlertId, AlertState};
use crate::ingest::InboundError;
use crate::store::AlertQuery;

const MAX_LIMIT: u32 = 500;

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
    state: Option<String>,
    rule: Option<String>,
}

pub async fn list(
    req: HttpRequest,
    params: web::Query<ListParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&req)?;
    let limit = super::parse_limit(params.limit.as_deref(), 50, MAX_LIMIT)?;
    // Alert ids are ULIDs like report ids.
    let before = super::parse_cursor(params.cursor.as_deref())?.map(|id| id.to_string());
    let alert_state = params
        .state
        .as_deref()
        .map(|s| {
            AlertState::parse(s)
                .ok_or_else(|| InboundError::invalid("state", "expected firing or resolved"))
        })
        .transpose()?;
    let rule = params
        .rule
        .as_deref()
        .map(|r| {
            crate::rules::RuleId::parse(r)
                .map(|id| id.as_str().to_owned())
                .map_err(|e| InboundError::invalid("rule", e.to_string()))
        })
        .transpose()?;
    let alerts = state
        .store
        .list_alerts(&AlertQuery {
            limit,
            before,
            state: alert_state,
            rule,
        })
        .await
        .map_err(anyhow::Error::from)?;
    let next_cursor = (alerts.len() == limit as usize)
        .then(|| alerts.last().map(|a| a.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({"alerts": alerts, "next_cursor": next_cursor})))
}

pub async fn one(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&req)?;
    let alert = stored(&state, &id).await?;
    let attempts = state
        .store
        .attempts(&alert.id)
        .await
        .map_err(anyhow::Error::from)?;
    let mut body = serde_json::to_value(&alert).map_err(anyhow::Error::from)?;
    body["notifications"] = json!(attempts);
    Ok(HttpResponse::Ok().json(body))
}

/// The alert with this id, or a 404 naming what is missing.
pub(super) async fn stored(state: &AppState, id: &str) -> Result<Alert, ApiError> {
    // An id that is no alert id names no alert.
    let id: AlertId = id.parse().map_err(|_| ApiError::NotFound("alert"))?;
    state
        .store
        .alert(&id)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or(ApiError::NotFound("alert"))
}

pub async fn rules(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.authorize(&req)?;
    // An API-only process runs no rules: the workers do.
    let reloader = state.rules.as_ref().ok_or(ApiError::NotFound(
        "rules in this process (it runs no worker)",
    ))?;
    let book = reloader.engine().book();
    let rules: Vec<_> = book
        .rules()
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "description": rule.description,
                "file": rule.origin.file,
                "line": rule.origin.line,
                "severity": rule.severity,
                "group_by": rule.group_by,
                "notify": rule.notify,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"rules": rules, "reload": reloader.status()})))
}
