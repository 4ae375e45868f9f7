//! Takes reports off the queue and stores them, acknowledging only after
//! the commit. Storing is idempotent, so a redelivery costs a no-op.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::queue::{Delivery, ReportQueue};
use crate::report::IncomingReport;
use crate::store::{Inserted, Store, StoreError};

const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Assembled parts are remembered this long to recognise redeliveries.
const PART_MEMORY: chrono::Duration = chrono::Duration::hours(24);

pub struct Worker {
    queue: Arc<dyn ReportQueue>,
    store: Arc<dyn Store>,
    prefetch: u16,
    concat_timeout: Duration,
}

impl Worker {
    pub fn new(
        queue: Arc<dyn ReportQueue>,
        store: Arc<dyn Store>,
        prefetch: u16,
        concat_timeout: Duration,
    ) -> Self {
        Self {
            queue,
            store,
            prefetch,
            concat_timeout,
        }
    }

    /// Runs until the queue's consumer ends.
    pub async fn run(self) -> anyhow::Result<()> {
        let deliveries = self.queue.consume(self.prefetch).await?;
        let sweeper = tokio::spawn(sweep_parts(self.store.clone(), self.concat_timeout));
        let store = self.store.clone();
        ReceiverStream::new(deliveries)
            .for_each_concurrent(self.prefetch as usize, |delivery| {
                let store = store.clone();
                async move { handle(&*store, delivery).await }
            })
            .await;
        sweeper.abort();
        Ok(())
    }
}

async fn handle(store: &dyn Store, delivery: Delivery) {
    let report: IncomingReport = match serde_json::from_slice(&delivery.payload) {
        Ok(report) => report,
        Err(e) => {
            let reason = format!("not a report: {e}");
            tracing::error!(%reason, "dead-lettering a message");
            if let Err(e) = delivery.dead_letter(&reason).await {
                // Not parked and not acked: it comes again once this channel
                // closes (AMQP) or the process restarts (local queue).
                tracing::error!(error = %e, "could not dead-letter");
            }
            return;
        }
    };
    let mut backoff = RETRY_MIN;
    loop {
        match store_report(store, &report).await {
            Ok(outcome) => {
                let duplicate = matches!(outcome, Outcome::Stored(Inserted::Duplicate));
                tracing::debug!(id = %report.id, source = %report.source, duplicate, "stored");
                break;
            }
            Err(StoreError::Corrupt(reason)) => {
                let _ = delivery.dead_letter(&reason).await;
                return;
            }
            // The database is down: keep the delivery, wait, try again.
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "store failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        }
    }
    if let Err(e) = delivery.ack().await {
        // Stored but not acknowledged: it comes again and is a duplicate.
        tracing::warn!(error = %e, "ack failed after store");
    }
}

#[derive(Debug)]
enum Outcome {
    Stored(Inserted),
    PartHeld,
}

async fn store_report(store: &dyn Store, report: &IncomingReport) -> Result<Outcome, StoreError> {
    let Some(part) = &report.part else {
        return store.insert_report(report).await.map(Outcome::Stored);
    };
    let parts = store.add_part(report).await?;
    match assemble(&parts, false) {
        Some(whole) => store
            .complete_parts(&part.group, &whole)
            .await
            .map(Outcome::Stored),
        None => Ok(Outcome::PartHeld),
    }
}

/// Joins a group's parts in order. Without `partial`, only a complete
/// group is joined; with it, what arrived is joined and the missing part
/// numbers recorded.
pub fn assemble(parts: &[IncomingReport], partial: bool) -> Option<IncomingReport> {
    let total = parts
        .iter()
        .filter_map(|p| p.part.as_ref())
        .map(|p| p.total)
        .max()?;
    let by_index: BTreeMap<u16, &IncomingReport> = parts
        .iter()
        .filter_map(|p| p.part.as_ref().map(|info| (info.index, p)))
        .collect();
    let missing: Vec<u16> = (1..=total).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() && !partial {
        return None;
    }
    let first = *by_index.values().next()?;
    let text: String = by_index.values().map(|p| p.text.as_str()).collect();
    let mut whole = first.clone();
    whole.text = crate::report::Text::parse(&text).ok()?;
    whole.part = None;
    whole.meta.insert(
        "part_ids".into(),
        by_index
            .values()
            .map(|p| p.source_id.as_str())
            .collect::<Vec<_>>()
            .into(),
    );
    if !missing.is_empty() {
        whole.meta.insert("concat_missing".into(), missing.into());
    }
    Some(whole)
}

/// Stores what arrived of multipart messages whose parts stopped coming.
async fn sweep_parts(store: Arc<dyn Store>, timeout: Duration) {
    let every = (timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        let cutoff = Utc::now() - chrono::Duration::from_std(timeout).unwrap_or_default();
        if let Err(e) = sweep_once(&*store, cutoff).await {
            tracing::warn!(error = %e, "multipart sweep failed; will retry");
        }
    }
}

async fn sweep_once(store: &dyn Store, cutoff: chrono::DateTime<Utc>) -> Result<(), StoreError> {
    for group in store.stale_part_groups(cutoff).await? {
        let parts = store.parts_of(&group).await?;
        if let Some(partial) = assemble(&parts, true) {
            tracing::info!(id = %partial.id, "storing a multipart SMS with parts missing");
            store.complete_parts(&group, &partial).await?;
        }
    }
    store.purge_parts(Utc::now() - PART_MEMORY).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{MessagePart, ReportId, Source, SourceId, Text};

    fn part(index: u16, total: u16, text: &str) -> IncomingReport {
        IncomingReport {
            id: ReportId::new(),
            source: Source::new("vonage"),
            source_id: SourceId::given(&format!("msg-{index}")).unwrap(),
            sender: None,
            sender_pseudonym: None,
            recipient: None,
            text: Text::parse(text).unwrap(),
            sent_at: None,
            received_at: Utc::now(),
            location: None,
            meta: Default::default(),
            part: Some(MessagePart {
                group: "g".into(),
                index,
                total,
            }),
        }
    }

    #[test]
    fn complete_groups_join_in_part_order_under_part_ones_id() {
        let parts = [
            part(2, 3, " in Garissa"),
            part(1, 3, "Cholera"),
            part(3, 3, ", 3 dead"),
        ];
        let whole = assemble(&parts, false).unwrap();
        assert_eq!(whole.text.as_str(), "Cholera in Garissa, 3 dead");
        assert_eq!(whole.source_id.as_str(), "msg-1");
        assert_eq!(
            whole.meta["part_ids"],
            serde_json::json!(["msg-1", "msg-2", "msg-3"])
        );
        assert!(whole.part.is_none());
    }

    #[test]
    fn incomplete_groups_wait_unless_given_up_on() {
        let parts = [part(1, 3, "Cholera"), part(3, 3, " dead")];
        assert!(assemble(&parts, false).is_none());
        let partial = assemble(&parts, true).unwrap();
        assert_eq!(partial.text.as_str(), "Cholera dead");
        assert_eq!(partial.meta["concat_missing"], serde_json::json!([2]));
    }
}
