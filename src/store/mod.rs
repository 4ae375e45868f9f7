//! Where reports live: PostgreSQL for deployments, SQLite for the embedded
//! default. Both implement [`Store`] with the same SQL and pass the same
//! conformance tests; migrations per database are under `migrations/`.

mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::alert::delivery::{Attempt, NotificationClaim, NotificationKey, Transition};
use crate::alert::{Alert, AlertId, AlertState};
use crate::enrich::{EnrichedReport, LanguageGuess, PlaceGuess};
use crate::report::{IncomingReport, ReportId};

pub use sql::{PgStore, SqliteStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or failed: worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// The database refused this data (a value it cannot hold, a broken
    /// constraint): retrying cannot help.
    #[error("database refused the data: {0}")]
    Rejected(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if refuses_data(db.as_ref()) => {
                StoreError::Rejected(db.message().to_owned())
            }
            _ => StoreError::Unavailable(error),
        }
    }
}

/// Constraint violations, and PostgreSQL's class 22 (data exception, such
/// as a NUL byte in text), fail the same way however often they are tried.
fn refuses_data(error: &dyn sqlx::error::DatabaseError) -> bool {
    use sqlx::error::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation
    ) || error.code().is_some_and(|code| code.starts_with("22"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// Its dedup key was already stored: a gateway retry or a redelivery.
    Duplicate,
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub limit: u32,
    /// Reports older than this one (the previous page's last id).
    pub before: Option<ReportId>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub limit: u32,
    /// Alerts that fired before this one (the previous page's last id).
    pub before: Option<String>,
    pub state: Option<AlertState>,
    pub rule: Option<String>,
}

/// A report as the read API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredReport {
    pub id: String,
    pub source: String,
    pub source_id: String,
    pub sender: Option<String>,
    pub sender_kind: Option<String>,
    pub sender_pseudonym: Option<String>,
    pub recipient: Option<String>,
    pub text: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub stored_at: DateTime<Utc>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub meta: serde_json::Value,
    /// `None` for reports stored before enrichment existed.
    pub language: Option<LanguageGuess>,
    pub place: Option<PlaceGuess>,
}

/// Reports as stored, the parts of multipart SMS that wait for the rest,
/// and the reads that rebuild windows and show evidence.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Stores a batch in one transaction, each report once: a report whose
    /// dedup key is already stored (or earlier in the batch) is a no-op
    /// reported as [`Inserted::Duplicate`]. Outcomes follow the batch order.
    async fn insert_reports(&self, batch: &[EnrichedReport]) -> Result<Vec<Inserted>, StoreError>;

    async fn insert_report(&self, report: &EnrichedReport) -> Result<Inserted, StoreError> {
        let outcomes = self.insert_reports(std::slice::from_ref(report)).await?;
        outcomes
            .first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("no outcome for an insert".into()))
    }

    /// Newest first.
    async fn list_reports(&self, query: &ListQuery) -> Result<Vec<StoredReport>, StoreError>;

    /// The reports with these ids, in no particular order.
    async fn reports_by_ids(&self, ids: &[String]) -> Result<Vec<StoredReport>, StoreError>;

    /// Keeps one part of a multipart message (once per dedup key) and
    /// returns every part of its group held so far, this one included.
    async fn add_part(&self, part: &IncomingReport) -> Result<Vec<IncomingReport>, StoreError>;

    /// Stores the message assembled from a group's parts and marks the
    /// parts assembled, in one transaction.
    async fn complete_parts(
        &self,
        group: &str,
        assembled: &EnrichedReport,
    ) -> Result<Inserted, StoreError>;

    /// Groups with a part older than `before`, to be given up on.
    async fn stale_part_groups(&self, before: DateTime<Utc>) -> Result<Vec<String>, StoreError>;

    /// Forgets assembled parts received before `before`.
    async fn purge_parts(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The parts of one group held so far and not yet assembled.
    async fn parts_of(&self, group: &str) -> Result<Vec<IncomingReport>, StoreError>;

    /// Oldest first, by id: what rebuilds in-memory windows at start.
    async fn reports_received_since(
        &self,
        since: DateTime<Utc>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredReport>, StoreError>;

    /// Our ids of the reports stored under these dedup keys, as
    /// `dedup key → id`: window members are dedup keys, evidence is ids.
    async fn report_ids(
        &self,
        dedup_keys: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError>;
}

/// Alerts: each firing stored once and resolved once; the alert row is
/// the outbox the notifiers are fed from.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Stores an alert once: an id already stored is a no-op.
    async fn insert_alert(&self, alert: &Alert) -> Result<Inserted, StoreError>;

    /// Marks a firing alert resolved; false when it was not firing (another
    /// worker resolved it first).
    async fn resolve_alert(
        &self,
        id: &AlertId,
        at: DateTime<Utc>,
        evidence: &[String],
    ) -> Result<bool, StoreError>;

    /// Newest first.
    async fn list_alerts(&self, query: &AlertQuery) -> Result<Vec<Alert>, StoreError>;

    async fn alert(&self, id: &AlertId) -> Result<Option<Alert>, StoreError>;

    /// Alerts still firing, and resolved ones that fired after `since`:
    /// what restores holds and cooldowns in memory at start.
    async fn alerts_to_restore(&self, since: DateTime<Utc>) -> Result<Vec<Alert>, StoreError>;

    /// Firings and resolutions stored at or before `before` and not yet
    /// published on the alerts queue: what a crash between storing and
    /// publishing left behind.
    async fn unpublished(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Alert, Transition)>, StoreError>;

    async fn mark_published(
        &self,
        alert_id: &AlertId,
        transition: Transition,
    ) -> Result<(), StoreError>;
}

/// Notifications: which notifier sends to each recipient, and every
/// attempt it made.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Takes a recipient's notification for this notifier until
    /// `lease_until`, unless it is done or another notifier holds it.
    async fn claim_notification(
        &self,
        key: &NotificationKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<NotificationClaim, StoreError>;

    /// Keeps a claim this notifier holds from running out while it waits.
    async fn renew_notification(
        &self,
        key: &NotificationKey,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records an attempt and, in the same transaction, what it leaves the
    /// notification: sent, dead, or still ours until `lease_until`.
    async fn record_attempt(
        &self,
        key: &NotificationKey,
        attempt: &Attempt,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Every attempt for an alert, oldest first.
    async fn attempts(&self, alert_id: &AlertId) -> Result<Vec<Attempt>, StoreError>;
}

/// One database holding reports, alerts and deliveries: what a role
/// opens. Each part of Ishara asks for the store it needs.
#[async_trait]
pub trait Store: ReportStore + AlertStore + DeliveryStore {
    /// Applies pending migrations.
    async fn migrate(&self) -> anyhow::Result<()>;
}

/// Opens the store a database URL names: `postgres://…` or `sqlite:…`.
pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url, max_connections).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(url, max_connections).await?))
    }
}
