//! Property tests where a plain model exists:
//!
//! - the window stores (memory, and Redis under a unique key prefix) agree
//!   with a Vec of observations on counts per window, distinct senders,
//!   evidence and `added`, for random observation sequences;
//! - dedup keys: the same source and id give the same key, different ones
//!   different keys;
//! - SMS segmenting: the parts join back to the text, and the counts follow
//!   the spec's table.
//!
//! Case counts are kept small: the whole suite must stay fast on 2 cores.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use ishara::notify::sms::segments::{self, Encoding};
use ishara::report::{Source, SourceId, dedup_key};
use ishara::window::{
    Measure, MemoryWindows, Observation, RedisWindows, Series, Shape, WindowStore,
};
use proptest::prelude::*;

/// A fake "now", as in the conformance suite.
const T: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------- windows

#[derive(Debug, Clone)]
enum Op {
    /// Observe `member` (its event time is fixed per member, as a stored
    /// report's is) in series `series`, from `sender`.
    Observe {
        series: usize,
        member: usize,
        sender: Option<usize>,
    },
    Measure {
        series: usize,
    },
    /// Move the clock forward.
    Advance(i64),
}

#[derive(Debug, Clone)]
struct Case {
    shape: Shape,
    /// Event time of each member, relative to the first `now`.
    offsets: Vec<i64>,
    ops: Vec<Op>,
}

const SERIES: usize = 2;
const MEMBERS: usize = 10;
const SENDERS: usize = 4;

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::sample::select(vec![1_000i64, 7_000, 60_000]),
        1u32..=3,
        any::<bool>(),
        0u32..=4,
        0i64..=1,
    )
        .prop_map(|(window_ms, windows, senders, evidence, extra)| Shape {
            window_ms,
            windows,
            senders,
            evidence,
            track_groups: false,
            retain_ms: window_ms * i64::from(windows) + extra * window_ms,
        })
}

/// Times fall on a grid of quarter windows, give or take a millisecond, so
/// that members land exactly on window and retention edges, where an off
/// by one would hide.
fn on_grid(steps: std::ops::Range<i64>, step: i64) -> impl Strategy<Value = i64> {
    (steps, prop_oneof![3 => Just(0i64), 1 => -1i64..=1])
        .prop_map(move |(k, jitter)| k * step + jitter)
}

fn case() -> impl Strategy<Value = Case> {
    shape().prop_flat_map(|shape| {
        let step = shape.window_ms / 4;
        let span = (shape.retain_ms + shape.window_ms) / step;
        let op = prop_oneof![
            4 => (0..SERIES, 0..MEMBERS, prop::option::of(0..SENDERS))
                .prop_map(|(series, member, sender)| Op::Observe { series, member, sender }),
            1 => (0..SERIES).prop_map(|series| Op::Measure { series }),
            2 => on_grid(0..5, step).prop_map(|dt| Op::Advance(dt.max(0))),
        ];
        (
            prop::collection::vec(on_grid(-span..2 * span, step), MEMBERS),
            prop::collection::vec(op, 1..40),
        )
            .prop_map(move |(offsets, ops)| Case {
                shape: shape.clone(),
                offsets,
                ops,
            })
    })
}

fn series(i: usize) -> Series {
    Series {
        rule: "prop-rule".into(),
        group: format!("admin1=G{i}"),
    }
}

fn member(i: usize) -> String {
    format!("m{i:02}")
}

fn sender(i: usize) -> String {
    format!("ps_{i}")
}

/// The naive model: every observation that was kept, and nothing else.
#[derive(Default)]
struct Model {
    /// (series, member) -> event time, for members that were added.
    added: BTreeMap<(usize, String), i64>,
    /// (series, sender) -> latest event time of a kept observation.
    senders: BTreeMap<(usize, String), i64>,
}

impl Model {
    fn observe(
        &mut self,
        shape: &Shape,
        s: usize,
        m: &str,
        who: Option<&str>,
        at: i64,
        now: i64,
    ) -> bool {
        // A member already past retention is not kept at all.
        let fresh = at > now - shape.retain_ms;
        if !fresh {
            return false;
        }
        if shape.senders
            && let Some(who) = who
        {
            let latest = self.senders.entry((s, who.to_owned())).or_insert(at);
            *latest = (*latest).max(at);
        }
        self.added.insert((s, m.to_owned()), at).is_none()
    }

    fn measure(&self, shape: &Shape, s: usize, now: i64, added: bool) -> Measure {
        let w = shape.window_ms;
        let times: Vec<(i64, &str)> = self
            .added
            .iter()
            .filter(|((series, _), _)| *series == s)
            .map(|((_, m), at)| (*at, m.as_str()))
            .collect();
        let counts = (0..i64::from(shape.windows))
            .map(|i| {
                let (lo, hi) = (now - (i + 1) * w, now - i * w);
                times.iter().filter(|(at, _)| *at > lo && *at <= hi).count() as u64
            })
            .collect();
        let senders = if shape.senders {
            self.senders
                .iter()
                .filter(|((series, _), at)| *series == s && **at > now - w && **at <= now)
                .count() as u64
        } else {
            0
        };
        let mut current: Vec<(i64, &str)> = times
            .iter()
            .copied()
            .filter(|(at, _)| *at > now - w && *at <= now)
            .collect();
        current.sort();
        let evidence = current
            .into_iter()
            .take(shape.evidence as usize)
            .map(|(_, m)| m.to_owned())
            .collect();
        Measure {
            added,
            counts,
            senders,
            evidence,
            holder: None,
            cooling: false,
        }
    }
}

/// Runs `case` against `store` and the model side by side; the first
/// disagreement is returned with the step it happened at.
async fn agree(store: &dyn WindowStore, case: &Case) -> Result<(), String> {
    let shape = &case.shape;
    let mut model = Model::default();
    let mut now = T;
    for (step, op) in case.ops.iter().enumerate() {
        let (got, expected) = match op {
            Op::Advance(dt) => {
                now += dt;
                continue;
            }
            Op::Observe {
                series: s,
                member: m,
                sender: who,
            } => {
                let at = T + case.offsets[*m];
                let obs = Observation {
                    series: series(*s),
                    member: member(*m),
                    sender: who.map(sender),
                    at_ms: at,
                };
                let got = store
                    .observe(&[(obs, shape)], now)
                    .await
                    .map_err(|e| e.to_string())?;
                let added =
                    model.observe(shape, *s, &member(*m), who.map(sender).as_deref(), at, now);
                (got, model.measure(shape, *s, now, added))
            }
            Op::Measure { series: s } => {
                let got = store
                    .measure(&[(series(*s), shape)], now)
                    .await
                    .map_err(|e| e.to_string())?;
                (got, model.measure(shape, *s, now, false))
            }
        };
        if got != [expected.clone()] {
            return Err(format!(
                "step {step} ({op:?}) at now = T + {}: store {got:?}, model {expected:?}",
                now - T
            ));
        }
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn memory_windows_agree_with_the_model(case in case()) {
        let store = MemoryWindows::new();
        let outcome = runtime().block_on(agree(&store, &case));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

proptest! {
    // Each case is a few dozen Redis round trips: fewer cases.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn redis_windows_agree_with_the_model(case in case()) {
        let outcome = runtime().block_on(async {
            let url = common::redis_url();
            let prefix = format!("{}:", common::unique("ishara-prop"));
            let store = RedisWindows::connect(&url, &prefix).await.map_err(|e| e.to_string())?;
            mark_intact(&url, &prefix).await;
            let outcome = agree(&store, &case).await;
            store.clear().await.map_err(|e| e.to_string())?;
            outcome
        });
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

/// What `RedisWindows::mark_intact` does once the lost-data check lands (it
/// sets `{prefix}intact`); harmless before. Set directly so that this test
/// runs both before and after that change.
async fn mark_intact(url: &str, prefix: &str) {
    let mut redis = redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}intact"))
        .arg(1)
        .query_async(&mut redis)
        .await
        .expect("SET");
}

// ---------------------------------------------------------------- dedup keys

/// Sources as the edge makes them: gateway names, the feed, and named
/// feeds (`feed:<name>`, name from `[a-z0-9._-]`).
fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        prop::sample::select(vec![
            "twilio",
            "vonage",
            "africastalking",
            "smssync",
            "generic",
            "feed"
        ])
        .prop_map(Source::new),
        "[a-z0-9._-]{1,8}".prop_map(|name| Source::new(&format!("feed:{name}"))),
    ]
}

/// Ids as sources give them, colons included (SMSSync's are
/// `device:message`).
fn source_id() -> impl Strategy<Value = SourceId> {
    "[a-z0-9:._-]{1,12}".prop_filter_map("a usable id", |id| SourceId::given(&id))
}

/// Another (source, id) whose plain `source:id` text is the same as
/// `a`'s: the key split at another colon. Where the key could collide, this
/// finds it; random pairs alone almost never would.
fn resplit(a: &(Source, SourceId), at: prop::sample::Index) -> Option<(Source, SourceId)> {
    let text = format!("{}:{}", a.0.as_str(), a.1.as_str());
    let colons: Vec<usize> = text.match_indices(':').map(|(i, _)| i).collect();
    let i = colons[at.index(colons.len())];
    let (source, id) = (&text[..i], &text[i + 1..]);
    let valid = [
        "twilio",
        "vonage",
        "africastalking",
        "smssync",
        "generic",
        "feed",
    ]
    .contains(&source)
        || source.strip_prefix("feed:").is_some_and(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    Some((Source::new(source), SourceId::given(id)?)).filter(|_| valid)
}

fn pair() -> impl Strategy<Value = (Source, SourceId)> {
    (source(), source_id())
}

fn two_pairs() -> impl Strategy<Value = ((Source, SourceId), (Source, SourceId))> {
    prop_oneof![
        (pair(), pair()),
        pair().prop_map(|a| (a.clone(), a)),
        (pair(), any::<prop::sample::Index>())
            .prop_filter_map("a valid re-split", |(a, at)| resplit(&a, at)
                .map(|b| (a, b))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn dedup_keys_are_equal_exactly_when_source_and_id_are((a, b) in two_pairs()) {
        prop_assert_eq!(dedup_key(&a.0, &a.1), dedup_key(&a.0.clone(), &a.1.clone()));
        let same = a == b;
        prop_assert_eq!(dedup_key(&a.0, &a.1) == dedup_key(&b.0, &b.1), same, "{:?} {:?}", a, b);
    }
}

#[test]
fn a_named_feed_and_a_colon_in_an_unnamed_feeds_id_do_not_collide() {
    let named = dedup_key(&Source::new("feed:kobo"), &SourceId::given("17").unwrap());
    let unnamed = dedup_key(&Source::new("feed"), &SourceId::given("kobo:17").unwrap());
    assert_ne!(named, unnamed);
}

// ---------------------------------------------------------------- SMS segments

fn sms_text() -> impl Strategy<Value = String> {
    let gsm = prop::sample::select("abcXYZ 019@£$é_\n.,!?".chars().collect::<Vec<_>>());
    let extension = prop::sample::select("^{}\\[~]|€".chars().collect::<Vec<_>>());
    let ucs2 = prop::sample::select("çعकñ…".chars().collect::<Vec<_>>());
    let astral = prop::sample::select("🌊😀𝄞".chars().collect::<Vec<_>>());
    let ch = prop_oneof![20 => gsm, 3 => extension, 2 => ucs2, 1 => astral];
    prop::collection::vec(ch, 0..400).prop_map(|chars| chars.into_iter().collect())
}

/// The spec's table: one SMS up to 160 septets / 70 UTF-16 units, else
/// parts of 153 / 67 that never split an escape or surrogate pair.
fn expected_parts(units: usize, single: usize, per_part: usize) -> usize {
    if units <= single {
        1
    } else {
        units.div_ceil(per_part)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn segments_join_back_to_the_text(text in sms_text()) {
        // Asserts the round trip: the parts cut the text into pieces that
        // join back to it, each within its limit.
        ishara::fuzzing::sms_segments(text.as_bytes());
    }

    #[test]
    fn single_unit_texts_follow_the_table(n in 0usize..700, ucs2 in any::<bool>()) {
        let (c, single, per_part) = if ucs2 { ('ع', 70, 67) } else { ('a', 160, 153) };
        let text: String = std::iter::repeat_n(c, n).collect();
        let counted = segments::count(&text);
        prop_assert_eq!(counted.units, n);
        prop_assert_eq!(counted.encoding, if ucs2 { Encoding::Ucs2 } else { Encoding::Gsm7 });
        prop_assert_eq!(counted.parts.len(), expected_parts(n, single, per_part));
    }

    #[test]
    fn pairs_cost_two_units_and_at_most_one_unit_is_lost_per_part(
        plain in 0usize..400,
        pairs in 0usize..200,
        ucs2 in any::<bool>(),
    ) {
        let (one, two, single, per_part) = if ucs2 { ('ع', '🌊', 70, 67) } else { ('a', '€', 160, 153) };
        let text: String = std::iter::repeat_n(two, pairs).chain(std::iter::repeat_n(one, plain)).collect();
        let counted = segments::count(&text);
        let units = plain + 2 * pairs;
        prop_assert_eq!(counted.units, units);
        let ideal = expected_parts(units, single, per_part);
        // A pair that does not fit in a part moves whole to the next one.
        prop_assert!(counted.parts.len() >= ideal);
        // Every part but the last holds at least `per_part - 1` units.
        if units > single {
            prop_assert!(counted.parts.len() <= (units - 1) / (per_part - 1) + 1);
        }
        let kept: BTreeSet<usize> = counted.parts.iter().copied().collect();
        prop_assert!(kept.iter().all(|p| *p <= per_part.max(single)));
    }
}
