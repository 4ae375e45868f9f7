//! `GET /v1/alerts/{id}/cap`: an alert as an OASIS CAP 1.2 message, and
//! `GET /v1/alerts/cap`: an Atom feed of the latest ones, the form public
//! alerting systems and aggregators read.
//!
//! A CAP message may travel far beyond the people who run Ishara: it
//! carries places, counts and the rule, never what reporters wrote or who
//! they are.

use std::collections::{HashMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use super::AppState;
use super::error::ApiError;
use crate::alert::delivery::Transition;
use crate::alert::{Alert, AlertState};
use crate::cap::{self, CapAlert, CapArea, FeedEntry};
use crate::notify::context::{self, Inputs, MessageContext};
use crate::notify::templates::{Part, Templates};
use crate::store::{AlertQuery, StoredReport};

const FEED_SIZE: u32 = 50;
/// Reports whose places make an alert's circle: the latest ones.
const AREA_REPORTS: usize = 100;
/// A circle around a single place still covers the place, not a point.
const MIN_RADIUS_KM: f64 = 5.0;

pub async fn one(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let alert = super::alerts::stored(&state, &id).await?;
    let reports = area_reports(&state, std::slice::from_ref(&alert))
        .await?
        .pop()
        .unwrap_or_default();
    let message = Message::new(&state, &state.templates.current(), &alert, &reports);
    Ok(HttpResponse::Ok()
        .content_type(cap::CAP_MEDIA_TYPE)
        .body(cap::cap_xml(&message.cap(&state, &alert, &reports))))
}

pub async fn feed(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let alerts = state
        .store
        .list_alerts(&AlertQuery {
            limit: FEED_SIZE,
            ..AlertQuery::default()
        })
        .await
        .map_err(anyhow::Error::from)?;
    let reports = area_reports(&state, &alerts).await?;
    let templates = state.templates.current();
    let loaded: Vec<(Alert, Vec<StoredReport>, Message)> = alerts
        .into_iter()
        .zip(reports)
        .map(|(alert, reports)| {
            let message = Message::new(&state, &templates, &alert, &reports);
            (alert, reports, message)
        })
        .collect();
    let base = state.alert_base_url.trim_end_matches('/');
    let entries: Vec<FeedEntry> = loaded
        .iter()
        .map(|(alert, reports, message)| FeedEntry {
            alert: message.cap(&state, alert, reports),
            cap_url: format!("{base}/v1/alerts/{}/cap", alert.id),
        })
        .collect();
    let updated = entries
        .iter()
        .map(|e| e.alert.sent)
        .max()
        .unwrap_or_else(Utc::now);
    let body = cap::atom_feed(
        &format!("{base}/v1/alerts/cap"),
        "Ishara alerts",
        &format!("{base}/v1/alerts/cap"),
        updated,
        &entries,
    );
    Ok(HttpResponse::Ok()
        .content_type("application/atom+xml")
        .body(body))
}

fn authorize(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if state.cap.public {
        return Ok(());
    }
    Ok(state.authorize(req)?)
}

/// Each alert's latest evidence reports, read in one query for them all.
async fn area_reports(
    state: &AppState,
    alerts: &[Alert],
) -> Result<Vec<Vec<StoredReport>>, ApiError> {
    let latest = |alert: &'_ Alert| -> Vec<String> {
        alert
            .evidence
            .iter()
            .rev()
            .take(AREA_REPORTS)
            .cloned()
            .collect()
    };
    let ids: Vec<String> = alerts
        .iter()
        .flat_map(latest)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let found: HashMap<String, StoredReport> = state
        .store
        .reports_by_ids(&ids)
        .await
        .map_err(anyhow::Error::from)?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    Ok(alerts
        .iter()
        .map(|alert| {
            latest(alert)
                .iter()
                .filter_map(|id| found.get(id).cloned())
                .collect()
        })
        .collect())
}

/// The texts of one CAP message: the headline from the alert's templates,
/// the rest from the alert's facts.
struct Message {
    context: MessageContext,
    headline: String,
    description: String,
}

impl Message {
    fn new(
        state: &AppState,
        templates: &Templates,
        alert: &Alert,
        reports: &[StoredReport],
    ) -> Self {
        let transition = match alert.state {
            AlertState::Firing => Transition::Fired,
            AlertState::Resolved => Transition::Resolved,
        };
        let context = context::build(&Inputs {
            alert,
            transition,
            reports,
            public_url: &state.alert_base_url,
            channel: "cap",
            kind: "cap",
            show_phone_numbers: false,
        });
        let headline = templates.render(alert.details.template.as_deref(), Part::Subject, &context);
        let description = describe(&context);
        Self {
            context,
            headline,
            description,
        }
    }

    fn cap<'a>(
        &'a self,
        state: &'a AppState,
        alert: &'a Alert,
        reports: &[StoredReport],
    ) -> CapAlert<'a> {
        let c = &self.context;
        let mut geocodes = Vec::new();
        if !c.group.admin1.is_empty() {
            geocodes.push(("ishara:admin1", c.group.admin1.clone()));
        }
        if !c.group.country.is_empty() {
            geocodes.push(("ISO3166-1", c.group.country.clone()));
        }
        CapAlert {
            identifier: alert.id.as_str(),
            sender: &state.cap.sender,
            sent: alert.resolved_at.unwrap_or(alert.fired_at),
            resolved: alert.state == AlertState::Resolved,
            fired_at: alert.fired_at,
            status: &state.cap.status,
            event: alert
                .details
                .description
                .as_deref()
                .unwrap_or(alert.rule.as_str()),
            rule_id: alert.rule.as_str(),
            severity: alert.severity.as_str(),
            category: alert
                .details
                .labels
                .get("category")
                .map(String::as_str)
                .unwrap_or("Other"),
            headline: &self.headline,
            description: &self.description,
            web: Some(&c.alert.link),
            area: CapArea {
                description: if c.group.place.is_empty() {
                    "Area not determined"
                } else {
                    &c.group.place
                },
                circle: circle(reports),
                polygon: None,
                geocodes,
            },
            parameters: vec![
                ("ishara:rule", alert.rule.to_string()),
                ("ishara:group", alert.group.clone()),
                ("ishara:value", alert.value.to_string()),
                ("ishara:reports", alert.evidence.len().to_string()),
            ],
        }
    }
}

fn describe(c: &MessageContext) -> String {
    let mut text = format!("{} (measured: {}).", c.rule.condition, c.count);
    if c.reports.count > 0 {
        text.push_str(&format!(
            " {} reports from {} to {}.",
            c.reports.count, c.reports.first_at, c.reports.last_at
        ));
    }
    if c.alert.state == "resolved" {
        text.push_str(&format!(
            " Resolved at {}: the condition no longer holds.",
            c.alert.resolved_at
        ));
    }
    text
}

/// The circle around where the reports are from: their mean position and
/// the distance to the farthest; none when no report has a position.
fn circle(reports: &[StoredReport]) -> Option<(f64, f64, f64)> {
    let points: Vec<(f64, f64)> = reports.iter().filter_map(position).collect();
    if points.is_empty() {
        return None;
    }
    let n = points.len() as f64;
    let lat = points.iter().map(|p| p.0).sum::<f64>() / n;
    let lon = points.iter().map(|p| p.1).sum::<f64>() / n;
    let centre = geo::Point::new(lon, lat);
    let farthest_m = points
        .iter()
        .map(|(la, lo)| {
            use geo::Distance;
            geo::Haversine.distance(centre, geo::Point::new(*lo, *la))
        })
        .fold(0.0, f64::max);
    let radius_km = ((farthest_m / 1000.0) * 10.0).ceil() / 10.0;
    Some((lat, lon, radius_km.max(MIN_RADIUS_KM)))
}

/// Where a report was found to be about, else where it was sent from.
fn position(report: &StoredReport) -> Option<(f64, f64)> {
    report
        .place
        .as_ref()
        .and_then(|p| p.lat.zip(p.lon))
        .or(report.lat.zip(report.lon))
}
