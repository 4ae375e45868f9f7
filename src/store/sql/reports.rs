//! Reports, and the parts of multipart SMS waiting for the rest.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::types::Json;

use super::{PgStore, SqliteStore};
use crate::enrich::language::LanguageCode;
use crate::enrich::locate::{PlaceKind, PlaceMethod};
use crate::enrich::{EnrichedReport, LanguageGuess, PlaceGuess};
use crate::phone::SenderKind;
use crate::report::IncomingReport;
use crate::store::{Inserted, ListQuery, ReportStore, StoreError, StoredReport};

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

macro_rules! report_store {
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
        impl ReportStore for $store {
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

            async fn reports_by_ids(
                &self,
                ids: &[String],
            ) -> Result<Vec<StoredReport>, StoreError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                self.select_reports_by_ids(ids).await
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

report_store!(PgStore, sqlx::Postgres);
report_store!(SqliteStore, sqlx::Sqlite);
