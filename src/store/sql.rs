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

use super::{Inserted, ListQuery, Store, StoreError, StoredReport};
use crate::phone::SenderKind;
use crate::report::IncomingReport;

const INSERT_REPORT: &str = "
INSERT INTO reports (id, dedup_key, source, source_id, sender, sender_kind, sender_pseudonym,
                     recipient, text, sent_at, received_at, stored_at, lat, lon, meta)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (dedup_key) DO NOTHING";

const SELECT_REPORTS: &str = "
SELECT id, source, source_id, sender, sender_kind, sender_pseudonym, recipient, text,
       sent_at, received_at, stored_at, lat, lon, meta
FROM reports";

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

macro_rules! sql_store {
    ($store:ty) => {
        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> anyhow::Result<()> {
                self.run_migrations().await
            }

            async fn insert_report(&self, report: &IncomingReport) -> Result<Inserted, StoreError> {
                let done = sqlx::query(INSERT_REPORT);
                let done = bind_report!(done, report).execute(&self.pool).await?;
                Ok(if done.rows_affected() == 1 {
                    Inserted::New
                } else {
                    Inserted::Duplicate
                })
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
                    .map(|row| {
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
                        })
                    })
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
                assembled: &IncomingReport,
            ) -> Result<Inserted, StoreError> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(INSERT_REPORT);
                let done = bind_report!(done, assembled).execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE message_parts SET assembled_at = $1
                     WHERE group_key = $2 AND assembled_at IS NULL",
                )
                .bind(Utc::now())
                .bind(group)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(if done.rows_affected() == 1 {
                    Inserted::New
                } else {
                    Inserted::Duplicate
                })
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
    ($query:expr, $r:expr) => {{
        let r: &IncomingReport = $r;
        $query
            .bind(r.id.to_string())
            .bind(r.dedup_key())
            .bind(r.source.as_str())
            .bind(r.source_id.as_str())
            .bind(r.sender.as_ref().map(|s| s.value.as_str()))
            .bind(r.sender.as_ref().map(|s| sender_kind(s.kind)))
            .bind(r.sender_pseudonym.as_deref())
            .bind(r.recipient.as_deref())
            .bind(r.text.as_str())
            .bind(r.sent_at)
            .bind(r.received_at)
            .bind(Utc::now())
            .bind(r.location.map(|l| l.lat()))
            .bind(r.location.map(|l| l.lon()))
            .bind(Json(&r.meta))
    }};
}

sql_store!(PgStore);
sql_store!(SqliteStore);
