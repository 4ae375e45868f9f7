//! The conformance suite of [`WindowStore`]: every case is one generic
//! function, run against Redis (`RedisWindows` under a unique key prefix,
//! its keys deleted at the end) and against `MemoryWindows`. Both must pass
//! all of it.
//!
//! "Two workers" are two stores on the same data: two `RedisWindows`
//! connected with the same prefix, or two handles on one `MemoryWindows`
//! (in memory, only one process can share it).
//!
//! Times are around 2023-11 in milliseconds, so that the Redis scripts see
//! realistic 13-digit numbers, and `now` is always a fake clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ishara::window::{
    Claim, Measure, MemoryWindows, Observation, RedisWindows, Series, Shape, WindowError,
    WindowStore,
};
use tokio::time::timeout;

/// A whole case, so that no test can hang.
const CASE_LIMIT: Duration = Duration::from_secs(60);

/// A fake "now" far from Redis's own clock.
const T: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------- backends

#[async_trait]
trait Backend: Send + Sync {
    /// What a worker does at start-up: opens the store.
    async fn open(&self) -> Arc<dyn WindowStore>;

    /// Whether the store holds nothing for `series` (its members and
    /// senders are gone, not merely outside the windows).
    async fn forgot(&self, series: &Series) -> bool;
}

struct Redis {
    url: String,
    prefix: String,
}

impl Redis {
    fn new() -> Self {
        Self {
            url: common::redis_url(),
            prefix: format!("{}:", common::unique("ishara-test")),
        }
    }

    async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers")
    }

    /// Every key under this test's prefix.
    async fn keys(&self) -> Vec<String> {
        let mut con = self.raw().await;
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await
                .expect("SCAN");
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }
}

#[async_trait]
impl Backend for Redis {
    async fn open(&self) -> Arc<dyn WindowStore> {
        let store = RedisWindows::connect(&self.url, &self.prefix)
            .await
            .expect("Redis answers");
        store.mark_intact().await.expect("Redis answers");
        Arc::new(store)
    }

    async fn forgot(&self, series: &Series) -> bool {
        // Both series keys carry the `{rule|group}` tag; the group is plain
        // in the cases that ask.
        let tag = format!("{{{}|{}}}", series.rule, series.group);
        !self.keys().await.iter().any(|k| k.contains(&tag))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        // Drop cannot await (and runs on panics too): a small runtime of its
        // own deletes the keys.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(async {
                    if let Ok(store) = RedisWindows::connect(&url, &prefix).await {
                        let _ = store.clear().await;
                    }
                })
        })
        .join();
    }
}

struct Memory {
    store: Arc<MemoryWindows>,
}

impl Memory {
    fn new() -> Self {
        Self {
            store: Arc::new(MemoryWindows::new()),
        }
    }
}

#[async_trait]
impl Backend for Memory {
    async fn open(&self) -> Arc<dyn WindowStore> {
        self.store.clone()
    }

    async fn forgot(&self, _series: &Series) -> bool {
        // Each case's store holds the asked series only.
        self.store.series_count() == 0
    }
}

// ----------------------------------------------------------------- helpers

fn series(rule: &str, group: &str) -> Series {
    Series {
        rule: rule.into(),
        group: group.into(),
    }
}

/// One window of `window_ms`, nothing else kept.
fn one_window(window_ms: i64) -> Shape {
    Shape {
        window_ms,
        windows: 1,
        senders: false,
        evidence: 0,
        track_groups: false,
        retain_ms: window_ms,
    }
}

fn obs(series: &Series, member: &str, at_ms: i64) -> Observation {
    Observation {
        series: series.clone(),
        member: member.into(),
        sender: None,
        at_ms,
    }
}

fn from(series: &Series, member: &str, sender: &str, at_ms: i64) -> Observation {
    Observation {
        sender: Some(sender.into()),
        ..obs(series, member, at_ms)
    }
}

async fn observe(
    store: &dyn WindowStore,
    batch: &[(Observation, &Shape)],
    now: i64,
) -> Vec<Measure> {
    let measures = store.observe(batch, now).await.expect("observe");
    assert_eq!(measures.len(), batch.len(), "one measure per observation");
    measures
}

async fn observe_one(store: &dyn WindowStore, o: Observation, shape: &Shape, now: i64) -> Measure {
    observe(store, &[(o, shape)], now).await.remove(0)
}

async fn measure(store: &dyn WindowStore, s: &Series, shape: &Shape, now: i64) -> Measure {
    let mut m = store
        .measure(&[(s.clone(), shape)], now)
        .await
        .expect("measure");
    assert_eq!(m.len(), 1);
    m.remove(0)
}

// ------------------------------------------------------------------- cases

/// Windows are `(now - (i+1)·w, now - i·w]`: the upper end is in, the lower
/// end is not, and a report from after `now` is in none yet.
async fn counts_follow_window_boundaries(backend: &dyn Backend) {
    let store = backend.open().await;
    let s = series("spike", "admin1=KE.30");
    let shape = Shape {
        windows: 3,
        retain_ms: 10_000,
        ..one_window(1_000)
    };
    let now = T + 10_000;
    let at = [
        ("upper", now),
        ("inside", now - 999),
        ("lower", now - 1_000),
        ("w1", now - 1_999),
        ("w2-upper", now - 2_000),
        ("beyond", now - 3_000),
        ("future", now + 1),
    ];
    let batch: Vec<_> = at
        .iter()
        .map(|(member, at)| (obs(&s, member, *at), &shape))
        .collect();
    let measures = observe(&*store, &batch, now).await;
    assert!(measures.iter().all(|m| m.added));
    assert_eq!(measures.last().unwrap().counts, vec![2, 2, 1]);
    assert_eq!(
        measure(&*store, &s, &shape, now).await.counts,
        vec![2, 2, 1]
    );

    let later = measure(&*store, &s, &shape, now + 1_000).await;
    assert_eq!(later.counts, vec![1, 2, 2], "the windows moved on by one");
    assert!(!later.added, "measure never adds");

    let unknown = measure(&*store, &series("spike", "elsewhere"), &shape, now).await;
    assert_eq!(
        unknown,
        Measure {
            counts: vec![0, 0, 0],
            ..Measure::default()
        }
    );
}

/// A redelivery (same member) is not counted again, in one batch or in
/// the next, even with another event time.
async fn a_member_is_counted_once(backend: &dyn Backend) {
    let store = backend.open().await;
    let s = series("threshold", "country=KE");
    let shape = one_window(60_000);
    let now = T;

    let first = observe_one(&*store, obs(&s, "twilio:SM1", now - 10), &shape, now).await;
    assert!(first.added);
    assert_eq!(first.counts, vec![1]);

    let again = observe_one(&*store, obs(&s, "twilio:SM1", now - 5), &shape, now).await;
    assert!(!again.added, "the same member again is not added");
    assert_eq!(again.counts, vec![1]);

    let batch = [
        (obs(&s, "twilio:SM2", now), &shape),
        (obs(&s, "twilio:SM2", now), &shape),
    ];
    let measures = observe(&*store, &batch, now).await;
    assert_eq!(
        measures
            .iter()
            .map(|m| (m.added, m.counts[0]))
            .collect::<Vec<_>>(),
        vec![(true, 2), (false, 2)]
    );

    // A second worker sees the same members.
    let other = backend.open().await;
    let m = observe_one(&*other, obs(&s, "twilio:SM1", now), &shape, now + 1).await;
    assert!(!m.added);
    assert_eq!(m.counts, vec![2]);
}

/// Distinct senders of the current window: one sender ten times is one.
async fn distinct_senders_count_once_each(backend: &dyn Backend) {
    let store = backend.open().await;
    let s = series("senders", "admin1=KE.07");
    let shape = Shape {
        senders: true,
        windows: 2,
        retain_ms: 2_000,
        ..one_window(1_000)
    };
    let now = T;
    let batch: Vec<_> = (0..10)
        .map(|i| (from(&s, &format!("m{i}"), "p-alice", now - 500 + i), &shape))
        .collect();
    let measures = observe(&*store, &batch, now).await;
    assert_eq!(measures[9].counts, vec![10, 0]);
    assert_eq!(measures[9].senders, 1);

    let m = observe_one(&*store, from(&s, "m10", "p-bob", now - 100), &shape, now).await;
    assert_eq!(m.senders, 2);
    let m = observe_one(&*store, obs(&s, "m11", now - 100), &shape, now).await;
    assert_eq!(
        (m.counts[0], m.senders),
        (12, 2),
        "no sender, no sender counted"
    );

    // 700 ms on, alice's reports (latest at now - 491) have left the
    // current window; bob's is still in it.
    let m = observe_one(
        &*store,
        from(&s, "m12", "p-carol", now + 600),
        &shape,
        now + 700,
    )
    .await;
    assert_eq!(m.counts, vec![3, 10]);
    assert_eq!(m.senders, 2);
    assert_eq!(measure(&*store, &s, &shape, now + 700).await.senders, 2);

    // A rule without senders counts none.
    let plain = one_window(1_000);
    let t = series("plain", "all");
    let m = observe_one(&*store, from(&t, "m1", "p-alice", now), &plain, now).await;
    assert_eq!(m.senders, 0);
}

/// Evidence: the current window's members, oldest first, at most
/// `evidence` of them.
async fn evidence_is_oldest_first_and_limited(backend: &dyn Backend) {
    let store = backend.open().await;
    let s = series("evidence", "admin1=KE.30,keyword=cholera");
    let shape = Shape {
        evidence: 3,
        windows: 2,
        retain_ms: 20_000,
        ..one_window(10_000)
    };
    let now = T;
    let batch: Vec<_> = [
        ("old", now - 10_000),
        ("e5", now - 1_000),
        ("e1", now - 9_999),
        ("e4", now - 2_000),
        ("e2", now - 8_000),
        ("e3", now - 8_000),
    ]
    .iter()
    .map(|(m, at)| (obs(&s, m, *at), &shape))
    .collect();
    let measures = observe(&*store, &batch, now).await;
    assert_eq!(measures[5].evidence, vec!["e1", "e2", "e3"]);
    assert_eq!(measures[5].counts, vec![5, 1]);
    assert_eq!(measures[1].evidence, vec!["e5"], "evidence as of that step");
    assert_eq!(
        measure(&*store, &s, &shape, now).await.evidence,
        vec!["e1", "e2", "e3"]
    );
    let none = Shape {
        evidence: 0,
        ..shape.clone()
    };
    assert!(measure(&*store, &s, &none, now).await.evidence.is_empty());
}

/// What is older than the retention is trimmed, and a series left empty
/// is forgotten: memory stays bounded.
async fn retention_trims_and_forgets(backend: &dyn Backend) {
    let store = backend.open().await;
    let s = series("retain", "g1");
    let shape = Shape {
        senders: true,
        windows: 2,
        retain_ms: 2_000,
        ..one_window(1_000)
    };
    let now = T;
    let m = observe_one(&*store, from(&s, "m1", "p-1", now), &shape, now).await;
    assert_eq!((m.counts.clone(), m.senders), (vec![1, 0], 1));
    let m = observe_one(
        &*store,
        from(&s, "m2", "p-2", now + 1_500),
        &shape,
        now + 1_500,
    )
    .await;
    assert_eq!(m.counts, vec![1, 1]);

    // At now + 2000, m1 (at now) is exactly retain old: trimmed.
    let m = observe_one(&*store, obs(&s, "m0", now - 1), &shape, now + 2_000).await;
    assert!(!m.added, "a member already past retention is not added");
    assert_eq!(m.counts, vec![1, 0]);

    // m1 was forgotten with its time: the same member, newly timed, is new.
    let m = observe_one(&*store, obs(&s, "m1", now + 1_900), &shape, now + 2_000).await;
    assert!(m.added);
    assert_eq!(m.counts, vec![2, 0]);
    assert_eq!(m.senders, 1, "p-2 is still in the current window");

    // Far later, one touch trims everything away, and the series is gone.
    let m = observe_one(&*store, obs(&s, "late", now), &shape, now + 60_000).await;
    assert_eq!(
        (m.added, m.counts.clone(), m.senders),
        (false, vec![0, 0], 0)
    );
    assert!(backend.forgot(&s).await, "an emptied series is forgotten");
}

/// Groups that reported within the baseline and not since.
async fn silent_groups_reported_then_fell_silent(backend: &dyn Backend) {
    let store = backend.open().await;
    let rule = "absence.weekly";
    let shape = Shape {
        track_groups: true,
        retain_ms: 100_000,
        ..one_window(1_000)
    };
    let odd = "admin1=KE.30,keyword=cholera|{x}%";
    let now = T + 50_000;
    let batch: Vec<_> = [
        ("too-early", T + 1_000),
        ("a", T + 2_000),
        (odd, T + 5_000),
        ("edge", T + 6_000),
        ("recent", T + 8_000),
        ("b", T + 3_000),
        ("b", T + 2_500),
    ]
    .iter()
    .enumerate()
    .map(|(i, (g, at))| (obs(&series(rule, g), &format!("m{i}"), *at), &shape))
    .collect();
    observe(&*store, &batch, now).await;
    // Another rule, and one that does not track groups: not in the answer.
    let other = Shape {
        track_groups: false,
        ..shape.clone()
    };
    observe(
        &*store,
        &[
            (obs(&series("absence.other", "a2"), "x", T + 2_000), &shape),
            (obs(&series("no-tracking", "a3"), "y", T + 2_000), &other),
        ],
        now,
    )
    .await;

    let silent = store
        .silent_groups(rule, T + 1_000, T + 6_000)
        .await
        .expect("silent groups");
    assert_eq!(silent, vec!["a", "b", odd, "edge"], "by last report time");

    // "a" reports again: it is no longer silent since T + 6000.
    observe_one(
        &*store,
        obs(&series(rule, "a"), "m9", T + 7_000),
        &shape,
        now,
    )
    .await;
    let silent = backend
        .open()
        .await
        .silent_groups(rule, T + 1_000, T + 6_000)
        .await
        .expect("silent groups");
    assert_eq!(silent, vec!["b", odd, "edge"]);
    assert!(
        store
            .silent_groups("no-tracking", T, now)
            .await
            .expect("silent groups")
            .is_empty()
    );
}

/// One firing, one alert: the first claim wins, every other one (from any
/// worker) sees the holder; after release the cooldown runs by `now`.
async fn claims_hold_then_cool_down(backend: &dyn Backend) {
    let one = backend.open().await;
    let two = backend.open().await;
    let s = series("spike", "admin1=KE.30");
    let now = T;
    let until = now + 3_600_000;

    assert_eq!(
        one.claim(&s, "alert-1", until, now).await.unwrap(),
        Claim::Won
    );
    assert_eq!(
        two.claim(&s, "alert-2", until, now + 1).await.unwrap(),
        Claim::Held("alert-1".into())
    );
    assert_eq!(
        one.claim(&s, "alert-1", until, now + 2).await.unwrap(),
        Claim::Held("alert-1".into()),
        "even its own id is held"
    );

    two.release(&s, "alert-2").await.unwrap();
    assert_eq!(
        two.claim(&s, "alert-3", until, now + 3).await.unwrap(),
        Claim::Held("alert-1".into()),
        "a release by another alert leaves the hold"
    );

    two.release(&s, "alert-1").await.unwrap();
    assert_eq!(
        one.claim(&s, "alert-4", until + 10, now + 60_000)
            .await
            .unwrap(),
        Claim::CoolingDown
    );
    assert_eq!(
        two.claim(&s, "alert-4", until + 10, until - 1)
            .await
            .unwrap(),
        Claim::CoolingDown,
        "the cooldown runs until its end"
    );
    assert_eq!(
        two.claim(&s, "alert-4", until + 10, until).await.unwrap(),
        Claim::Won,
        "at its end the cooldown is over"
    );
    assert_eq!(
        one.claim(&s, "alert-5", until + 10, until + 1)
            .await
            .unwrap(),
        Claim::Held("alert-4".into())
    );

    // Another series is claimed on its own; a claim with no cooldown
    // leaves none behind.
    let t = series("spike", "admin1=KE.07");
    assert_eq!(
        one.claim(&t, "alert-6", now, now).await.unwrap(),
        Claim::Won
    );
    one.release(&t, "alert-6").await.unwrap();
    assert_eq!(
        one.claim(&t, "alert-7", now, now).await.unwrap(),
        Claim::Won
    );
}

/// Measures carry what claims left, so a worker need not claim a series
/// that is held or cooling down.
async fn measures_show_holds_and_cooldowns(backend: &dyn Backend) {
    let one = backend.open().await;
    let two = backend.open().await;
    let s = series("cholera", "admin1=KE.16");
    let shape = one_window(60_000);
    let free = observe_one(&*one, obs(&s, "twilio:SM1", T), &shape, T).await;
    assert_eq!((free.holder, free.cooling), (None, false));

    assert_eq!(
        one.claim(&s, "alert-1", T + 600_000, T).await.unwrap(),
        Claim::Won
    );
    let held = observe_one(&*two, obs(&s, "twilio:SM2", T + 1), &shape, T + 1).await;
    assert_eq!(held.holder.as_deref(), Some("alert-1"));
    assert!(held.cooling);

    two.release(&s, "alert-1").await.unwrap();
    let cooling = measure(&*one, &s, &shape, T + 2).await;
    assert_eq!((cooling.holder, cooling.cooling), (None, true));
    let over = measure(&*two, &s, &shape, T + 600_000).await;
    assert_eq!((over.holder, over.cooling), (None, false));
}

/// Many workers claim one series at once: exactly one wins, and all the
/// others see that one.
async fn concurrent_claims_have_one_winner(backend: &dyn Backend) {
    let stores = [backend.open().await, backend.open().await];
    let s = series("spike", "admin1=KE.47");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = stores[i % 2].clone();
            let s = s.clone();
            tokio::spawn(async move {
                let id = format!("alert-{i}");
                let claim = store.claim(&s, &id, T + 60_000, T).await.expect("claim");
                (id, claim)
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    let winners: Vec<_> = results
        .iter()
        .filter(|(_, c)| *c == Claim::Won)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (_, claim) in &results {
        assert!(
            *claim == Claim::Won || *claim == Claim::Held(winners[0].clone()),
            "{results:?}"
        );
    }
}

/// A batch mixing series: each result is its own observation's.
async fn batch_results_follow_batch_order(backend: &dyn Backend) {
    let store = backend.open().await;
    let shape = one_window(60_000);
    let evidence = Shape {
        evidence: 10,
        ..shape.clone()
    };
    let (a, b, c) = (series("r", "a"), series("r", "b"), series("q", "a"));
    let now = T;
    let seed: Vec<_> = (0..3)
        .map(|i| (obs(&a, &format!("a{i}"), now - 100 + i), &shape))
        .collect();
    observe(&*store, &seed, now).await;

    let batch = [
        (obs(&b, "b0", now), &shape),
        (obs(&a, "a3", now), &evidence),
        (obs(&c, "c0", now), &evidence),
        (obs(&a, "a3", now), &shape),
        (obs(&b, "b1", now), &shape),
    ];
    let got: Vec<_> = observe(&*store, &batch, now)
        .await
        .into_iter()
        .map(|m| (m.added, m.counts[0], m.evidence))
        .collect();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        got,
        vec![
            (true, 1, vec![]),
            (true, 4, strings(&["a0", "a1", "a2", "a3"])),
            (true, 1, strings(&["c0"])),
            (false, 4, vec![]),
            (true, 2, vec![]),
        ]
    );

    let measured: Vec<_> = store
        .measure(
            &[(c.clone(), &shape), (a.clone(), &shape), (b, &shape)],
            now,
        )
        .await
        .expect("measure")
        .into_iter()
        .map(|m| m.counts[0])
        .collect();
    assert_eq!(measured, vec![1, 4, 2]);
    assert!(store.measure(&[], now).await.expect("measure").is_empty());
    assert!(store.observe(&[], now).await.expect("observe").is_empty());
}

/// `clear` forgets members, groups and claims.
async fn clear_forgets_everything(backend: &dyn Backend) {
    let store = backend.open().await;
    let s = series("absence", "g");
    let shape = Shape {
        track_groups: true,
        senders: true,
        ..one_window(1_000)
    };
    observe_one(&*store, from(&s, "m", "p", T), &shape, T).await;
    assert_eq!(
        store.claim(&s, "a1", T + 1_000, T).await.unwrap(),
        Claim::Won
    );
    store.clear().await.expect("clear");
    // Cleared is lost until said otherwise (a no-op for memory).
    store.mark_intact().await.expect("mark intact");
    assert_eq!(measure(&*store, &s, &shape, T).await.counts, vec![0]);
    assert!(
        store
            .silent_groups("absence", 0, T)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.claim(&s, "a2", T + 1_000, T).await.unwrap(),
        Claim::Won
    );
}

macro_rules! conformance {
    ($case:ident) => {
        mod $case {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let backend = Redis::new();
                timeout(CASE_LIMIT, super::$case(&backend))
                    .await
                    .expect("the case finishes in time");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                let backend = Memory::new();
                timeout(CASE_LIMIT, super::$case(&backend))
                    .await
                    .expect("the case finishes in time");
            }
        }
    };
}

conformance!(counts_follow_window_boundaries);
conformance!(a_member_is_counted_once);
conformance!(distinct_senders_count_once_each);
conformance!(evidence_is_oldest_first_and_limited);
conformance!(retention_trims_and_forgets);
conformance!(silent_groups_reported_then_fell_silent);
conformance!(claims_hold_then_cool_down);
conformance!(measures_show_holds_and_cooldowns);
conformance!(concurrent_claims_have_one_winner);
conformance!(batch_results_follow_batch_order);
conformance!(clear_forgets_everything);

// ------------------------------------------------------------ Redis only

/// Every key a store writes expires by itself: a series no report touches
/// again does not stay in Redis. TTLs follow the fake clock's event times,
/// not Redis's wall clock (T is years from it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_expire_by_themselves() {
    let backend = Redis::new();
    let store = backend.open().await;
    let s = series("absence", "admin1=KE.30");
    let shape = Shape {
        senders: true,
        track_groups: true,
        windows: 2,
        retain_ms: 7_200_000,
        ..one_window(3_600_000)
    };
    let now = T;
    observe_one(&*store, from(&s, "m1", "p-1", now - 600_000), &shape, now).await;
    assert_eq!(
        store.claim(&s, "a1", now + 900_000, now).await.unwrap(),
        Claim::Won
    );
    // The intact marker is one key per deployment, kept for good.
    let keys: Vec<String> = backend
        .keys()
        .await
        .into_iter()
        .filter(|k| !k.ends_with(":intact"))
        .collect();
    assert_eq!(
        keys.len(),
        5,
        "members, senders, groups, hold, cooldown: {keys:?}"
    );
    let mut con = backend.raw().await;
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut con)
            .await
            .expect("PTTL");
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
        let bound = if key.ends_with(":h") {
            30 * 24 * 3_600_000
        } else {
            // Members: until m1 leaves retention, 6,600 s from now.
            7_200_000 + 60_000
        };
        assert!(ttl <= bound, "{key}: {ttl} ms");
        if key.ends_with(":m") {
            assert!(ttl > 6_600_000, "{key} must outlive its members: {ttl} ms");
        }
    }
}

/// A Redis that lost its data (restarted empty, flushed) refuses to
/// observe, measure or claim, having changed nothing, until the windows are
/// rebuilt through a restoring handle and marked intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_that_lost_its_data_refuses_until_rebuilt() {
    let backend = Redis::new();
    let store = backend.open().await;
    let s = series("floods", "g");
    let shape = one_window(3_600_000);
    observe_one(&*store, from(&s, "m1", "p-1", T), &shape, T).await;
    store.clear().await.expect("clear");

    let lost = |r: Result<(), WindowError>| matches!(r, Err(WindowError::Lost));
    let batch = [(from(&s, "m2", "p-2", T), &shape)];
    assert!(lost(store.observe(&batch, T).await.map(drop)));
    assert!(lost(
        store.measure(&[(s.clone(), &shape)], T).await.map(drop)
    ));
    assert!(lost(store.claim(&s, "a1", T + 1_000, T).await.map(drop)));
    assert!(!store.is_intact().await.unwrap());
    assert!(backend.keys().await.is_empty(), "a refusal changes nothing");

    let restorer = store.restorer().expect("Redis can be restored");
    observe_one(&*restorer, from(&s, "m1", "p-1", T), &shape, T).await;
    store.mark_intact().await.unwrap();
    assert!(store.is_intact().await.unwrap());
    assert_eq!(measure(&*store, &s, &shape, T).await.counts, vec![1]);
}
