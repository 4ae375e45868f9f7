//! Takes reports off the queue, works out their language and place, and
//! stores them, acknowledging only after the commit. Storing is
//! idempotent, so a redelivery costs a no-op.
//!
//! Deliveries are handled in batches of what the queue has ready: one
//! blocking-pool task enriches a batch (the language models are CPU-bound
//! and must not stall the runtime's I/O), one statement stores it.

mod parts;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

pub use parts::assemble;

use crate::enrich::{EnrichedReport, Enricher};
use crate::queue::{Delivery, ReportQueue};
use crate::report::IncomingReport;
use crate::rules::engine::{Engine, EngineError};
use crate::store::{Inserted, Store, StoreError};

const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(30);

pub struct Worker {
    queue: Arc<dyn ReportQueue>,
    store: Arc<dyn Store>,
    enrich: Enrich,
    rules: Arc<Engine>,
    prefetch: u16,
    threads: usize,
    batch_size: usize,
    concat_timeout: Duration,
    evaluation_interval: Duration,
}

pub struct WorkerOptions {
    /// Unacknowledged deliveries held at most.
    pub prefetch: u16,
    /// Batches enriched at once; 0 means one per core.
    pub threads: usize,
    /// Reports per batch; 0 means `prefetch / threads`.
    pub batch_size: usize,
    pub concat_timeout: Duration,
    /// How often silences are looked for and firing alerts re-checked.
    pub evaluation_interval: Duration,
}

impl Worker {
    pub fn new(
        queue: Arc<dyn ReportQueue>,
        store: Arc<dyn Store>,
        enricher: Arc<Enricher>,
        rules: Arc<Engine>,
        options: WorkerOptions,
    ) -> Self {
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Self {
            queue,
            store,
            enrich: Enrich(enricher),
            rules,
            prefetch: options.prefetch,
            threads,
            batch_size: match options.batch_size {
                0 => (usize::from(options.prefetch) / threads).max(1),
                n => n,
            },
            concat_timeout: options.concat_timeout,
            evaluation_interval: options.evaluation_interval,
        }
    }

    /// Runs until the queue's consumer ends.
    pub async fn run(self) -> anyhow::Result<()> {
        let deliveries = self.queue.consume(self.prefetch).await?;
        let sweeper = tokio::spawn(parts::sweep_parts(
            self.store.clone(),
            self.enrich.clone(),
            self.rules.clone(),
            self.concat_timeout,
        ));
        let timers = tokio::spawn(run_timers(self.rules.clone(), self.evaluation_interval));
        // One batch per thread enriching while one more is being stored.
        ReceiverStream::new(deliveries)
            .ready_chunks(self.batch_size)
            .for_each_concurrent(self.threads + 1, |batch| {
                handle_batch(&*self.store, &self.enrich, &self.rules, batch)
            })
            .await;
        sweeper.abort();
        timers.abort();
        Ok(())
    }
}

/// Silences fire and alerts resolve with no report arriving: a timer asks.
/// Every worker runs one; the window store and the database make sure each
/// firing and each resolution happens once.
async fn run_timers(rules: Arc<Engine>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(e) = rules.tick(chrono::Utc::now()).await {
            tracing::warn!(error = %e, "rule timers failed; trying again next tick");
        }
    }
}

/// The enricher as the async side sees it: work sent to the blocking pool.
#[derive(Clone)]
pub(crate) struct Enrich(Arc<Enricher>);

impl Enrich {
    /// Enriches each report; a report the enricher panics on comes back as
    /// the reason, so that one bad report does not sink its batch.
    async fn all(&self, reports: Vec<IncomingReport>) -> Vec<Result<EnrichedReport, String>> {
        let enricher = self.0.clone();
        let count = reports.len();
        let enriched = tokio::task::spawn_blocking(move || {
            reports
                .into_iter()
                .map(|report| enrich_one(&enricher, report))
                .collect::<Vec<_>>()
        })
        .await;
        enriched.unwrap_or_else(|e| vec![Err(format!("enrichment failed: {e}")); count])
    }

    async fn one(&self, report: IncomingReport) -> Result<EnrichedReport, String> {
        self.all(vec![report])
            .await
            .pop()
            .unwrap_or_else(|| Err("enrichment returned nothing".into()))
    }
}

fn enrich_one(enricher: &Enricher, report: IncomingReport) -> Result<EnrichedReport, String> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| enricher.enrich(&report))) {
        Ok(enrichment) => Ok(EnrichedReport { report, enrichment }),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Err(format!("enrichment failed: {what}"))
        }
    }
}

async fn handle_batch(store: &dyn Store, enrich: &Enrich, rules: &Engine, batch: Vec<Delivery>) {
    let mut wholes = Vec::with_capacity(batch.len());
    for delivery in batch {
        match serde_json::from_slice::<IncomingReport>(&delivery.payload) {
            Err(e) => dead_letter(delivery, &format!("not a report: {e}")).await,
            Ok(report) if report.part.is_some() => {
                let outcome = retrying(|| parts::store_part(store, enrich, &report)).await;
                if let Ok(Some((whole, inserted))) = &outcome {
                    count(rules, &[(whole, *inserted)]).await;
                }
                settle(delivery, outcome.map(|_| ())).await;
            }
            Ok(report) => wholes.push((delivery, report)),
        }
    }
    if wholes.is_empty() {
        return;
    }
    let (deliveries, reports): (Vec<Delivery>, Vec<IncomingReport>) = wholes.into_iter().unzip();
    let mut ready = Vec::with_capacity(reports.len());
    for (delivery, enriched) in deliveries.into_iter().zip(enrich.all(reports).await) {
        match enriched {
            Ok(enriched) => ready.push((delivery, enriched)),
            Err(reason) => dead_letter(delivery, &reason).await,
        }
    }
    store_batch(store, rules, ready).await;
}

/// Stores a batch in one statement. If the database refuses it, each
/// report is tried alone so that only the one it refuses is dead-lettered.
async fn store_batch(store: &dyn Store, rules: &Engine, batch: Vec<(Delivery, EnrichedReport)>) {
    let (deliveries, reports): (Vec<Delivery>, Vec<EnrichedReport>) = batch.into_iter().unzip();
    match retrying(|| store.insert_reports(&reports)).await {
        Ok(outcomes) => {
            let stored: Vec<(&EnrichedReport, Inserted)> =
                reports.iter().zip(outcomes.iter().copied()).collect();
            count(rules, &stored).await;
            for ((delivery, report), outcome) in deliveries.into_iter().zip(&reports).zip(outcomes)
            {
                log_stored(report, outcome);
                settle(delivery, Ok(())).await;
            }
        }
        Err(_) if reports.len() > 1 => {
            for (delivery, report) in deliveries.into_iter().zip(&reports) {
                let outcome = retrying(|| store.insert_report(report)).await;
                if let Ok(outcome) = &outcome {
                    log_stored(report, *outcome);
                    count(rules, &[(report, *outcome)]).await;
                }
                settle(delivery, outcome.map(|_| ())).await;
            }
        }
        Err(e) => {
            for delivery in deliveries {
                dead_letter(delivery, &e.to_string()).await;
            }
        }
    }
}

/// Counts stored reports in their rules' windows before they are
/// acknowledged: a crash in between redelivers them, and counting is
/// idempotent. Duplicates are counted too (a no-op unless the first
/// delivery died before counting). Waits out Redis or database outages.
pub(crate) async fn count(rules: &Engine, stored: &[(&EnrichedReport, Inserted)]) {
    let mut backoff = RETRY_MIN;
    loop {
        match rules.observe_stored(stored, chrono::Utc::now()).await {
            Ok(_) => return,
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, retry_in = ?backoff, "rule windows failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX);
            }
            Err(e) => return log_refused(&e),
        }
    }
}

/// The reports are stored; an alert the database refuses is not worth
/// losing them over.
fn log_refused(error: &EngineError) {
    tracing::error!(%error, "rules could not record an alert");
}

fn log_stored(report: &EnrichedReport, outcome: Inserted) {
    tracing::debug!(
        id = %report.report.id,
        source = %report.report.source,
        language = report.enrichment.language.code.as_str(),
        place = ?report.enrichment.place.admin1_code,
        duplicate = outcome == Inserted::Duplicate,
        "stored"
    );
}

/// Retries while the database is unavailable, with backoff: the delivery
/// stays owed meanwhile, so nothing is lost. Refusals come back at once.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut backoff = RETRY_MIN;
    loop {
        match attempt().await {
            Err(StoreError::Unavailable(e)) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "store failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX);
            }
            other => return other,
        }
    }
}

async fn settle(delivery: Delivery, stored: Result<(), StoreError>) {
    match stored {
        Ok(()) => {
            if let Err(e) = delivery.ack().await {
                // Stored but not acknowledged: it comes again and is a duplicate.
                tracing::warn!(error = %e, "ack failed after store");
            }
        }
        Err(e) => dead_letter(delivery, &e.to_string()).await,
    }
}

async fn dead_letter(delivery: Delivery, reason: &str) {
    tracing::error!(%reason, "dead-lettering a message");
    if let Err(e) = delivery.dead_letter(reason).await {
        // Not parked and not acked: it comes again once this channel
        // closes (AMQP) or the process restarts (local queue).
        tracing::error!(error = %e, "could not dead-letter");
    }
}
