//! The SQL store, written once for PostgreSQL and SQLite: the statements
//! are the same (`$n` placeholders, `ON CONFLICT DO NOTHING`), the macro
//! only changes the pool type and the migrations.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;

use std::collections::{HashMap, HashSet};

use super::{AlertQuery, Inserted, ListQuery, Store, StoreError, StoredReport};
use crate::alert::delivery::{
    Attempt, AttemptStatus, NotificationClaim, NotificationKey, Transition,
};
use crate::alert::{Alert, AlertDetails, AlertState};
use crate::enrich::language::LanguageCode;
use crate::enrich::locate::{PlaceKind, PlaceMethod};
use crate::enrich::{EnrichedReport, LanguageGuess, PlaceGuess};
use crate::phone::SenderKind;
use crate::report::IncomingReport;

const INSERT_REPORTS: &str = "
INSERT INTO reports (id, dedup_key, source, source_id, sender, sender_kind, sender_pseudonym,
                     recipient, text, sent_at, received_at, stored_at, lat, lon, meta,
                     language, language_confidence, place_method, place_id, place_name,
                     place_country, admin1_code, admin1_name, place_lat, place_lon,
                     place_confidence) ";

/// Only the rows actually inserted come back: the rest were duplicates.
const ON_CONFLICT: &str = " ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key";

const SELECT_REPORTS: &str = "
SELECT id, source, source_id, sender, sender_kind, sender_pseudonym, recipient, text,
       sent_at, received_at, stored_at, lat, lon, meta,
       language, language_confidence, place_method, place_id, place_name, place_country,
       admin1_code, admin1_name, place_lat, place_lon, place_confidence
FROM reports";

const SELECT_ALERTS: &str = "
SELECT id, rule_id, group_key, state, severity, fired_at, resolved_at, value, evidence,
       resolved_evidence, details, fired_published, resolved_published
FROM alerts";

const SELECT_ATTEMPTS: &str = "
SELECT transition, channel, kind, recipient, attempt, status, error, provider_id, at
FROM notification_attempts WHERE alert_id = $1 ORDER BY id";

/// Maps the keys the database inserted back onto the batch: the first
/// occurrence of an inserted key is new, everything else a duplicate.
/// Reports per INSERT statement. Each binds 26 values, so a statement
/// stays under SQLite's 32,766 and PostgreSQL's 65,535 parameters however
/// many reports a worker's batch holds (grouped messages carry many).
/// Storing is idempotent, so a batch cut into statements needs no
/// transaction around them.
const ROWS_PER_INSERT: usize = 1000;

fn outcomes(batch: &[EnrichedReport], inserted: Vec<String>) -> Vec<Inserted> {
    let mut inserted: HashSet<String> = inserted.into_iter().collect();
    batch
        .iter()
        .map(|e| {
            if inserted.remove(&e.report.dedup_key()) {
                Inserted::New
            } else {
                Inserted::Duplicate
            }
        })
        .collect()
}

fn place_method(method: PlaceMethod) -> &'static str {
    match method {
        PlaceMethod::Coordinates => "coordinates",
        PlaceMethod::Text => "text",
        PlaceMethod::SenderCountry => "sender_country",
        PlaceMethod::None => "none",
    }
}

fn parse_place_method(method: &str) -> Result<PlaceMethod, sqlx::Error> {
    Ok(match method {
        "coordinates" => PlaceMethod::Coordinates,
        "text" => PlaceMethod::Text,
        "sender_country" => PlaceMethod::SenderCountry,
        "none" => PlaceMethod::None,
        other => {
            return Err(sqlx::Error::Decode(
                format!("unknown place_method {other:?}").into(),
            ));
        }
    })
}

fn sender_kind(kind: SenderKind) -> &'static str {
    match kind {
        SenderKind::E164 => "e164",
        SenderKind::ShortCode => "short_code",
        SenderKind::Alphanumeric => "alphanumeric",
        SenderKind::Invalid => "invalid",
    }
}

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    async fn run_migrations(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A report is acknowledged to the queue after its commit: the
            // commit must survive power loss.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    async fn run_migrations(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

impl PgStore {
    /// One statement whatever the number of keys, so its plan is prepared
    /// once and uses the unique index.
    async fn ids_by_dedup_key(
        &self,
        dedup_keys: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT dedup_key, id FROM reports WHERE dedup_key = ANY($1)")
                .bind(dedup_keys)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }
}

impl PgStore {
    async fn select_reports_by_ids(&self, ids: &[String]) -> Result<Vec<StoredReport>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT_REPORTS} WHERE id = ANY($1)"))
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(stored_report).collect::<Result<_, _>>()?)
    }
}

impl SqliteStore {
    async fn select_reports_by_ids(&self, ids: &[String]) -> Result<Vec<StoredReport>, StoreError> {
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(SELECT_REPORTS);
        query.push(" WHERE id IN (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(id.as_str());
        }
        query.push(")");
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stored_report).collect::<Result<_, _>>()?)
    }

    async fn ids_by_dedup_key(
        &self,
        dedup_keys: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT dedup_key, id FROM reports WHERE dedup_key IN (",
        );
        let mut keys = query.separated(", ");
        for key in dedup_keys {
            keys.push_bind(key.as_str());
        }
        query.push(")");
        let rows: Vec<(String, String)> = query.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows.into_iter().collect())
    }
}

macro_rules! sql_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// One multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING
            /// dedup_key`.
            fn insert_query(batch: &[EnrichedReport]) -> sqlx::QueryBuilder<'_, $db> {
                let mut insert = sqlx::QueryBuilder::<$db>::new(INSERT_REPORTS);
                insert.push_values(batch, |mut row, e| {
                    bind_report!(row, e);
                });
                insert.push(ON_CONFLICT);
                insert
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> anyhow::Result<()> {
                self.run_migrations().await
            }

            async fn insert_reports(
                &self,
                batch: &[EnrichedReport],
            ) -> Result<Vec<Inserted>, StoreError> {
                if batch.is_empty() {
                    return Ok(Vec::new());
                }
                let mut inserted: Vec<String> = Vec::with_capacity(batch.len());
                for rows in batch.chunks(ROWS_PER_INSERT) {
                    let mut insert = Self::insert_query(rows);
                    inserted.extend(
                        insert
                            .build_query_scalar::<String>()
                            .fetch_all(&self.pool)
                            .await?,
                    );
                }
                Ok(outcomes(batch, inserted))
            }

            async fn list_reports(
                &self,
                query: &ListQuery,
            ) -> Result<Vec<StoredReport>, StoreError> {
                let rows = match &query.before {
                    Some(before) => {
                        sqlx::query(&format!(
                            "{SELECT_REPORTS} WHERE id < $1 ORDER BY id DESC LIMIT $2"
                        ))
                        .bind(before.to_string())
                        .bind(i64::from(query.limit))
                        .fetch_all(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query(&format!("{SELECT_REPORTS} ORDER BY id DESC LIMIT $1"))
                            .bind(i64::from(query.limit))
                            .fetch_all(&self.pool)
                            .await?
                    }
                };
                rows.iter()
                    .map(stored_report)
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from)
            }

            async fn add_part(
                &self,
                part: &IncomingReport,
            ) -> Result<Vec<IncomingReport>, StoreError> {
                let group = part
                    .part
                    .as_ref()
                    .map(|p| p.group.clone())
                    .ok_or_else(|| StoreError::Corrupt("add_part needs a part".into()))?;
                sqlx::query(
                    "INSERT INTO message_parts (dedup_key, group_key, received_at, report)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (dedup_key) DO NOTHING",
                )
                .bind(part.dedup_key())
                .bind(&group)
                .bind(part.received_at)
                .bind(Json(part))
                .execute(&self.pool)
                .await?;
                self.parts_of(&group).await
            }

            async fn complete_parts(
                &self,
                group: &str,
                assembled: &EnrichedReport,
            ) -> Result<Inserted, StoreError> {
                let batch = std::slice::from_ref(assembled);
                let mut tx = self.pool.begin().await?;
                let mut insert = Self::insert_query(batch);
                let inserted: Vec<String> = insert.build_query_scalar().fetch_all(&mut *tx).await?;
                sqlx::query(
                    "UPDATE message_parts SET assembled_at = $1
                     WHERE group_key = $2 AND assembled_at IS NULL",
                )
                .bind(Utc::now())
                .bind(group)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(outcomes(batch, inserted)[0])
            }

            async fn stale_part_groups(
                &self,
                before: DateTime<Utc>,
            ) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT DISTINCT group_key FROM message_parts
                     WHERE received_at < $1 AND assembled_at IS NULL",
                )
                .bind(before)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn purge_parts(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "DELETE FROM message_parts WHERE assembled_at IS NOT NULL AND received_at < $1",
                )
                .bind(before)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn reports_received_since(
                &self,
                since: DateTime<Utc>,
                after: Option<&str>,
                limit: u32,
            ) -> Result<Vec<StoredReport>, StoreError> {
                let rows = sqlx::query(&format!(
                    "{SELECT_REPORTS} WHERE received_at >= $1 AND id > $2 ORDER BY id LIMIT $3"
                ))
                .bind(since)
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(stored_report)
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from)
            }

            async fn report_ids(
                &self,
                dedup_keys: &[String],
            ) -> Result<HashMap<String, String>, StoreError> {
                if dedup_keys.is_empty() {
                    return Ok(HashMap::new());
                }
                self.ids_by_dedup_key(dedup_keys).await
            }

            async fn insert_alert(&self, alert: &Alert) -> Result<Inserted, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO alerts (id, rule_id, group_key, state, severity, fired_at,
                                         resolved_at, value, evidence, resolved_evidence, details)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(&alert.id)
                .bind(&alert.rule)
                .bind(&alert.group)
                .bind(alert.state.as_str())
                .bind(&alert.severity)
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
                id: &str,
                at: DateTime<Utc>,
                evidence: &[String],
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE alerts SET state = 'resolved', resolved_at = $2, resolved_evidence = $3
                     WHERE id = $1 AND state = 'firing'",
                )
                .bind(id)
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

            async fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
                let row = sqlx::query(&format!("{SELECT_ALERTS} WHERE id = $1"))
                    .bind(id)
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
                alert_id: &str,
                transition: Transition,
            ) -> Result<(), StoreError> {
                let column = match transition {
                    Transition::Fired => "fired_published",
                    Transition::Resolved => "resolved_published",
                };
                sqlx::query(&format!("UPDATE alerts SET {column} = TRUE WHERE id = $1"))
                    .bind(alert_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn claim_notification(
                &self,
                key: &NotificationKey,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
            ) -> Result<NotificationClaim, StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO notifications (alert_id, transition, channel, recipient, state,
                                                attempts, lease_until)
                     VALUES ($1, $2, $3, $4, 'sending', 0, $5)
                     ON CONFLICT (alert_id, transition, channel, recipient) DO NOTHING",
                )
                .bind(&key.alert_id)
                .bind(key.transition.as_str())
                .bind(&key.channel)
                .bind(&key.recipient)
                .bind(lease_until)
                .execute(&self.pool)
                .await?;
                if inserted.rows_affected() == 1 {
                    return Ok(NotificationClaim::Claimed { attempts: 0 });
                }
                // Taken over only when its holder's lease ran out: the
                // holder died, and its delivery came back to the queue.
                let taken: Option<i64> = sqlx::query_scalar(
                    "UPDATE notifications SET lease_until = $5
                     WHERE alert_id = $1 AND transition = $2 AND channel = $3 AND recipient = $4
                       AND state = 'sending' AND lease_until < $6
                     RETURNING attempts",
                )
                .bind(&key.alert_id)
                .bind(key.transition.as_str())
                .bind(&key.channel)
                .bind(&key.recipient)
                .bind(lease_until)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                if let Some(attempts) = taken {
                    return Ok(NotificationClaim::Claimed {
                        attempts: u32::try_from(attempts).unwrap_or(0),
                    });
                }
                let (state, until): (String, DateTime<Utc>) = sqlx::query_as(
                    "SELECT state, lease_until FROM notifications
                     WHERE alert_id = $1 AND transition = $2 AND channel = $3 AND recipient = $4",
                )
                .bind(&key.alert_id)
                .bind(key.transition.as_str())
                .bind(&key.channel)
                .bind(&key.recipient)
                .fetch_one(&self.pool)
                .await?;
                Ok(if state == "sending" {
                    NotificationClaim::Busy { until }
                } else {
                    NotificationClaim::Done
                })
            }

            async fn renew_notification(
                &self,
                key: &NotificationKey,
                lease_until: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE notifications SET lease_until = $5
                     WHERE alert_id = $1 AND transition = $2 AND channel = $3 AND recipient = $4
                       AND state = 'sending'",
                )
                .bind(&key.alert_id)
                .bind(key.transition.as_str())
                .bind(&key.channel)
                .bind(&key.recipient)
                .bind(lease_until)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn record_attempt(
                &self,
                key: &NotificationKey,
                attempt: &Attempt,
                lease_until: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let state = match attempt.status {
                    AttemptStatus::Sent => "sent",
                    AttemptStatus::Dead => "dead",
                    AttemptStatus::Failed => "sending",
                };
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO notification_attempts (alert_id, transition, channel, kind,
                         recipient, attempt, status, error, provider_id, at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&key.alert_id)
                .bind(key.transition.as_str())
                .bind(&key.channel)
                .bind(&attempt.kind)
                .bind(&key.recipient)
                .bind(i64::from(attempt.attempt))
                .bind(attempt.status.as_str())
                .bind(attempt.error.as_deref())
                .bind(attempt.provider_id.as_deref())
                .bind(attempt.at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE notifications SET state = $5, attempts = $6, lease_until = $7
                     WHERE alert_id = $1 AND transition = $2 AND channel = $3 AND recipient = $4",
                )
                .bind(&key.alert_id)
                .bind(key.transition.as_str())
                .bind(&key.channel)
                .bind(&key.recipient)
                .bind(state)
                .bind(i64::from(attempt.attempt))
                .bind(lease_until)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn attempts(&self, alert_id: &str) -> Result<Vec<Attempt>, StoreError> {
                let rows = sqlx::query(SELECT_ATTEMPTS)
                    .bind(alert_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(attempt_of).collect()
            }

            async fn reports_by_ids(
                &self,
                ids: &[String],
            ) -> Result<Vec<StoredReport>, StoreError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                self.select_reports_by_ids(ids).await
            }

            async fn parts_of(&self, group: &str) -> Result<Vec<IncomingReport>, StoreError> {
                let rows: Vec<Json<IncomingReport>> = sqlx::query_scalar(
                    "SELECT report FROM message_parts
                     WHERE group_key = $1 AND assembled_at IS NULL ORDER BY dedup_key",
                )
                .bind(group)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }
        }
    };
}

macro_rules! bind_report {
    ($row:expr, $e:expr) => {{
        let e: &EnrichedReport = $e;
        let (r, language, place) = (&e.report, &e.enrichment.language, &e.enrichment.place);
        $row.push_bind(r.id.to_string())
            .push_bind(r.dedup_key())
            .push_bind(r.source.as_str())
            .push_bind(r.source_id.as_str())
            .push_bind(r.sender.as_ref().map(|s| s.value.as_str()))
            .push_bind(r.sender.as_ref().map(|s| sender_kind(s.kind)))
            .push_bind(r.sender_pseudonym.as_deref())
            .push_bind(r.recipient.as_deref())
            .push_bind(r.text.as_str())
            .push_bind(r.sent_at)
            .push_bind(r.received_at)
            .push_bind(Utc::now())
            .push_bind(r.location.map(|l| l.lat()))
            .push_bind(r.location.map(|l| l.lon()))
            .push_bind(Json(&r.meta))
            .push_bind(language.code.as_str())
            .push_bind(language.confidence)
            .push_bind(place_method(place.method))
            .push_bind(place.place_id)
            .push_bind(place.name.as_deref())
            .push_bind(place.country.as_deref())
            .push_bind(place.admin1_code.as_deref())
            .push_bind(place.admin1_name.as_deref())
            .push_bind(place.lat)
            .push_bind(place.lon)
            .push_bind(place.confidence);
    }};
}

fn stored_report<R>(row: &R) -> Result<StoredReport, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<f64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> DateTime<Utc>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<DateTime<Utc>>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Json<serde_json::Value>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(StoredReport {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        source_id: row.try_get("source_id")?,
        sender: row.try_get("sender")?,
        sender_kind: row.try_get("sender_kind")?,
        sender_pseudonym: row.try_get("sender_pseudonym")?,
        recipient: row.try_get("recipient")?,
        text: row.try_get("text")?,
        sent_at: row.try_get("sent_at")?,
        received_at: row.try_get("received_at")?,
        stored_at: row.try_get("stored_at")?,
        lat: row.try_get("lat")?,
        lon: row.try_get("lon")?,
        meta: row.try_get::<Json<serde_json::Value>, _>("meta")?.0,
        language: language_of(row)?,
        place: place_of(row)?,
    })
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
    Ok(Alert {
        id: row.try_get("id")?,
        rule: row.try_get("rule_id")?,
        group: row.try_get("group_key")?,
        state: AlertState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown alert state {state:?}")))?,
        severity: row.try_get("severity")?,
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

fn attempt_of<R>(row: &R) -> Result<Attempt, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> DateTime<Utc>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let transition: String = row.try_get("transition")?;
    let status: String = row.try_get("status")?;
    let attempt: i64 = row.try_get("attempt")?;
    Ok(Attempt {
        transition: Transition::parse(&transition)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown transition {transition:?}")))?,
        channel: row.try_get("channel")?,
        kind: row.try_get("kind")?,
        recipient: row.try_get("recipient")?,
        attempt: u32::try_from(attempt).unwrap_or(0),
        status: AttemptStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown attempt status {status:?}")))?,
        error: row.try_get("error")?,
        provider_id: row.try_get("provider_id")?,
        at: row.try_get("at")?,
    })
}

fn language_of<R>(row: &R) -> Result<Option<LanguageGuess>, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<f64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let Some(code) = row.try_get::<Option<String>, _>("language")? else {
        return Ok(None);
    };
    Ok(Some(LanguageGuess {
        code: LanguageCode::from_stored(code),
        confidence: row
            .try_get::<Option<f64>, _>("language_confidence")?
            .unwrap_or(0.0),
    }))
}

fn place_of<R>(row: &R) -> Result<Option<PlaceGuess>, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<f64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let Some(method) = row.try_get::<Option<String>, _>("place_method")? else {
        return Ok(None);
    };
    let place_id = row.try_get("place_id")?;
    let country: Option<String> = row.try_get("place_country")?;
    let admin1_code: Option<String> = row.try_get("admin1_code")?;
    Ok(Some(PlaceGuess {
        method: parse_place_method(&method)?,
        kind: PlaceKind::of(place_id, admin1_code.as_deref(), country.as_deref()),
        place_id,
        name: row.try_get("place_name")?,
        country,
        admin1_code,
        admin1_name: row.try_get("admin1_name")?,
        lat: row.try_get("place_lat")?,
        lon: row.try_get("place_lon")?,
        confidence: row
            .try_get::<Option<f64>, _>("place_confidence")?
            .unwrap_or(0.0),
    }))
}

sql_store!(PgStore, sqlx::Postgres);
sql_store!(SqliteStore, sqlx::Sqlite);
