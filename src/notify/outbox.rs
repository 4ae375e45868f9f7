//! From a stored alert to the `alerts` queue. The alert row is the outbox:
//! it is stored unpublished, published right after (one message per
//! channel), then marked; a sweep publishes what a crash or a broker outage
//! left unmarked. A firing may so be published twice; notifiers send it
//! once all the same (see [`super::notifier`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alert::Alert;
use crate::alert::delivery::{Notification, Transition};
use crate::queue::MessageQueue;
use crate::queue::codec::encode_notification;
use crate::rules::engine::Change;
use crate::store::Store;

/// Older than this, an unpublished change is the sweep's: younger ones are
/// most likely being published by the worker that stored them.
const SWEEP_AFTER: Duration = Duration::from_secs(10);
const SWEEP_BATCH: u32 = 100;

pub struct Outbox {
    queue: Arc<dyn MessageQueue>,
    store: Arc<dyn Store>,
}

impl Outbox {
    pub fn new(queue: Arc<dyn MessageQueue>, store: Arc<dyn Store>) -> Self {
        Self { queue, store }
    }

    /// Publishes what rules just fired or resolved. A failure is logged,
    /// not returned: the reports behind it are stored and counted, and the
    /// sweep publishes it later.
    pub async fn publish(&self, changes: &[Change]) {
        for change in changes {
            let (alert, transition) = match change {
                Change::Fired(alert) => (alert, Transition::Fired),
                Change::Resolved(alert) => (alert, Transition::Resolved),
            };
            if let Err(e) = self.publish_one(alert, transition).await {
                tracing::warn!(alert = %alert.id, error = %e, "alert not published yet; the sweep will");
            }
        }
    }

    /// Publishes changes left unpublished; returns how many.
    pub async fn sweep(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let before = now - chrono::Duration::from_std(SWEEP_AFTER).unwrap_or_default();
        let owed = self.store.unpublished(before, SWEEP_BATCH).await?;
        for (alert, transition) in &owed {
            tracing::info!(alert = %alert.id, transition = transition.as_str(), "publishing a notification left behind");
            self.publish_one(alert, *transition).await?;
        }
        Ok(owed.len())
    }

    async fn publish_one(&self, alert: &Alert, transition: Transition) -> anyhow::Result<()> {
        let payloads: Vec<Vec<u8>> = notifications(alert, transition)
            .iter()
            .map(encode_notification)
            .collect();
        if !payloads.is_empty() {
            self.queue.publish_batch(&payloads).await?;
        }
        self.store.mark_published(&alert.id, transition).await?;
        Ok(())
    }
}

/// One per channel the rule notifies, each a channel's own delivery, so a
/// dead mail server does not hold back the SMS.
pub fn notifications(alert: &Alert, transition: Transition) -> Vec<Notification> {
    alert
        .details
        .notify
        .iter()
        .map(|channel| Notification {
            alert_id: alert.id.clone(),
            transition,
            channel: channel.clone(),
        })
        .collect()
}
