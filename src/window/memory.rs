//! [`WindowStore`] in the process's memory: the embedded default and the
//! store `ishara rules test` replays on. One process, so one mutex; nothing
//! is awaited while it is held.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{Claim, Measure, Observation, Series, Shape, WindowError, WindowStore};

/// How often (in `now` time) every series is trimmed, so that a series no
/// report touches again is still forgotten once its retention has passed.
const SWEEP_EVERY_MS: i64 = 60_000;

/// Window counts sum per-bucket totals instead of walking every member, so
/// a 24 h window of millions of members costs about this many map steps.
const BUCKETS_PER_WINDOW: i64 = 512;

#[derive(Default)]
pub struct MemoryWindows {
    inner: Mutex<Inner>,
}

impl MemoryWindows {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many series hold members: what bounds this store's memory.
    pub fn series_count(&self) -> usize {
        self.lock().series.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held leaves maps that are each still
        // consistent (every update is a single insert or remove), so going on
        // beats poisoning every later report.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct Inner {
    series: HashMap<Series, SeriesState>,
    /// rule -> its group index.
    groups: HashMap<String, GroupIndex>,
    holds: HashMap<Series, String>,
    /// series -> cooldown end.
    cooldowns: HashMap<Series, i64>,
    next_sweep_ms: i64,
}

struct GroupIndex {
    /// group -> last report time.
    last: HashMap<String, i64>,
    retain_ms: i64,
}

struct SeriesState {
    members: HashMap<String, i64>,
    /// The same members by time; ties in member order, as Redis sorts them.
    by_time: BTreeSet<(i64, String)>,
    /// bucket -> members in it; a bucket spans `bucket_ms` from `k·bucket_ms`.
    buckets: BTreeMap<i64, u64>,
    bucket_ms: i64,
    /// sender -> latest event time: only the latest says whether a sender
    /// is in the current window, since windows only ever move forward.
    senders: HashMap<String, i64>,
    retain_ms: i64,
    window_ms: i64,
}

impl SeriesState {
    fn new(shape: &Shape) -> Self {
        Self {
            members: HashMap::new(),
            by_time: BTreeSet::new(),
            buckets: BTreeMap::new(),
            bucket_ms: (shape.window_ms / BUCKETS_PER_WINDOW).max(1),
            senders: HashMap::new(),
            retain_ms: shape.retain_ms,
            window_ms: shape.window_ms,
        }
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.senders.is_empty()
    }

    fn insert(&mut self, member: &str, at_ms: i64) -> bool {
        if self.members.contains_key(member) {
            return false;
        }
        self.members.insert(member.to_owned(), at_ms);
        self.by_time.insert((at_ms, member.to_owned()));
        *self
            .buckets
            .entry(at_ms.div_euclid(self.bucket_ms))
            .or_default() += 1;
        true
    }

    /// Drops members at or before `now - retain` and senders last seen at or
    /// before `now - window`: no window measured at `now` or later counts them.
    fn trim(&mut self, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(self.retain_ms);
        while let Some((at, _)) = self.by_time.first() {
            if *at > cutoff {
                break;
            }
            let (at, member) = self.by_time.pop_first().expect("a first member");
            self.members.remove(&member);
            let bucket = at.div_euclid(self.bucket_ms);
            if let Some(n) = self.buckets.get_mut(&bucket) {
                *n -= 1;
                if *n == 0 {
                    self.buckets.remove(&bucket);
                }
            }
        }
        let sender_cutoff = now_ms.saturating_sub(self.window_ms);
        self.senders.retain(|_, at| *at > sender_cutoff);
    }

    /// Members in `[from, to)`.
    fn count_exact(&self, from: i64, to: i64) -> u64 {
        if from >= to {
            return 0;
        }
        self.by_time
            .range((from, String::new())..(to, String::new()))
            .count() as u64
    }

    /// Members with event time in `(lo, hi]`.
    fn count(&self, lo: i64, hi: i64) -> u64 {
        let (from, to) = (lo.saturating_add(1), hi.saturating_add(1));
        let b = self.bucket_ms;
        if to.saturating_sub(from) <= 2 * b {
            return self.count_exact(from, to);
        }
        // Whole buckets inside [from, to) by their totals, the two ragged
        // ends member by member.
        let first_whole = from.div_euclid(b) + i64::from(from.rem_euclid(b) != 0);
        let end_whole = to.div_euclid(b);
        let whole: u64 = self
            .buckets
            .range(first_whole..end_whole)
            .map(|(_, n)| *n)
            .sum();
        whole + self.count_exact(from, first_whole * b) + self.count_exact(end_whole * b, to)
    }

    fn measure(&self, shape: &Shape, now_ms: i64, added: bool) -> Measure {
        let w = shape.window_ms;
        let counts = (0..i64::from(shape.windows))
            .map(|i| self.count(now_ms - (i + 1) * w, now_ms - i * w))
            .collect();
        let senders = if shape.senders {
            self.senders
                .values()
                .filter(|at| **at > now_ms - w && **at <= now_ms)
                .count() as u64
        } else {
            0
        };
        let evidence = self
            .by_time
            .range((now_ms - w + 1, String::new())..(now_ms + 1, String::new()))
            .take(shape.evidence as usize)
            .map(|(_, m)| m.clone())
            .collect();
        Measure {
            added,
            counts,
            senders,
            evidence,
            ..Measure::default()
        }
    }
}

fn empty_measure(shape: &Shape, added: bool) -> Measure {
    Measure {
        added,
        counts: vec![0; shape.windows as usize],
        ..Measure::default()
    }
}

impl Inner {
    /// Trims every series and group index; run at most once per
    /// [`SWEEP_EVERY_MS`] so a steady stream of reports pays little for it.
    fn sweep(&mut self, now_ms: i64) {
        if now_ms < self.next_sweep_ms {
            return;
        }
        self.next_sweep_ms = now_ms.saturating_add(SWEEP_EVERY_MS);
        self.series.retain(|_, s| {
            s.trim(now_ms);
            !s.is_empty()
        });
        self.groups.retain(|_, g| {
            let cutoff = now_ms.saturating_sub(g.retain_ms);
            g.last.retain(|_, at| *at > cutoff);
            !g.last.is_empty()
        });
        self.cooldowns.retain(|_, until| *until > now_ms);
    }

    /// What `claim` left on a series, for its measures.
    fn with_claim(&self, series: &Series, now_ms: i64, mut measure: Measure) -> Measure {
        measure.holder = self.holds.get(series).cloned();
        measure.cooling = self
            .cooldowns
            .get(series)
            .is_some_and(|until| *until > now_ms);
        measure
    }

    fn observe(&mut self, obs: &Observation, shape: &Shape, now_ms: i64) -> Measure {
        let cutoff = now_ms.saturating_sub(shape.retain_ms);
        // A member already past retention would be trimmed at once: it is
        // not added, and touches neither senders nor the group index.
        let fresh = obs.at_ms > cutoff;
        let state = self
            .series
            .entry(obs.series.clone())
            .or_insert_with(|| SeriesState::new(shape));
        let added = fresh && state.insert(&obs.member, obs.at_ms);
        if fresh
            && shape.senders
            && let Some(sender) = &obs.sender
        {
            let latest = state.senders.entry(sender.clone()).or_insert(obs.at_ms);
            *latest = (*latest).max(obs.at_ms);
        }
        state.trim(now_ms);
        let measure = state.measure(shape, now_ms, added);
        if state.is_empty() {
            self.series.remove(&obs.series);
        }
        if fresh && shape.track_groups {
            let index = self
                .groups
                .entry(obs.series.rule.clone())
                .or_insert_with(|| GroupIndex {
                    last: HashMap::new(),
                    retain_ms: shape.retain_ms,
                });
            index.retain_ms = shape.retain_ms;
            let last = index
                .last
                .entry(obs.series.group.clone())
                .or_insert(obs.at_ms);
            *last = (*last).max(obs.at_ms);
            index.last.retain(|_, at| *at > cutoff);
        }
        measure
    }

    fn measure(&mut self, series: &Series, shape: &Shape, now_ms: i64) -> Measure {
        let Some(state) = self.series.get_mut(series) else {
            return empty_measure(shape, false);
        };
        state.trim(now_ms);
        let measure = state.measure(shape, now_ms, false);
        if state.is_empty() {
            self.series.remove(series);
        }
        measure
    }
}

#[async_trait]
impl WindowStore for MemoryWindows {
    async fn observe(
        &self,
        batch: &[(Observation, &Shape)],
        now_ms: i64,
    ) -> Result<Vec<Measure>, WindowError> {
        let mut inner = self.lock();
        inner.sweep(now_ms);
        Ok(batch
            .iter()
            .map(|(obs, shape)| {
                let measure = inner.observe(obs, shape, now_ms);
                inner.with_claim(&obs.series, now_ms, measure)
            })
            .collect())
    }

    async fn measure(
        &self,
        batch: &[(Series, &Shape)],
        now_ms: i64,
    ) -> Result<Vec<Measure>, WindowError> {
        let mut inner = self.lock();
        inner.sweep(now_ms);
        Ok(batch
            .iter()
            .map(|(series, shape)| {
                let measure = inner.measure(series, shape, now_ms);
                inner.with_claim(series, now_ms, measure)
            })
            .collect())
    }

    async fn silent_groups(
        &self,
        rule: &str,
        seen_after_ms: i64,
        silent_since_ms: i64,
    ) -> Result<Vec<String>, WindowError> {
        let inner = self.lock();
        let Some(index) = inner.groups.get(rule) else {
            return Ok(Vec::new());
        };
        let mut found: Vec<(i64, &String)> = index
            .last
            .iter()
            .filter(|(_, at)| **at > seen_after_ms && **at <= silent_since_ms)
            .map(|(g, at)| (*at, g))
            .collect();
        // The order Redis gives: by last report time, then by name.
        found.sort();
        Ok(found.into_iter().map(|(_, g)| g.clone()).collect())
    }

    async fn claim(
        &self,
        series: &Series,
        alert_id: &str,
        cooldown_until_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, WindowError> {
        let mut inner = self.lock();
        if let Some(holder) = inner.holds.get(series) {
            return Ok(Claim::Held(holder.clone()));
        }
        if inner
            .cooldowns
            .get(series)
            .is_some_and(|until| *until > now_ms)
        {
            return Ok(Claim::CoolingDown);
        }
        inner.holds.insert(series.clone(), alert_id.to_owned());
        if cooldown_until_ms > now_ms {
            inner.cooldowns.insert(series.clone(), cooldown_until_ms);
        } else {
            inner.cooldowns.remove(series);
        }
        Ok(Claim::Won)
    }

    async fn release(&self, series: &Series, alert_id: &str) -> Result<(), WindowError> {
        let mut inner = self.lock();
        if inner.holds.get(series).is_some_and(|h| h == alert_id) {
            inner.holds.remove(series);
        }
        Ok(())
    }

    async fn mark_intact(&self) -> Result<(), WindowError> {
        Ok(())
    }

    /// Memory is lost only with the process, whose start rebuilds it.
    async fn is_intact(&self) -> Result<bool, WindowError> {
        Ok(true)
    }

    fn restorer(&self) -> Option<Arc<dyn WindowStore>> {
        None
    }

    async fn clear(&self) -> Result<(), WindowError> {
        *self.lock() = Inner::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(window_ms: i64) -> Shape {
        Shape {
            window_ms,
            windows: 1,
            senders: false,
            evidence: 0,
            track_groups: false,
            retain_ms: window_ms * 4,
        }
    }

    /// The bucketed count agrees with walking every member, across bucket
    /// edges, negative times and windows narrower than a bucket.
    #[test]
    fn bucketed_counts_match_a_plain_walk() {
        let mut s = SeriesState::new(&shape(1024));
        assert_eq!(s.bucket_ms, 2);
        let times: Vec<i64> = (0..400).map(|i| (i * 37) % 1500 - 300).collect();
        for (i, t) in times.iter().enumerate() {
            s.insert(&format!("m{i}"), *t);
        }
        for lo in (-320..1520).step_by(7) {
            for width in [0, 1, 2, 3, 4, 5, 9, 100, 1023, 2000] {
                let hi = lo + width;
                let plain = times.iter().filter(|t| **t > lo && **t <= hi).count() as u64;
                assert_eq!(s.count(lo, hi), plain, "({lo}, {hi}]");
            }
        }
    }

    #[test]
    fn trimming_keeps_bucket_totals_right() {
        let mut s = SeriesState::new(&shape(1024));
        for i in 0..1000 {
            s.insert(&format!("m{i}"), i);
        }
        // retain 4096: at now 4500 everything at or before 404 goes.
        s.trim(4500);
        assert_eq!(s.members.len(), 595);
        assert_eq!(s.buckets.values().sum::<u64>(), 595);
        assert_eq!(s.count(0, 2000), 595);
        s.trim(10_000);
        assert!(s.is_empty());
        assert!(s.buckets.is_empty());
    }
}
