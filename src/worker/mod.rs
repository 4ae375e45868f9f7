//! Takes reports off the queue, works out their language and place, and
//! stores them, acknowledging only after the commit. Storing is
//! idempotent, so a redelivery costs a no-op.
//!
//! Deliveries are handled in batches of what the queue has ready: one
//! blocking-pool task enriches a batch (the language models are CPU-bound
//! and must not stall the runtime's I/O), one statement stores it.

mod alerting;
mod parts;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

pub use alerting::Alerting;
pub use parts::assemble;

use crate::enrich::{EnrichedReport, Enricher};
use crate::queue::{Delivery, MessageQueue};
use crate::report::IncomingReport;
use crate::rules::engine::EngineError;
use crate::store::{Inserted, Store, StoreError};

const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(30);

pub struct Worker {
    queue: Arc<dyn MessageQueue>,
    store: Arc<dyn Store>,
    enrich: Enrich,
    rules: Arc<Alerting>,
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
    /// Queue messages per batch; 0 means `prefetch / threads`.
    pub batch_size: usize,
    pub concat_timeout: Duration,
    /// How often silences are looked for and firing alerts re-checked.
    pub evaluation_interval: Duration,
}

impl Worker {
    pub fn new(
        queue: Arc<dyn MessageQueue>,
        store: Arc<dyn Store>,
        enricher: Arc<Enricher>,
        rules: Arc<Alerting>,
        options: WorkerOptions,
    ) -> Self {
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Self {
            queue,
            store,
            enrich: Enrich {
                enricher,
                slots: Arc::new(tokio::sync::Semaphore::new(threads)),
            },
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
async fn run_timers(rules: Arc<Alerting>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(e) = rules.tick(chrono::Utc::now()).await {
            tracing::warn!(error = %e, "rule timers failed; trying again next tick");
        }
    }
}

/// The enricher as the async side sees it: work sent to the blocking pool,
/// at most `worker.threads` batches at once. More would not be faster:
/// lingua's threads share its models' locks, and two on two cores already
/// cost each a fifth of its speed.
#[derive(Clone)]
pub(crate) struct Enrich {
    enricher: Arc<Enricher>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Enrich {
    /// Enriches each report; a report the enricher panics on comes back as
    /// the reason, so that one bad report does not sink its batch.
    async fn all(&self, reports: Vec<IncomingReport>) -> Vec<Result<EnrichedReport, String>> {
        let enricher = self.enricher.clone();
        let count = reports.len();
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the slots are never closed");
        let enriched = tokio::task::spawn_blocking(move || {
            let enrichments = enricher.enrich_batch(&reports);
            reports
                .into_iter()
                .zip(enrichments)
                .map(|(report, enrichment)| {
                    enrichment.map(|enrichment| EnrichedReport { report, enrichment })
                })
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

/// Handles what the queue had ready. A delivery may hold several reports
/// (the API groups those that arrive together); it is settled once all of
/// them are stored or set aside.
async fn handle_batch(store: &dyn Store, enrich: &Enrich, rules: &Alerting, batch: Vec<Delivery>) {
    let mut owed: Vec<Owed> = batch.into_iter().map(Owed::new).collect();
    let mut wholes = Vec::new();
    for (message, debt) in owed.iter_mut().enumerate() {
        for (index, parsed) in debt.reports() {
            match parsed {
                Err(reason) => debt.refuse(index, reason),
                Ok(report) if report.part.is_some() => {
                    match retrying(|| parts::store_part(store, enrich, &report)).await {
                        Ok(Some((whole, inserted))) => count(rules, &[(&whole, inserted)]).await,
                        Ok(None) => {}
                        Err(e) => debt.refuse(index, e.to_string()),
                    }
                }
                Ok(report) => wholes.push(((message, index), report)),
            }
        }
    }
    if !wholes.is_empty() {
        let (sources, reports): (Vec<Source>, Vec<IncomingReport>) = wholes.into_iter().unzip();
        let mut ready = Vec::with_capacity(reports.len());
        for (source, enriched) in sources.into_iter().zip(enrich.all(reports).await) {
            match enriched {
                Ok(enriched) => ready.push((source, enriched)),
                Err(reason) => owed[source.0].refuse(source.1, reason),
            }
        }
        for ((message, index), reason) in store_batch(store, rules, ready).await {
            owed[message].refuse(index, reason);
        }
    }
    for debt in owed {
        debt.settle().await;
    }
}

/// Where a report came from: its delivery in the batch, and its place in
/// that delivery.
type Source = (usize, usize);

/// A delivery and the reports in it that could not be stored, with why.
struct Owed {
    delivery: Delivery,
    refused: Vec<(usize, String)>,
}

impl Owed {
    fn new(delivery: Delivery) -> Self {
        Self {
            delivery,
            refused: Vec::new(),
        }
    }

    /// Each report in the delivery, or why it is not one. A body that does
    /// not split into payloads is refused whole.
    fn reports(&mut self) -> Vec<(usize, Result<IncomingReport, String>)> {
        match self.delivery.payloads() {
            Ok(payloads) => payloads
                .into_iter()
                .map(|payload| {
                    crate::queue::codec::decode_report(payload).map_err(|e| e.to_string())
                })
                .enumerate()
                .collect(),
            Err(e) => {
                self.refused.push((WHOLE, e.to_string()));
                Vec::new()
            }
        }
    }

    fn refuse(&mut self, index: usize, reason: String) {
        self.refused.push((index, reason));
    }

    /// Acknowledges the delivery once every report in it is stored. A
    /// refused report is dead-lettered: the whole message if it is alone in
    /// it, else a copy of it alone, and then the rest is acknowledged.
    async fn settle(self) {
        let Self { delivery, refused } = self;
        let Some((_, first_reason)) = refused.first() else {
            return ack(delivery).await;
        };
        let payloads = delivery.payloads().unwrap_or_default();
        if payloads.len() <= 1 || refused.iter().any(|(index, _)| *index == WHOLE) {
            return dead_letter(delivery, first_reason).await;
        }
        for (index, reason) in &refused {
            tracing::error!(%reason, "dead-lettering one report of a grouped message");
            if let Err(e) = delivery.dead_letter_one(payloads[*index], reason).await {
                // Unsettled, the message comes again; what was stored of
                // it is then a duplicate.
                tracing::error!(error = %e, "could not dead-letter; the message will come again");
                return;
            }
        }
        ack(delivery).await
    }
}

/// Stands for the whole message in [`Owed::refused`].
const WHOLE: usize = usize::MAX;

/// Stores a batch in one statement. If the database refuses it, each
/// report is tried alone so that only the one it refuses is set aside.
/// Returns the refused reports with the reason.
async fn store_batch(
    store: &dyn Store,
    rules: &Alerting,
    batch: Vec<(Source, EnrichedReport)>,
) -> Vec<(Source, String)> {
    let (sources, reports): (Vec<Source>, Vec<EnrichedReport>) = batch.into_iter().unzip();
    if reports.is_empty() {
        return Vec::new();
    }
    match retrying(|| store.insert_reports(&reports)).await {
        Ok(outcomes) => {
            let stored: Vec<(&EnrichedReport, Inserted)> =
                reports.iter().zip(outcomes.iter().copied()).collect();
            count(rules, &stored).await;
            stored
                .iter()
                .for_each(|(report, outcome)| log_stored(report, *outcome));
            Vec::new()
        }
        Err(_) if reports.len() > 1 => {
            let mut refused = Vec::new();
            for (source, report) in sources.into_iter().zip(&reports) {
                match retrying(|| store.insert_report(report)).await {
                    Ok(outcome) => {
                        log_stored(report, outcome);
                        count(rules, &[(report, outcome)]).await;
                    }
                    Err(e) => refused.push((source, e.to_string())),
                }
            }
            refused
        }
        Err(e) => sources.into_iter().map(|s| (s, e.to_string())).collect(),
    }
}

/// Counts stored reports in their rules' windows before they are
/// acknowledged: a crash in between redelivers them, and counting is
/// idempotent. Duplicates are counted too (a no-op unless the first
/// delivery died before counting). Waits out Redis or database outages.
pub(crate) async fn count(rules: &Alerting, stored: &[(&EnrichedReport, Inserted)]) {
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

async fn ack(delivery: Delivery) {
    if let Err(e) = delivery.ack().await {
        // Stored but not acknowledged: it comes again and is a duplicate.
        tracing::warn!(error = %e, "ack failed after store");
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
