//! Counts reports into their rules' windows and fires alerts the moment a
//! condition holds; timers fire silences and resolve what no longer holds.
//!
//! Every decision that must happen once is made by the window store (a
//! member counted once, a series claimed once) or by the database (an
//! alert resolved once), never by this process alone, so any number of
//! workers can run this engine side by side. `now` is always passed in:
//! `ishara rules test` drives the same engine on a fake clock.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

mod book;
mod condition;
mod series;

pub use book::RuleBook;
pub use condition::shape_of;
use condition::{describe, fires, still_holds, window_of};
use series::{groups, parse_group, series, series_of};

use super::facts::Facts;
use super::matcher::RuleMatch;
use super::model::{Condition, GroupBy, Rule};
use crate::alert::{Alert, AlertDetails, AlertId, AlertState};
use crate::enrich::EnrichedReport;
use crate::store::{AlertQuery, Inserted, Store, StoreError, StoredReport};
use crate::window::{Claim, Measure, Observation, Series, Shape, WindowError, WindowStore};

/// Evidence kept with an alert: enough to read, bounded for huge windows.
pub const EVIDENCE: u32 = 100;

/// A step finding the windows lost again right after they were rebuilt
/// (Redis flushed twice) gives up and is retried by its caller.
const REBUILDS_PER_STEP: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Windows(#[from] WindowError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A hold in the window store that names no alert: written by
    /// something other than Ishara.
    #[error("the window store holds {0:?}, which is not an alert id")]
    NotAnAlertId(String),
}

fn holder_id(holder: &str) -> Result<AlertId, EngineError> {
    holder
        .parse()
        .map_err(|_| EngineError::NotAnAlertId(holder.to_owned()))
}

impl EngineError {
    /// Redis or the database down: the caller retries, the delivery stays
    /// owed meanwhile.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            EngineError::Windows(WindowError::Unavailable(_) | WindowError::Lost)
                | EngineError::Store(StoreError::Unavailable(_))
        )
    }
}

/// An alert that fired or resolved: what notifications are made from.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Fired(Alert),
    Resolved(Alert),
}

pub struct Engine {
    book: RwLock<Arc<RuleBook>>,
    windows: Arc<dyn WindowStore>,
    store: Arc<dyn Store>,
    lateness: chrono::Duration,
    /// Alerts this process knows are stored: a hold whose alert is not
    /// stored (a worker died between claim and insert) is recorded again.
    recorded: Mutex<HashSet<AlertId>>,
    /// Held to read or change windows, and taken whole to rebuild them
    /// after the window store lost its data: nothing in this process
    /// judges from half-rebuilt windows.
    rebuilding: tokio::sync::RwLock<()>,
}

/// One report counted in one series of one rule.
struct Counted<'a> {
    rule: usize,
    facts: &'a Facts<'a>,
    group: Vec<(GroupBy, String)>,
}

impl Engine {
    pub fn new(
        book: RuleBook,
        windows: Arc<dyn WindowStore>,
        store: Arc<dyn Store>,
        allowed_lateness: Duration,
    ) -> Self {
        Self {
            book: RwLock::new(Arc::new(book)),
            windows,
            store,
            lateness: chrono::Duration::from_std(allowed_lateness).unwrap_or(chrono::Duration::MAX),
            recorded: Mutex::new(HashSet::new()),
            rebuilding: tokio::sync::RwLock::new(()),
        }
    }

    pub fn book(&self) -> Arc<RuleBook> {
        self.book.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts new rules in force at once; reports already being counted
    /// finish under the old ones.
    pub fn replace(&self, book: RuleBook) {
        *self.book.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(book);
    }

    /// Counts a batch of reports and fires what their counts make hold.
    /// A report counted before (a redelivery) is not counted again, but
    /// what it makes hold is still claimed, so a worker that died between
    /// counting and firing is made good by the redelivery.
    pub async fn observe(
        &self,
        reports: &[Facts<'_>],
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>, EngineError> {
        self.intact(now, || self.count(&*self.windows, reports, now, true))
            .await
    }

    /// Runs `step` on windows that hold what the database says they should.
    /// A window store that lost its data (Redis restarted empty) refuses
    /// before changing anything; the windows are then rebuilt and the step
    /// run again, so lost state yields no resolution and no new firing.
    async fn intact<T, F, Fut>(&self, now: DateTime<Utc>, mut step: F) -> Result<T, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, EngineError>>,
    {
        for _ in 0..REBUILDS_PER_STEP {
            let reading = self.rebuilding.read().await;
            match step().await {
                Err(EngineError::Windows(WindowError::Lost)) => {
                    drop(reading);
                    self.recover(now).await?;
                }
                other => return other,
            }
        }
        Err(EngineError::Windows(WindowError::Lost))
    }

    /// Rebuilds lost windows once, however many steps found them lost.
    async fn recover(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let _alone = self.rebuilding.write().await;
        if self.windows.is_intact().await? {
            return Ok(());
        }
        let Some(restorer) = self.windows.restorer() else {
            return Err(EngineError::Windows(WindowError::Lost));
        };
        tracing::warn!(
            "the window store lost its data: rebuilding windows, holds and cooldowns from the database"
        );
        let replayed = self.rebuild_into(&*restorer, now).await?;
        self.windows.mark_intact().await?;
        tracing::info!(replayed, "windows rebuilt");
        Ok(())
    }

    /// Counts reports just stored, as the worker hands them over with what
    /// the store said of each. A duplicate (a gateway retry, a broker
    /// redelivery) is counted as the copy first stored: its id, text,
    /// sender, times and place, whatever the retry says. A resent id must
    /// not turn "all quiet" into evidence of a flood.
    pub async fn observe_stored(
        &self,
        stored: &[(&EnrichedReport, Inserted)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>, EngineError> {
        let firsts = self.first_copies(stored).await?;
        let facts: Vec<Facts> = stored
            .iter()
            .filter_map(|(report, outcome)| match outcome {
                Inserted::New => Some(Facts::from_enriched(report)),
                Inserted::Duplicate => {
                    let first = firsts.get(&report.report.dedup_key()).map(Facts::from_stored);
                    if first.is_none() {
                        tracing::warn!(id = %report.report.id, "a duplicate whose first copy is not stored: not counted");
                    }
                    first
                }
            })
            .collect();
        self.observe(&facts, now).await
    }

    /// The stored first copy of each duplicate, by dedup key.
    async fn first_copies(
        &self,
        stored: &[(&EnrichedReport, Inserted)],
    ) -> Result<HashMap<String, StoredReport>, EngineError> {
        let duplicates: Vec<String> = stored
            .iter()
            .filter(|(_, outcome)| *outcome == Inserted::Duplicate)
            .map(|(report, _)| report.report.dedup_key())
            .collect();
        if duplicates.is_empty() {
            return Ok(HashMap::new());
        }
        let first_ids = self.store.report_ids(&duplicates).await?;
        let ids: Vec<String> = first_ids.values().cloned().collect();
        let mut by_id: HashMap<String, StoredReport> = self
            .store
            .reports_by_ids(&ids)
            .await?
            .into_iter()
            .map(|report| (report.id.clone(), report))
            .collect();
        Ok(first_ids
            .into_iter()
            .filter_map(|(key, id)| by_id.remove(&id).map(|report| (key, report)))
            .collect())
    }

    /// Counts without firing: rebuilding windows from stored reports.
    pub async fn replay(
        &self,
        reports: &[Facts<'_>],
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        self.count(&*self.windows, reports, now, false)
            .await
            .map(|_| ())
    }

    async fn count(
        &self,
        windows: &dyn WindowStore,
        reports: &[Facts<'_>],
        now: DateTime<Utc>,
        fire: bool,
    ) -> Result<Vec<Change>, EngineError> {
        let book = self.book();
        let counted = self.counted(&book, reports, now, fire);
        if counted.is_empty() {
            return Ok(Vec::new());
        }
        let observations: Vec<(Observation, &Shape)> = counted
            .iter()
            .map(|c| {
                let observation = Observation {
                    series: series(&book.rules[c.rule], &c.group),
                    member: c.facts.id.to_string(),
                    sender: c.facts.sender.map(str::to_owned),
                    at_ms: c.facts.at.timestamp_millis(),
                };
                (observation, &book.counting[c.rule])
            })
            .collect();
        let measures = windows
            .observe(&observations, now.timestamp_millis())
            .await?;
        if !fire {
            return Ok(Vec::new());
        }
        let mut changes = Vec::new();
        // A series claimed earlier in this batch was measured before the
        // claim: it is not claimed again.
        let mut claimed: HashSet<&Series> = HashSet::new();
        for ((c, (observation, _)), measure) in counted.iter().zip(&observations).zip(&measures) {
            let rule = &book.rules[c.rule];
            let Some(value) = fires(&rule.condition, measure, true) else {
                continue;
            };
            if claimed.contains(&observation.series) || !self.worth_claiming(measure).await? {
                continue;
            }
            claimed.insert(&observation.series);
            let shape = &book.shapes[c.rule];
            if let Some(alert) = self
                .claim(rule, shape, &observation.series, &c.group, value, now)
                .await?
            {
                changes.push(Change::Fired(alert));
            }
        }
        Ok(changes)
    }

    /// Which rules each report counts for, in which groups. A report later
    /// than the allowed lateness when it is counted counts for nothing; when
    /// windows are rebuilt, the same report is left out again, judged by
    /// when it arrived rather than by the time of the rebuild.
    fn counted<'a>(
        &self,
        book: &RuleBook,
        reports: &'a [Facts<'a>],
        now: DateTime<Utc>,
        live: bool,
    ) -> Vec<Counted<'a>> {
        let mut counted = Vec::new();
        let mut matches: Vec<RuleMatch> = Vec::new();
        for facts in reports {
            let counted_at = if live && !facts.stored_before {
                now
            } else {
                facts.received_at
            };
            if facts.at < counted_at - self.lateness {
                if live {
                    tracing::info!(id = %facts.id, at = %facts.at, "report later than rules.allowed_lateness_secs: stored, not counted");
                }
                continue;
            }
            matches.clear();
            book.matcher.matches(&facts.subject(), &mut matches);
            for m in &matches {
                let rule = &book.rules[m.rule];
                for group in groups(rule, facts, m) {
                    counted.push(Counted {
                        rule: m.rule,
                        facts,
                        group,
                    });
                }
            }
        }
        counted
    }

    /// Claims the series for a new alert and records it; `None` when an
    /// alert already holds it or it is cooling down.
    async fn claim(
        &self,
        rule: &Rule,
        shape: &Shape,
        series: &Series,
        group: &[(GroupBy, String)],
        value: f64,
        now: DateTime<Utc>,
    ) -> Result<Option<Alert>, EngineError> {
        let id = AlertId::new();
        let cooldown = chrono::Duration::from_std(rule.cooldown).unwrap_or(chrono::Duration::MAX);
        let until = now.checked_add_signed(cooldown).unwrap_or(now);
        let probe = [(series.clone(), shape)];
        // The evidence is read beside the claim, not after it: one round
        // trip instead of two on the way to recording the alert.
        let (claim, measured) = tokio::join!(
            self.windows.claim(
                series,
                id.as_str(),
                until.timestamp_millis(),
                now.timestamp_millis(),
            ),
            self.windows.measure(&probe, now.timestamp_millis()),
        );
        let alert_id = match claim? {
            Claim::CoolingDown => return Ok(None),
            Claim::Won => id.clone(),
            // Its claimer may have died before storing it, or may be
            // storing it right now: both store the same id, and only the
            // insert that lands announces it.
            Claim::Held(holder) => {
                let holder = holder_id(&holder)?;
                if self.is_stored(&holder).await? {
                    return Ok(None);
                }
                holder
            }
        };
        let evidence = measured?.pop().map(|m| m.evidence).unwrap_or_default();
        let alert = Alert {
            id: alert_id,
            rule: rule.id.clone(),
            group: series.group.clone(),
            state: AlertState::Firing,
            severity: rule.severity,
            fired_at: now,
            resolved_at: None,
            value,
            evidence,
            resolved_evidence: None,
            details: details(rule, group),
        };
        if alert.id != id {
            tracing::info!(alert = %alert.id, rule = %rule.id, "storing an alert claimed by another worker, in case it died");
        }
        self.record(alert).await
    }

    /// Stores a claimed alert; `None` when the same alert was stored first,
    /// by its claimer or by a worker that took it over. Only the insert
    /// that lands announces it, so it fires once.
    async fn record(&self, alert: Alert) -> Result<Option<Alert>, EngineError> {
        let inserted = self.store.insert_alert(&alert).await?;
        self.mark_recorded(&alert.id);
        if inserted == Inserted::Duplicate {
            return Ok(None);
        }
        tracing::info!(alert = %alert.id, rule = %alert.rule, group = %alert.group, value = alert.value, "alert fired");
        Ok(Some(alert))
    }

    /// Fires silences and resolves alerts whose condition stopped holding.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<Change>, EngineError> {
        let mut changes = self.intact(now, || self.fire_silences(now)).await?;
        changes.extend(self.intact(now, || self.resolve(now)).await?);
        Ok(changes)
    }

    async fn fire_silences(&self, now: DateTime<Utc>) -> Result<Vec<Change>, EngineError> {
        let book = self.book();
        let mut changes = Vec::new();
        for (index, rule) in book.rules.iter().enumerate() {
            let Condition::Absence { baseline, silence } = rule.condition else {
                continue;
            };
            let seen_after = now - chrono::Duration::from_std(baseline).unwrap_or_default();
            let silent_since = now - chrono::Duration::from_std(silence).unwrap_or_default();
            let groups = self
                .windows
                .silent_groups(
                    rule.id.as_str(),
                    seen_after.timestamp_millis(),
                    silent_since.timestamp_millis(),
                )
                .await?;
            let shape = &book.shapes[index];
            let probes: Vec<(Series, &Shape)> = groups
                .into_iter()
                .map(|group| {
                    let series = Series {
                        rule: rule.id.as_str().to_owned(),
                        group,
                    };
                    (series, shape)
                })
                .collect();
            // Silences already firing are most of them, tick after tick:
            // one pipelined measure tells which are free to claim.
            let measures = self
                .windows
                .measure(&probes, now.timestamp_millis())
                .await?;
            for ((series, _), measure) in probes.iter().zip(&measures) {
                if !self.worth_claiming(measure).await? {
                    continue;
                }
                let fields = parse_group(&series.group);
                if let Some(alert) = self
                    .claim(rule, shape, series, &fields, silence.as_secs_f64(), now)
                    .await?
                {
                    changes.push(Change::Fired(alert));
                }
            }
        }
        Ok(changes)
    }

    async fn resolve(&self, now: DateTime<Utc>) -> Result<Vec<Change>, EngineError> {
        let book = self.book();
        let firing = self
            .store
            .list_alerts(&AlertQuery {
                limit: 10_000,
                state: Some(AlertState::Firing),
                ..AlertQuery::default()
            })
            .await?;
        let mut checks = Vec::new();
        let mut orphans = Vec::new();
        for alert in firing {
            match book.get(alert.rule.as_str()) {
                Some((rule, shape)) => checks.push((alert, rule, shape)),
                // Its rule was deleted or renamed: nothing can resolve it later.
                None => orphans.push(alert),
            }
        }
        let queries: Vec<(Series, &Shape)> = checks
            .iter()
            .map(|(alert, _, shape)| (series_of(alert), *shape))
            .collect();
        let measures = self
            .windows
            .measure(&queries, now.timestamp_millis())
            .await?;
        let mut changes = Vec::new();
        for ((alert, rule, _), measure) in checks.into_iter().zip(measures) {
            if !still_holds(&rule.condition, &measure) {
                changes.extend(self.resolve_one(alert, measure.evidence, now).await?);
            }
        }
        for alert in orphans {
            changes.extend(self.resolve_one(alert, Vec::new(), now).await?);
        }
        Ok(changes)
    }

    async fn resolve_one(
        &self,
        mut alert: Alert,
        evidence: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, EngineError> {
        let series = series_of(&alert);
        // The database decides who resolves; whoever did, the hold ends.
        let resolved_here = self.store.resolve_alert(&alert.id, now, &evidence).await?;
        self.windows.release(&series, alert.id.as_str()).await?;
        if !resolved_here {
            return Ok(None);
        }
        tracing::info!(alert = %alert.id, rule = %alert.rule, group = %alert.group, "alert resolved");
        alert.state = AlertState::Resolved;
        alert.resolved_at = Some(now);
        alert.resolved_evidence = Some(evidence);
        Ok(Some(Change::Resolved(alert)))
    }

    /// In-memory windows start empty: count again what was stored within
    /// the longest window, and restore holds and cooldowns from stored
    /// alerts, so a restart neither forgets a cluster nor repeats an alert.
    pub async fn rebuild(&self, now: DateTime<Utc>) -> Result<usize, EngineError> {
        let replayed = self.rebuild_into(&*self.windows, now).await?;
        self.windows.mark_intact().await?;
        Ok(replayed)
    }

    async fn rebuild_into(
        &self,
        windows: &dyn WindowStore,
        now: DateTime<Utc>,
    ) -> Result<usize, EngineError> {
        let book = self.book();
        let back = chrono::Duration::from_std(book.longest_retention()).unwrap_or_default()
            + self.lateness;
        let mut after: Option<String> = None;
        let mut replayed = 0;
        loop {
            let page = self
                .store
                .reports_received_since(now - back, after.as_deref(), 1000)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let facts: Vec<Facts> = page.iter().map(Facts::from_stored).collect();
            self.count(windows, &facts, now, false).await?;
            replayed += facts.len();
        }
        let cooldown = chrono::Duration::from_std(book.longest_cooldown()).unwrap_or_default();
        for alert in self.store.alerts_to_restore(now - cooldown).await? {
            let Some((rule, _)) = book.get(alert.rule.as_str()) else {
                continue;
            };
            let series = series_of(&alert);
            let until =
                alert.fired_at + chrono::Duration::from_std(rule.cooldown).unwrap_or_default();
            windows
                .claim(
                    &series,
                    alert.id.as_str(),
                    until.timestamp_millis(),
                    alert.fired_at.timestamp_millis(),
                )
                .await?;
            if alert.state == AlertState::Resolved {
                windows.release(&series, alert.id.as_str()).await?;
            }
            self.mark_recorded(&alert.id);
        }
        Ok(replayed)
    }

    /// Whether a series whose condition holds may fire: not while it
    /// cools down, and not while an alert that is stored holds it. A hold
    /// whose alert is not stored (its worker died between claim and insert)
    /// is worth claiming: the claim returns it, and it is stored then.
    async fn worth_claiming(&self, measure: &Measure) -> Result<bool, EngineError> {
        if measure.cooling {
            return Ok(false);
        }
        match &measure.holder {
            Some(holder) => Ok(!self.is_stored(&holder_id(holder)?).await?),
            None => Ok(true),
        }
    }

    async fn is_stored(&self, alert: &AlertId) -> Result<bool, EngineError> {
        if self.is_recorded(alert) {
            return Ok(true);
        }
        let stored = self.store.alert(alert).await?.is_some();
        if stored {
            self.mark_recorded(alert);
        }
        Ok(stored)
    }

    fn is_recorded(&self, alert: &AlertId) -> bool {
        self.recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(alert)
    }

    fn mark_recorded(&self, alert: &AlertId) {
        let mut recorded = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: forgetting only costs one lookup in the store.
        if recorded.len() > 100_000 {
            recorded.clear();
        }
        recorded.insert(alert.clone());
    }
}

fn details(rule: &Rule, group: &[(GroupBy, String)]) -> AlertDetails {
    AlertDetails {
        description: rule.description.clone(),
        group: group
            .iter()
            .map(|(by, value)| (by.as_str().to_owned(), value.clone()))
            .collect(),
        labels: rule.labels.clone(),
        notify: rule.notify.clone(),
        template: rule.template.clone(),
        condition: describe(&rule.condition),
        window: Some(humantime::format_duration(window_of(&rule.condition)).to_string()),
    }
}

/// The engine on its real parts (in-memory windows, an in-memory SQLite
/// store): what happens when a worker dies half-way, and to duplicates.
#[cfg(test)]
mod recovery_tests {
    use super::*;
    use crate::enrich::{Enrichment, PlaceGuess};
    use crate::report::{IncomingReport, ReportId, Source, SourceId, Text};
    use crate::rules::load::{Known, load_str};
    use crate::store::SqliteStore;
    use crate::window::MemoryWindows;

    const RULE: &str = "- id: floods\n  match: { keywords: [flood] }\n  window: 1h\n  when: { count: { gte: 2 } }\n";

    async fn engine() -> (Engine, Arc<dyn Store>, Arc<MemoryWindows>) {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::connect("sqlite::memory:", 1).await.unwrap());
        store.migrate().await.unwrap();
        let windows = Arc::new(MemoryWindows::new());
        let rules = load_str(std::path::Path::new("t.yaml"), RULE, &Known::default()).unwrap();
        let engine = Engine::new(
            RuleBook::new(rules),
            windows.clone(),
            store.clone(),
            Duration::from_secs(3600),
        );
        (engine, store, windows)
    }

    fn report(source_id: &str, at: DateTime<Utc>) -> EnrichedReport {
        EnrichedReport {
            report: IncomingReport {
                id: ReportId::new(),
                source: Source::new("twilio"),
                source_id: SourceId::given(source_id).unwrap(),
                sender: None,
                sender_pseudonym: None,
                recipient: None,
                text: Text::parse("flood at the bridge").unwrap(),
                sent_at: Some(at),
                received_at: at,
                location: None,
                meta: Default::default(),
                part: None,
            },
            enrichment: Enrichment {
                place: PlaceGuess::none(),
                ..Enrichment::nothing()
            },
        }
    }

    async fn store_and_count(
        engine: &Engine,
        store: &Arc<dyn Store>,
        report: &EnrichedReport,
        now: DateTime<Utc>,
    ) -> Vec<Change> {
        let inserted = store.insert_report(report).await.unwrap();
        engine
            .observe_stored(&[(report, inserted)], now)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_gateway_retry_is_counted_under_the_first_copy() {
        let (engine, store, _) = engine().await;
        let now = Utc::now();
        let first = report("SM1", now);
        assert!(
            store_and_count(&engine, &store, &first, now)
                .await
                .is_empty()
        );
        // The retry has a new id of ours, but the same gateway id.
        let retry = report("SM1", now);
        assert!(
            store_and_count(&engine, &store, &retry, now)
                .await
                .is_empty()
        );
        let other = report("SM2", now);
        let fired = store_and_count(&engine, &store, &other, now).await;
        let [Change::Fired(alert)] = fired.as_slice() else {
            panic!("one alert expected: {fired:?}");
        };
        let mut evidence = alert.evidence.clone();
        evidence.sort();
        let mut expected = vec![first.report.id.to_string(), other.report.id.to_string()];
        expected.sort();
        assert_eq!(
            evidence, expected,
            "the retry is the first copy, not a third report"
        );
    }

    /// Two reports stored and counted, and the series they make hold
    /// claimed by an alert not stored yet: the second report and the
    /// claiming alert's id.
    async fn counted_and_claimed(
        engine: &Engine,
        store: &Arc<dyn Store>,
        windows: &MemoryWindows,
        now: DateTime<Utc>,
    ) -> (EnrichedReport, AlertId) {
        let a = report("SM1", now);
        let b = report("SM2", now);
        store.insert_report(&a).await.unwrap();
        store.insert_report(&b).await.unwrap();
        engine
            .replay(&[Facts::from_enriched(&a), Facts::from_enriched(&b)], now)
            .await
            .unwrap();
        let series = Series {
            rule: "floods".into(),
            group: String::new(),
        };
        let claimed = AlertId::new();
        let claim = windows.claim(
            &series,
            claimed.as_str(),
            now.timestamp_millis(),
            now.timestamp_millis(),
        );
        assert_eq!(claim.await.unwrap(), Claim::Won);
        (b, claimed)
    }

    #[tokio::test]
    async fn a_claim_whose_alert_was_never_stored_is_stored_by_the_redelivery() {
        let (engine, store, windows) = engine().await;
        let now = Utc::now();
        // A worker counted two reports, claimed the series, and died before
        // storing the alert.
        let (b, lost) = counted_and_claimed(&engine, &store, &windows, now).await;

        // The broker redelivers the second report.
        let fired = store_and_count(&engine, &store, &b, now).await;
        assert!(matches!(fired.as_slice(), [Change::Fired(alert)] if alert.id == lost));
        assert!(store.alert(&lost).await.unwrap().is_some());
        // Once stored, further reports leave it alone.
        let c = report("SM3", now);
        assert!(store_and_count(&engine, &store, &c, now).await.is_empty());
    }

    fn saying(
        source_id: &str,
        text: &str,
        now: DateTime<Utc>,
        sent_at: Option<DateTime<Utc>>,
    ) -> EnrichedReport {
        let mut report = report(source_id, now);
        report.report.text = Text::parse(text).unwrap();
        report.report.sent_at = sent_at;
        report
    }

    fn sorted_evidence(changes: &[Change]) -> Vec<String> {
        let [Change::Fired(alert)] = changes else {
            panic!("one alert expected: {changes:?}");
        };
        let mut evidence = alert.evidence.clone();
        evidence.sort();
        evidence
    }

    #[tokio::test]
    async fn a_resent_id_counts_as_its_stored_text_not_its_new_one() {
        let (engine, store, _) = engine().await;
        let now = Utc::now();
        let quiet = saying("SM1", "all quiet at the bridge", now, None);
        assert!(
            store_and_count(&engine, &store, &quiet, now)
                .await
                .is_empty()
        );
        let resent = saying("SM1", "flood at the bridge", now, None);
        assert!(
            store_and_count(&engine, &store, &resent, now)
                .await
                .is_empty()
        );
        let second = saying("SM2", "flood at the bridge", now, None);
        assert!(
            store_and_count(&engine, &store, &second, now)
                .await
                .is_empty(),
            "the quiet report must not be the first flood report"
        );
        let third = saying("SM3", "flood at the bridge", now, None);
        let fired = store_and_count(&engine, &store, &third, now).await;
        let mut expected = vec![second.report.id.to_string(), third.report.id.to_string()];
        expected.sort();
        assert_eq!(sorted_evidence(&fired), expected);
    }

    #[tokio::test]
    async fn a_late_report_resent_without_its_sent_time_stays_late() {
        let (engine, store, _) = engine().await;
        let now = Utc::now();
        let late = saying(
            "SM1",
            "flood at the bridge",
            now,
            Some(now - chrono::Duration::hours(3)),
        );
        assert!(
            store_and_count(&engine, &store, &late, now)
                .await
                .is_empty()
        );
        let resent = saying("SM1", "flood at the bridge", now, None);
        assert!(
            store_and_count(&engine, &store, &resent, now)
                .await
                .is_empty()
        );
        let second = saying("SM2", "flood at the bridge", now, None);
        assert!(
            store_and_count(&engine, &store, &second, now)
                .await
                .is_empty(),
            "the late report must not count through its copy"
        );
        let third = saying("SM3", "flood at the bridge", now, None);
        let fired = store_and_count(&engine, &store, &third, now).await;
        let mut expected = vec![second.report.id.to_string(), third.report.id.to_string()];
        expected.sort();
        assert_eq!(sorted_evidence(&fired), expected);
    }

    #[tokio::test]
    async fn a_claimer_that_stores_after_a_takeover_announces_nothing() {
        let (engine, store, windows) = engine().await;
        let now = Utc::now();
        // The claimer wins the series and is still on its way to the
        // database when a redelivery sees the claim unstored.
        let (b, claimed) = counted_and_claimed(&engine, &store, &windows, now).await;
        let taken_over = store_and_count(&engine, &store, &b, now).await;
        assert!(matches!(taken_over.as_slice(), [Change::Fired(alert)] if alert.id == claimed));

        let mut late = store.alert(&claimed).await.unwrap().unwrap();
        late.fired_at = now + chrono::Duration::milliseconds(5);
        assert!(
            engine.record(late).await.unwrap().is_none(),
            "the claimer's own insert lands second and must not fire again"
        );
        assert_eq!(
            store
                .list_alerts(&AlertQuery {
                    limit: 10,
                    ..AlertQuery::default()
                })
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
