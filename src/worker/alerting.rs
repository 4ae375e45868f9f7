//! The rules engine and the outbox, side by side in the worker: each
//! firing and resolution the engine records is handed to the outbox as
//! soon as it is stored, and each timer tick first publishes what an
//! earlier crash or broker outage left unpublished. The engine itself
//! knows nothing of notifications.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::enrich::EnrichedReport;
use crate::notify::outbox::Outbox;
use crate::rules::engine::{Change, Engine, EngineError};
use crate::store::Inserted;

pub struct Alerting {
    engine: Arc<Engine>,
    outbox: Outbox,
}

impl Alerting {
    pub fn new(engine: Arc<Engine>, outbox: Outbox) -> Self {
        Self { engine, outbox }
    }

    /// Counts stored reports and publishes what they made fire.
    pub async fn observe_stored(
        &self,
        stored: &[(&EnrichedReport, Inserted)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>, EngineError> {
        let changes = self.engine.observe_stored(stored, now).await?;
        self.outbox.publish(&changes).await;
        Ok(changes)
    }

    /// Publishes leftovers, then fires silences and resolves what stopped
    /// holding. Leftovers go first, so a firing is announced before its
    /// resolution.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<Change>, EngineError> {
        if let Err(e) = self.outbox.sweep(now).await {
            tracing::warn!(error = %e, "unpublished alerts stay for the next tick");
        }
        let changes = self.engine.tick(now).await?;
        self.outbox.publish(&changes).await;
        Ok(changes)
    }
}
