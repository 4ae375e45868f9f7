//! What rule windows cost: how many window updates per second one client
//! gets through Redis (and through `MemoryWindows`) in pipelined batches,
//! and how many bytes of Redis memory one report keeps in a 24 h window.
//!
//! `cargo bench --bench window` (needs Redis at `ISHARA_BENCH_REDIS_URL`,
//! default `redis://127.0.0.1:6379/`; `BENCH_UPDATES`, default 100000, and
//! `BENCH_MEMORY_REPORTS`, default 100000). Its keys live under a unique
//! prefix and are deleted at the end.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ishara::window::{MemoryWindows, Observation, RedisWindows, Series, Shape, WindowStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DAY_MS: i64 = 24 * 3600 * 1000;
const SERIES: usize = 1_000;
const MEMBERS: usize = 100_000;
const SENDERS: usize = 20_000;
const BATCHES: [usize; 2] = [64, 256];
/// Reports a day at 100 reports/s: what one rule keeps in a 24 h window.
const DAY_AT_100_PER_S: f64 = 8_640_000.0;

fn main() -> anyhow::Result<()> {
    let updates = env_or("BENCH_UPDATES", 100_000);
    let memory_reports = env_or("BENCH_MEMORY_REPORTS", 100_000);
    let url = std::env::var("ISHARA_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let prefix = format!(
            "ishara-bench-{}:",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let redis = RedisWindows::connect(&url, &prefix).await?;
        redis.mark_intact().await?;
        let result = run(&redis, &url, updates, memory_reports).await;
        redis.clear().await?;
        result
    })
}

async fn run(
    redis: &RedisWindows,
    url: &str,
    updates: usize,
    memory_reports: usize,
) -> anyhow::Result<()> {
    let now = now_ms();
    let shape = Shape {
        window_ms: DAY_MS,
        windows: 2,
        senders: true,
        evidence: 5,
        track_groups: false,
        retain_ms: 2 * DAY_MS,
    };
    let workload = spread(updates, now);
    println!(
        "window bench: {updates} updates over {SERIES} series, {MEMBERS} distinct members, \
         {SENDERS} senders, 24 h windows (+1 baseline), senders and evidence on"
    );
    for batch in BATCHES {
        redis.clear().await?;
        let r = rate(redis, &workload, &shape, batch, now).await?;
        r.print(&format!("Redis, batches of {batch}"));
    }
    for batch in BATCHES {
        let memory = MemoryWindows::new();
        let r = rate(&memory, &workload, &shape, batch, now).await?;
        r.print(&format!("memory, batches of {batch}"));
    }
    redis.clear().await?;
    memory_per_report(redis, url, memory_reports, now, true).await?;
    memory_per_report(redis, url, memory_reports, now, false).await
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// A Twilio message SID, the longest common dedup key: `twilio:SM` + 32 hex.
/// A report id as the engine counts it: a 26-character ULID.
fn member(rng: &mut StdRng, n: usize) -> String {
    let millis = 1_700_000_000_000 + n as u64;
    ulid::Ulid::from_parts(millis, u128::from(rng.r#gen::<u64>())).to_string()
}

fn sender(n: usize) -> String {
    format!("p-{:016x}", (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// `updates` observations: members drawn from [`MEMBERS`] (so some are
/// redeliveries), spread over the series and the last 24 h.
fn spread(updates: usize, now: i64) -> Vec<Observation> {
    let mut rng = StdRng::seed_from_u64(7);
    let members: Vec<String> = (0..MEMBERS).map(|n| member(&mut rng, n)).collect();
    (0..updates)
        .map(|_| {
            let m = rng.gen_range(0..MEMBERS);
            Observation {
                series: Series {
                    rule: "bench.spike".into(),
                    group: format!("admin1=KE.{}", m % SERIES),
                },
                member: members[m].clone(),
                sender: Some(sender(rng.gen_range(0..SENDERS))),
                at_ms: now - rng.gen_range(0..DAY_MS),
            }
        })
        .collect()
}

struct Rate {
    updates: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Rate {
    fn print(&self, what: &str) {
        let mut l = self.latencies.clone();
        l.sort();
        let at = |q: f64| l[((l.len() - 1) as f64 * q).round() as usize];
        println!(
            "  {what:<24} {:>9.0} updates/s   batch p50 {:>8.2?}  p99 {:>8.2?}",
            self.updates as f64 / self.elapsed.as_secs_f64(),
            at(0.50),
            at(0.99),
        );
    }
}

/// One client, one batch at a time, as a worker sends them.
async fn rate(
    store: &dyn WindowStore,
    workload: &[Observation],
    shape: &Shape,
    batch: usize,
    now: i64,
) -> anyhow::Result<Rate> {
    let mut latencies = Vec::with_capacity(workload.len() / batch + 1);
    let start = Instant::now();
    for chunk in workload.chunks(batch) {
        let items: Vec<(Observation, &Shape)> = chunk.iter().map(|o| (o.clone(), shape)).collect();
        let t = Instant::now();
        let measures = store.observe(&items, now).await?;
        latencies.push(t.elapsed());
        assert_eq!(measures.len(), items.len());
    }
    Ok(Rate {
        updates: workload.len(),
        elapsed: start.elapsed(),
        latencies,
    })
}

/// Bytes Redis keeps per report: one rule grouped by admin1 over 50
/// groups, 24 h windows, every report a distinct member; with senders
/// (`distinct_senders`, about three reports per sender) or without.
async fn memory_per_report(
    store: &RedisWindows,
    url: &str,
    reports: usize,
    now: i64,
    senders: bool,
) -> anyhow::Result<()> {
    let rule = if senders {
        "bench.senders"
    } else {
        "bench.count"
    };
    let shape = Shape {
        window_ms: DAY_MS,
        windows: 1,
        senders,
        evidence: 5,
        track_groups: true,
        retain_ms: DAY_MS,
    };
    let mut con = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let before = used_memory(&mut con).await?;
    let mut rng = StdRng::seed_from_u64(11);
    let mut observed = 0;
    while observed < reports {
        let n = 256.min(reports - observed);
        let items: Vec<(Observation, &Shape)> = (observed..observed + n)
            .map(|i| {
                (
                    Observation {
                        series: Series {
                            rule: rule.into(),
                            group: format!("admin1=KE.{:02}", i % 50),
                        },
                        member: member(&mut rng, i),
                        // About three reports per sender.
                        sender: Some(sender(rng.gen_range(0..reports / 3 + 1))),
                        at_ms: now - DAY_MS + 1 + (i as i64 * DAY_MS) / reports as i64,
                    },
                    &shape,
                )
            })
            .collect();
        store.observe(&items, now).await?;
        observed += n;
    }
    let after = used_memory(&mut con).await?;
    let (keys, usage) = memory_usage(&mut con, &format!("{}{{{rule}", store.prefix())).await?;
    let per_report_info = (after as f64 - before as f64) / reports as f64;
    let per_report_usage = usage as f64 / reports as f64;
    println!(
        "memory: {reports} reports, 1 rule, 50 admin1 groups, 24 h window, senders {} \
         ({keys} keys)",
        if senders { "on" } else { "off" }
    );
    println!(
        "  INFO used_memory delta   {:>10} bytes  = {per_report_info:>6.1} bytes/report  \
         -> 24 h at 100/s: {:>7.2} GiB per rule",
        after as i64 - before as i64,
        per_report_info * DAY_AT_100_PER_S / GIB
    );
    println!(
        "  MEMORY USAGE of the keys {usage:>10} bytes  = {per_report_usage:>6.1} bytes/report  \
         -> 24 h at 100/s: {:>7.2} GiB per rule",
        per_report_usage * DAY_AT_100_PER_S / GIB
    );
    Ok(())
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

async fn used_memory(con: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(con).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no used_memory in INFO memory"))
}

/// Keys under `prefix` and the sum of their `MEMORY USAGE` (every element
/// counted: `SAMPLES 0`).
async fn memory_usage(
    con: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> anyhow::Result<(usize, u64)> {
    let mut cursor: u64 = 0;
    let (mut keys, mut total) = (0, 0);
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(con)
            .await?;
        for key in batch {
            let usage: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(&key)
                .arg("SAMPLES")
                .arg(0)
                .query_async(con)
                .await?;
            keys += 1;
            total += usage.unwrap_or(0);
        }
        if next == 0 {
            return Ok((keys, total));
        }
        cursor = next;
    }
}
