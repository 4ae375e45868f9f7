//! A queue that never says "no" while the disk works: when the broker is
//! unreachable, publishes go to the [`Spool`], and a drainer moves them to
//! the broker, oldest first, once it is back.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc, oneshot};

use super::spool::Spool;
use super::{DeadLetter, Delivery, MessageQueue, QueueError};

/// How soon the drainer tries again after the broker failed it; with the
/// broker's reconnection back-off, the spool starts draining well within a
/// second of the broker's return.
const DRAIN_RETRY: Duration = Duration::from_millis(250);
const DRAIN_BATCH: usize = 256;

pub struct Spooled {
    inner: Arc<dyn MessageQueue>,
    spool: Arc<Spool>,
    wake: Arc<Notify>,
    appends: mpsc::UnboundedSender<Append>,
}

/// A record to spool and who waits for it to be durable.
type Append = (Vec<u8>, oneshot::Sender<std::io::Result<()>>);

/// Records written by one fsync at most.
const GROUP_COMMIT_MAX: usize = 512;

impl Spooled {
    /// Wraps `inner` and starts the drainer on the current runtime.
    pub fn new(inner: Arc<dyn MessageQueue>, spool: Spool) -> Arc<Self> {
        let spool = Arc::new(spool);
        let (appends, queued) = mpsc::unbounded_channel();
        let writer = spool.clone();
        std::thread::Builder::new()
            .name("ishara-spool".into())
            .spawn(move || group_commit(&writer, queued))
            .expect("spawn the spool writer");
        let this = Arc::new(Self {
            inner,
            spool,
            wake: Arc::new(Notify::new()),
            appends,
        });
        tokio::spawn(drain(
            Arc::downgrade(&this.inner),
            this.spool.clone(),
            this.wake.clone(),
        ));
        this
    }

    pub fn pending(&self) -> u64 {
        self.spool.pending()
    }

    async fn append(&self, payload: &[u8]) -> Result<(), QueueError> {
        let (done, durable) = oneshot::channel();
        self.appends
            .send((payload.to_vec(), done))
            .map_err(|_| QueueError::unavailable("the spool writer has stopped"))?;
        durable
            .await
            .map_err(|_| QueueError::unavailable("the spool writer has stopped"))?
            .map_err(|e| QueueError::unavailable(format!("broker down and spool failed: {e}")))?;
        self.wake.notify_one();
        Ok(())
    }
}

#[async_trait]
impl MessageQueue for Spooled {
    async fn publish(&self, payload: &[u8]) -> Result<(), QueueError> {
        // While older reports wait in the spool, newer ones queue behind
        // them, so the broker receives reports in the order we took them.
        if self.spool.pending() > 0 {
            return self.append(payload).await;
        }
        match self.inner.publish(payload).await {
            Ok(()) => Ok(()),
            Err(QueueError::Unavailable(why)) => {
                tracing::warn!(reason = %why, "broker unavailable; spooling to disk");
                self.append(payload).await
            }
        }
    }

    async fn consume(&self, prefetch: u16) -> anyhow::Result<mpsc::Receiver<Delivery>> {
        self.inner.consume(prefetch).await
    }

    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        self.inner.dead_letters(limit).await
    }
}

/// Writes whatever appends are waiting with one fsync, then answers each.
/// Runs on its own thread: fsync blocks.
fn group_commit(spool: &Spool, mut queued: mpsc::UnboundedReceiver<Append>) {
    while let Some(first) = queued.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let payloads: Vec<&[u8]> = batch.iter().map(|(p, _)| p.as_slice()).collect();
        let result = spool.append_all(&payloads);
        for (_, done) in batch {
            let _ = done.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            });
        }
    }
}

/// Moves spooled records to the broker, a segment at a time. A segment is
/// removed only after every record in it is confirmed; a crash in between
/// publishes some again, which the worker's deduplication absorbs.
async fn drain(inner: std::sync::Weak<dyn MessageQueue>, spool: Arc<Spool>, wake: Arc<Notify>) {
    loop {
        if spool.pending() == 0 {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
        let Some(queue) = inner.upgrade() else { return };
        let segment = match tokio::task::spawn_blocking({
            let spool = spool.clone();
            move || spool.oldest()
        })
        .await
        {
            Ok(Ok(Some(segment))) => segment,
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read the spool");
                tokio::time::sleep(DRAIN_RETRY).await;
                continue;
            }
            Err(_) => return,
        };
        let total = segment.records.len();
        let mut next = 0;
        // Many in flight at once: one confirm at a time would drain slower
        // than a busy gateway fills the spool.
        while next < total {
            let chunk = &segment.records[next..(next + DRAIN_BATCH).min(total)];
            match queue.publish_batch(chunk).await {
                Ok(()) => next += chunk.len(),
                Err(e) => {
                    tracing::debug!(error = %e, left = total - next, "spool drain waiting for broker");
                    tokio::time::sleep(DRAIN_RETRY).await;
                }
            }
        }
        drop(queue);
        if let Err(e) = spool.remove(segment) {
            tracing::error!(error = %e, "cannot remove a drained spool segment");
        } else {
            tracing::info!(records = total, "spooled reports delivered to the broker");
        }
    }
}
