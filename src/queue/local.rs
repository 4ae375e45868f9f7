//! The embedded default's queue: a table in its own SQLite file. A publish
//! is durable when its transaction commits; deliveries are claimed
//! atomically, and any left in flight by a crash are delivered again at the
//! next start.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use super::{Acknowledge, DeadLetter, Delivery, MessageQueue, QueueError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    payload BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'inflight', 'dead')),
    deliveries INTEGER NOT NULL DEFAULT 0,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS queue_state ON queue (state, seq);
";

/// Publishes committed in one transaction at most: one fsync for many, and
/// a bound on how long any publish waits behind those taken before it.
const GROUP_COMMIT_MAX: usize = 256;

pub struct LocalQueue {
    pool: SqlitePool,
    published: Arc<Notify>,
    commits: mpsc::UnboundedSender<Waiting>,
}

/// A publish waiting for its group's commit.
struct Waiting {
    payload: Vec<u8>,
    done: oneshot::Sender<Result<(), QueueError>>,
}

impl LocalQueue {
    pub async fn open(path: &Path) -> anyhow::Result<Arc<Self>> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        // Whatever was in flight when the last process stopped was not
        // acknowledged: offer it again.
        sqlx::query("UPDATE queue SET state = 'ready' WHERE state = 'inflight'")
            .execute(&pool)
            .await?;
        let published = Arc::new(Notify::new());
        let (commits, waiting) = mpsc::unbounded_channel();
        tokio::spawn(commit_groups(pool.clone(), published.clone(), waiting));
        Ok(Arc::new(Self {
            pool,
            published,
            commits,
        }))
    }

    async fn claim(&self, limit: usize) -> sqlx::Result<Vec<(i64, Vec<u8>, bool)>> {
        let rows = sqlx::query(
            "UPDATE queue SET state = 'inflight', deliveries = deliveries + 1
             WHERE seq IN (SELECT seq FROM queue WHERE state = 'ready' ORDER BY seq LIMIT $1)
             RETURNING seq, payload, deliveries",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed: Vec<_> = rows
            .into_iter()
            .map(|r| {
                let deliveries: i64 = r.get("deliveries");
                (r.get("seq"), r.get("payload"), deliveries > 1)
            })
            .collect();
        claimed.sort_by_key(|(seq, _, _)| *seq);
        Ok(claimed)
    }
}

#[async_trait]
impl MessageQueue for LocalQueue {
    async fn publish(&self, payload: &[u8]) -> Result<(), QueueError> {
        let stopped = || QueueError::unavailable("the local queue writer has stopped");
        let (done, committed) = oneshot::channel();
        let waiting = Waiting {
            payload: payload.to_vec(),
            done,
        };
        self.commits.send(waiting).map_err(|_| stopped())?;
        committed.await.map_err(|_| stopped())?
    }

    async fn consume(&self, prefetch: u16) -> anyhow::Result<mpsc::Receiver<Delivery>> {
        let (tx, rx) = mpsc::channel(prefetch as usize);
        let this = Arc::new(Self {
            pool: self.pool.clone(),
            published: self.published.clone(),
            commits: self.commits.clone(),
        });
        let credits = Arc::new(Semaphore::new(prefetch as usize));
        tokio::spawn(async move {
            while !tx.is_closed() {
                let available = credits.available_permits().max(1);
                let Ok(first) = credits.clone().acquire_owned().await else {
                    return;
                };
                let claimed = match this.claim(available).await {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::warn!(error = %e, "local queue unreadable; retrying");
                        drop(first);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                if claimed.is_empty() {
                    drop(first);
                    tokio::select! {
                        _ = this.published.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
                let mut permit = Some(first);
                for (seq, payload, redelivered) in claimed {
                    let permit = match permit.take() {
                        Some(p) => p,
                        None => credits.clone().acquire_owned().await.expect("never closed"),
                    };
                    let acker = LocalAcker {
                        pool: this.pool.clone(),
                        seq,
                        _credit: permit,
                    };
                    let delivery = Delivery::new(payload, redelivered, Box::new(acker));
                    if tx.send(delivery).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }

    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        let rows = sqlx::query(
            "SELECT payload, reason FROM queue WHERE state = 'dead' ORDER BY seq LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DeadLetter {
                payload: r.get("payload"),
                reason: r.get::<Option<String>, _>("reason").unwrap_or_default(),
            })
            .collect())
    }
}

/// Commits whatever publishes are waiting, oldest first, up to
/// [`GROUP_COMMIT_MAX`] a transaction, then answers each. Publishers that
/// arrive while a large batch is taken wait for one group, not the batch.
async fn commit_groups(
    pool: SqlitePool,
    published: Arc<Notify>,
    mut waiting: mpsc::UnboundedReceiver<Waiting>,
) {
    while let Some(first) = waiting.recv().await {
        let mut group = vec![first];
        while group.len() < GROUP_COMMIT_MAX {
            match waiting.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let result = insert_all(&pool, &group)
            .await
            .map_err(QueueError::unavailable);
        if result.is_ok() {
            published.notify_one();
        }
        for publish in group {
            let _ = publish.done.send(result.clone());
        }
    }
}

async fn insert_all(pool: &SqlitePool, group: &[Waiting]) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    for publish in group {
        sqlx::query("INSERT INTO queue (payload) VALUES ($1)")
            .bind(publish.payload.as_slice())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

struct LocalAcker {
    pool: SqlitePool,
    seq: i64,
    /// Held until acknowledged: this is what bounds the prefetch.
    _credit: tokio::sync::OwnedSemaphorePermit,
}

#[async_trait]
impl Acknowledge for LocalAcker {
    async fn ack(self: Box<Self>) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM queue WHERE seq = $1")
            .bind(self.seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn dead_letter(self: Box<Self>, _payload: &[u8], reason: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE queue SET state = 'dead', reason = $1 WHERE seq = $2")
            .bind(reason)
            .bind(self.seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn dead_letter_copy(&self, payload: &[u8], reason: &str) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO queue (payload, state, reason) VALUES ($1, 'dead', $2)")
            .bind(payload)
            .bind(reason)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
