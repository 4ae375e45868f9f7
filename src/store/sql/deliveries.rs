//! Notifications: which notifier holds each recipient, and every attempt.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{PgStore, SqliteStore};
use crate::alert::AlertId;
use crate::alert::delivery::{
    Attempt, AttemptStatus, NotificationClaim, NotificationKey, Transition,
};
use crate::store::{DeliveryStore, StoreError};

const SELECT_ATTEMPTS: &str = "
SELECT transition, channel, kind, recipient, attempt, status, error, provider_id, at
FROM notification_attempts WHERE alert_id = $1 ORDER BY id";

macro_rules! delivery_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl DeliveryStore for $store {
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
                .bind(key.alert_id.to_string())
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
                .bind(key.alert_id.to_string())
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
                .bind(key.alert_id.to_string())
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
                .bind(key.alert_id.to_string())
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
                .bind(key.alert_id.to_string())
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
                .bind(key.alert_id.to_string())
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

            async fn attempts(&self, alert_id: &AlertId) -> Result<Vec<Attempt>, StoreError> {
                let rows = sqlx::query(SELECT_ATTEMPTS)
                    .bind(alert_id.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(attempt_of).collect()
            }
        }
    };
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

delivery_store!(PgStore, sqlx::Postgres);
delivery_store!(SqliteStore, sqlx::Sqlite);
