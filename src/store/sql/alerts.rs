//! Alerts: stored once, resolved once, and marked as published by the
//! outbox.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::types::Json;

use super::{PgStore, SqliteStore};
use crate::alert::delivery::Transition;
use crate::alert::{Alert, AlertDetails, AlertId, AlertState, RuleId, Severity};
use crate::store::{AlertQuery, AlertStore, Inserted, StoreError};

const SELECT_ALERTS: &str = "
SELECT id, rule_id, group_key, state, severity, fired_at, resolved_at, value, evidence,
       resolved_evidence, details, fired_published, resolved_published
FROM alerts";

macro_rules! alert_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl AlertStore for $store {
            async fn insert_alert(&self, alert: &Alert) -> Result<Inserted, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO alerts (id, rule_id, group_key, state, severity, fired_at,
                                         resolved_at, value, evidence, resolved_evidence, details)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(alert.id.to_string())
                .bind(alert.rule.as_str())
                .bind(&alert.group)
                .bind(alert.state.as_str())
                .bind(alert.severity.as_str())
                .bind(alert.fired_at)
                .bind(alert.resolved_at)
                .bind(alert.value)
                .bind(Json(&alert.evidence))
                .bind(alert.resolved_evidence.as_ref().map(Json))
                .bind(Json(&alert.details))
                .execute(&self.pool)
                .await?;
                Ok(if done.rows_affected() == 1 {
                    Inserted::New
                } else {
                    Inserted::Duplicate
                })
            }

            async fn resolve_alert(
                &self,
                id: &AlertId,
                at: DateTime<Utc>,
                evidence: &[String],
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE alerts SET state = 'resolved', resolved_at = $2, resolved_evidence = $3
                     WHERE id = $1 AND state = 'firing'",
                )
                .bind(id.to_string())
                .bind(at)
                .bind(Json(evidence))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn list_alerts(&self, query: &AlertQuery) -> Result<Vec<Alert>, StoreError> {
                let mut select = sqlx::QueryBuilder::<$db>::new(SELECT_ALERTS);
                select.push(" WHERE 1 = 1");
                if let Some(before) = &query.before {
                    select.push(" AND id < ").push_bind(before.as_str());
                }
                if let Some(state) = query.state {
                    select.push(" AND state = ").push_bind(state.as_str());
                }
                if let Some(rule) = &query.rule {
                    select.push(" AND rule_id = ").push_bind(rule.as_str());
                }
                select
                    .push(" ORDER BY id DESC LIMIT ")
                    .push_bind(i64::from(query.limit));
                let rows = select.build().fetch_all(&self.pool).await?;
                rows.iter().map(alert_of).collect()
            }

            async fn alert(&self, id: &AlertId) -> Result<Option<Alert>, StoreError> {
                let row = sqlx::query(&format!("{SELECT_ALERTS} WHERE id = $1"))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(alert_of).transpose()
            }

            async fn alerts_to_restore(
                &self,
                since: DateTime<Utc>,
            ) -> Result<Vec<Alert>, StoreError> {
                let rows = sqlx::query(&format!(
                    "{SELECT_ALERTS} WHERE state = 'firing' OR fired_at >= $1 ORDER BY id"
                ))
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(alert_of).collect()
            }

            async fn unpublished(
                &self,
                before: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<(Alert, Transition)>, StoreError> {
                let rows = sqlx::query(&format!(
                    "{SELECT_ALERTS}
                     WHERE (NOT fired_published AND fired_at <= $1)
                        OR (state = 'resolved' AND NOT resolved_published AND resolved_at <= $1)
                     ORDER BY fired_at LIMIT $2"
                ))
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                let mut owed = Vec::new();
                for row in &rows {
                    let alert = alert_of(row)?;
                    let fired_published: bool = row.try_get("fired_published")?;
                    let resolved_published: bool = row.try_get("resolved_published")?;
                    if !fired_published {
                        owed.push((alert.clone(), Transition::Fired));
                    }
                    if alert.state == AlertState::Resolved && !resolved_published {
                        owed.push((alert, Transition::Resolved));
                    }
                }
                Ok(owed)
            }

            async fn mark_published(
                &self,
                alert_id: &AlertId,
                transition: Transition,
            ) -> Result<(), StoreError> {
                let column = match transition {
                    Transition::Fired => "fired_published",
                    Transition::Resolved => "resolved_published",
                };
                sqlx::query(&format!("UPDATE alerts SET {column} = TRUE WHERE id = $1"))
                    .bind(alert_id.to_string())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

fn alert_of<R>(row: &R) -> Result<Alert, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> f64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> DateTime<Utc>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<DateTime<Utc>>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Json<Vec<String>>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<Json<Vec<String>>>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Json<AlertDetails>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let state: String = row.try_get("state")?;
    let id: String = row.try_get("id")?;
    let rule: String = row.try_get("rule_id")?;
    let severity: String = row.try_get("severity")?;
    let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("{what} {value:?}"));
    Ok(Alert {
        id: id.parse().map_err(|_| corrupt("alert id", &id))?,
        rule: RuleId::parse(&rule).map_err(|_| corrupt("rule id", &rule))?,
        group: row.try_get("group_key")?,
        state: AlertState::parse(&state).ok_or_else(|| corrupt("alert state", &state))?,
        severity: Severity::parse(&severity).ok_or_else(|| corrupt("severity", &severity))?,
        fired_at: row.try_get("fired_at")?,
        resolved_at: row.try_get("resolved_at")?,
        value: row.try_get("value")?,
        evidence: row.try_get::<Json<Vec<String>>, _>("evidence")?.0,
        resolved_evidence: row
            .try_get::<Option<Json<Vec<String>>>, _>("resolved_evidence")?
            .map(|j| j.0),
        details: row.try_get::<Json<AlertDetails>, _>("details")?.0,
    })
}

alert_store!(PgStore, sqlx::Postgres);
alert_store!(SqliteStore, sqlx::Sqlite);
