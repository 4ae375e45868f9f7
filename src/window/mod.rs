//! Sliding-window counts per rule and group, and the claims that make one
//! firing one alert: in Redis when `redis.url` is set, in memory otherwise.
//! Both implement [`WindowStore`] and pass one conformance suite
//! (`tests/window_conformance.rs`).
//!
//! Times are event times in milliseconds since the epoch, and `now` is
//! always passed in, never read from a clock: `ishara rules test` runs the
//! same code on a fake clock.

use std::sync::Arc;

use async_trait::async_trait;

pub mod memory;
// Named like the crate it wraps: inside this crate the `redis` crate is
// always reached as `::redis`.
pub mod redis;

pub use self::redis::RedisWindows;
pub use memory::MemoryWindows;

/// The deployment's window store: Redis when a URL is configured (shared by
/// every worker), memory otherwise (one process only).
pub async fn open(redis_url: Option<&str>, prefix: &str) -> anyhow::Result<Arc<dyn WindowStore>> {
    Ok(match redis_url {
        Some(url) => Arc::new(RedisWindows::connect(url, prefix).await?),
        None => Arc::new(MemoryWindows::new()),
    })
}

/// One window series: a rule and one of its groups (`admin1=KE.30`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Series {
    pub rule: String,
    pub group: String,
}

/// What a rule keeps per series; the same for every series of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Length of one window.
    pub window_ms: i64,
    /// How many consecutive windows are counted, the current one first:
    /// 1, or 1 + the baseline windows of a spike.
    pub windows: u32,
    /// Keep distinct senders of the current window.
    pub senders: bool,
    /// At most this many members of the current window come back as
    /// evidence, oldest first.
    pub evidence: u32,
    /// Keep each group's last report time, for `silent_groups`.
    pub track_groups: bool,
    /// How long after its event time a member is kept: at least
    /// `window_ms * windows`, more for absence baselines.
    pub retain_ms: i64,
}

/// One report counted in one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub series: Series,
    /// The stored report's id: a redelivery or a gateway retry is the same
    /// stored report, so the same member, and is not counted again.
    pub member: String,
    /// Sender pseudonym, for distinct senders.
    pub sender: Option<String>,
    /// Event time.
    pub at_ms: i64,
}

/// A series as counted at `now`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measure {
    /// The observation added a member that was not there (always false from
    /// `measure`).
    pub added: bool,
    /// `counts[0]`: members with event time in `(now - window, now]`;
    /// `counts[i]`: in `(now - (i+1)·window, now - i·window]`.
    pub counts: Vec<u64>,
    /// Distinct senders in the current window (0 unless `shape.senders`).
    pub senders: u64,
    /// Members of the current window, oldest first, at most `shape.evidence`.
    pub evidence: Vec<String>,
    /// The alert holding the series, as `claim` left it: a series already
    /// held (or cooling down) need not be claimed, which spares a round
    /// trip per report while an alert fires.
    pub holder: Option<String>,
    /// The series is in its cooldown at `now`.
    pub cooling: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller fires: it must record the alert with the id it offered.
    Won,
    /// An alert for the series is firing already: its id.
    Held(String),
    /// The series fired within its cooldown and has been released since.
    CoolingDown,
}

#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// Redis unreachable or failing: worth retrying.
    #[error("window store unavailable: {0}")]
    Unavailable(String),
    /// The store lost what it held (Redis restarted empty, or flushed):
    /// nothing was changed, and nothing it says can be trusted until the
    /// windows are rebuilt from the database and marked intact.
    #[error("the window store lost its data; windows must be rebuilt")]
    Lost,
}

#[async_trait]
pub trait WindowStore: Send + Sync {
    /// Adds each observation to its series (a member already there is left
    /// as it is), trims what is older than the shape's retention, and
    /// measures the series at `now`. Each observation is one atomic step;
    /// a batch is one round trip. Results follow the batch order.
    async fn observe(
        &self,
        batch: &[(Observation, &Shape)],
        now_ms: i64,
    ) -> Result<Vec<Measure>, WindowError>;

    /// Measures series without adding anything: timers re-check firing
    /// alerts with it.
    async fn measure(
        &self,
        batch: &[(Series, &Shape)],
        now_ms: i64,
    ) -> Result<Vec<Measure>, WindowError>;

    /// Groups of `rule` (with `track_groups`) whose last report is in
    /// `(seen_after_ms, silent_since_ms]`: they reported, then fell silent.
    async fn silent_groups(
        &self,
        rule: &str,
        seen_after_ms: i64,
        silent_since_ms: i64,
    ) -> Result<Vec<String>, WindowError>;

    /// Atomically: if no alert holds the series and it is not cooling down,
    /// records `alert_id` as holding it, with the cooldown running until
    /// `cooldown_until_ms`. Holds last until `release`.
    async fn claim(
        &self,
        series: &Series,
        alert_id: &str,
        cooldown_until_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, WindowError>;

    /// Ends the hold of `alert_id` on the series (its alert resolved); the
    /// cooldown keeps running. A hold by another alert is left alone.
    async fn release(&self, series: &Series, alert_id: &str) -> Result<(), WindowError>;

    /// Records that the windows hold all they should: after a rebuild, or
    /// on a store that starts with nothing to hold.
    async fn mark_intact(&self) -> Result<(), WindowError>;

    /// Whether the store still holds what it was given since it was last
    /// marked intact.
    async fn is_intact(&self) -> Result<bool, WindowError>;

    /// A handle on the same windows that does not answer [`WindowError::Lost`]:
    /// what rebuilds them. `None` for a store that cannot lose its data
    /// without losing this process too.
    fn restorer(&self) -> Option<Arc<dyn WindowStore>>;

    /// Forgets everything (tests and `rules test` only).
    async fn clear(&self) -> Result<(), WindowError>;
}
