//! From a report leaving enrichment to its alert being recorded: the rule
//! engine as the worker drives it, on the real Redis windows and the real
//! PostgreSQL alert store.
//!
//! Reports arrive in batches (as the worker hands them over after storing
//! them) on a simulated clock, so windows fill, alerts fire, windows slide
//! and alerts resolve within seconds of wall time. Each batch is timed from
//! the call to `Engine::observe` to its return: matching, the pipelined
//! window updates in Redis, the conditions, and for a firing batch the
//! claim in Redis and the alert's insert in PostgreSQL; the firing phase
//! is also timed from before the batch's own insert into PostgreSQL, which
//! the worker does between enrichment and rules. Timers
//! (`Engine::tick`) run between batches as the worker's timer would, timed
//! apart.
//!
//! Settings (environment): ISHARA_BENCH_REDIS_URL, ISHARA_BENCH_DATABASE_URL
//! (an existing database; a fresh one is created beside it and dropped),
//! ISHARA_BENCH_REPORTS (default 50000), ISHARA_BENCH_BATCH (default 64),
//! ISHARA_BENCH_RULES (generated rules besides the shipped ones, default 100).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ishara::enrich::language::LanguageCode;
use ishara::enrich::locate::{PlaceKind, PlaceMethod};
use ishara::enrich::{EnrichedReport, Enrichment, LanguageGuess, PlaceGuess};
use ishara::report::{IncomingReport, ReportId, Source, SourceId, Text};
use ishara::rules::engine::{Change, Engine, RuleBook};
use ishara::rules::facts::Facts;
use ishara::rules::load::{Known, load_dir, load_str};
use ishara::store::{PgStore, Store};
use ishara::window::{RedisWindows, WindowStore};

mod support;
use support::FreshDatabase;

const COUNTIES: usize = 10;
const WORDS: [&str; 8] = [
    "cholera",
    "flood",
    "measles",
    "fire",
    "landslide",
    "drought",
    "attack",
    "outbreak",
];

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let redis_url = var("ISHARA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/");
    let admin_url = var(
        "ISHARA_BENCH_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let reports: usize = var("ISHARA_BENCH_REPORTS", "50000").parse()?;
    let batch: usize = var("ISHARA_BENCH_BATCH", "64").parse()?;
    let generated: usize = var("ISHARA_BENCH_RULES", "100").parse()?;

    let database = FreshDatabase::create(&admin_url).await?;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&database.url, 10).await?);
    store.migrate().await?;
    let prefix = format!(
        "ishara-bench-{}:",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let windows = Arc::new(RedisWindows::connect(&redis_url, &prefix).await?);
    windows.mark_intact().await?;

    let rules = rules(generated)?;
    let rule_count = rules.len();
    // Every report counts once per rule it matches (all rules here group by
    // one value): the window updates it costs.
    let matcher = ishara::rules::matcher::Matcher::new(&rules);
    let engine = Engine::new(
        RuleBook::new(rules),
        windows.clone(),
        store.clone(),
        Duration::from_secs(3600),
    );

    let start: DateTime<Utc> = Utc::now() - chrono::Duration::days(1);
    // Phase 1, counting: one report per simulated second. Each of the 80
    // topic-county series sees a report about every 80 s, so its
    // 3-in-10-minute window fires early and then stays firing: the common
    // case of a busy deployment, where most reports only count.
    let step = chrono::Duration::seconds(1);
    let mut observe_ms = Vec::new();
    let mut firing_ms = Vec::new();
    let mut tick_ms = Vec::new();
    let (mut fired, mut resolved, mut observations) = (0usize, 0usize, 0u64);
    let mut next_tick = start;
    let began = Instant::now();
    let mut engine_time = Duration::ZERO;
    for (n, chunk) in (0..reports).collect::<Vec<_>>().chunks(batch).enumerate() {
        let now = start + step * i32::try_from(chunk[chunk.len() - 1])?;
        let enriched: Vec<EnrichedReport> = chunk
            .iter()
            .map(|&i| report(i, start + step * i32::try_from(i).unwrap_or(0)))
            .collect();
        // The worker stores a batch before counting it.
        let outcomes = store.insert_reports(&enriched).await?;
        let stored: Vec<_> = enriched.iter().zip(outcomes).collect();
        observations += enriched
            .iter()
            .map(|r| updates(&matcher, &Facts::from_enriched(r)))
            .sum::<u64>();
        let t = Instant::now();
        let changes = engine.observe_stored(&stored, now).await?;
        let took = t.elapsed();
        engine_time += took;
        observe_ms.push(ms(took));
        let fired_here = changes
            .iter()
            .filter(|c| matches!(c, Change::Fired(_)))
            .count();
        if fired_here > 0 {
            firing_ms.push(ms(took));
            fired += fired_here;
        }
        if now >= next_tick {
            let t = Instant::now();
            resolved += engine
                .tick(now)
                .await?
                .iter()
                .filter(|c| matches!(c, Change::Resolved(_)))
                .count();
            tick_ms.push(ms(t.elapsed()));
            next_tick = now + chrono::Duration::seconds(10);
        }
        if n == 0 {
            println!(
                "rules: {rule_count} ({generated} generated + the shipped ones); batch {batch}; {reports} reports"
            );
        }
    }
    let wall = began.elapsed();
    println!(
        "batches: {} in {:.1} s wall ({:.1} s in observe)",
        observe_ms.len(),
        wall.as_secs_f64(),
        engine_time.as_secs_f64()
    );
    println!("alerts fired {fired}, resolved {resolved}");
    println!(
        "reports counted per second of observe: {:.0}",
        reports as f64 / engine_time.as_secs_f64()
    );
    println!(
        "window updates (report x matching rule) per second of observe: {:.0}",
        observations as f64 / engine_time.as_secs_f64()
    );
    print_latency("observe, every batch", &mut observe_ms);
    print_latency(
        "observe, phase 1 batches that fired an alert",
        &mut firing_ms,
    );
    print_latency("tick (silences and resolutions)", &mut tick_ms);

    // Phase 2, firing: every batch carries three reports of an alarm from
    // a place not seen before, so every batch fires exactly one alert (the
    // claim in Redis, the evidence, the insert in PostgreSQL).
    let mut firing_ms = Vec::new();
    let mut end_to_end_ms = Vec::new();
    let mut fired = 0;
    let phase_start = start + step * i32::try_from(reports)?;
    for k in 0..300usize {
        let base = reports + k * batch;
        let now = phase_start + chrono::Duration::seconds(i64::try_from(k)?);
        let enriched: Vec<EnrichedReport> = (0..batch)
            .map(|j| {
                let mut r = report(base + j, now);
                if j < 3 {
                    r.report.text =
                        Text::parse("Alarm: chemical spill at the river").expect("text");
                    r.enrichment.place.place_id = Some(1_000_000 + i64::try_from(k).unwrap_or(0));
                }
                r
            })
            .collect();
        // Timed twice: the rules alone, and from the batch leaving
        // enrichment, which in the worker first stores it.
        let left_enrichment = Instant::now();
        let outcomes = store.insert_reports(&enriched).await?;
        let stored: Vec<_> = enriched.iter().zip(outcomes).collect();
        let t = Instant::now();
        let changes = engine.observe_stored(&stored, now).await?;
        firing_ms.push(ms(t.elapsed()));
        end_to_end_ms.push(ms(left_enrichment.elapsed()));
        fired += changes
            .iter()
            .filter(|c| matches!(c, Change::Fired(_)))
            .count();
    }
    println!("phase 2: {fired} alerts fired in 300 batches of {batch}");
    print_latency("observe, a batch that fires one alert", &mut firing_ms);
    print_latency(
        "store + observe, a batch that fires one alert (leaving enrichment to alert recorded)",
        &mut end_to_end_ms,
    );

    windows.clear().await?;
    database.drop().await?;
    Ok(())
}

/// The shipped rules, plus `generated` keyword rules grouped by county
/// over ten-minute windows.
fn rules(generated: usize) -> anyhow::Result<Vec<ishara::rules::Rule>> {
    let known = Known {
        channels: Default::default(),
        templates: ishara::rules::templates_in(std::path::Path::new("templates")),
    };
    let mut rules = load_dir(std::path::Path::new("rules"), &known)
        .map_err(|e| anyhow::anyhow!("shipped rules: {e:?}"))?;
    let mut yaml = String::new();
    for i in 0..generated {
        let word = WORDS[i % WORDS.len()];
        yaml.push_str(&format!(
            "- id: generated-{i}\n  match:\n    keywords: [{word}-{i}]\n  group_by: [admin1]\n  window: 10m\n  when: {{ count: {{ gte: 3 }} }}\n"
        ));
    }
    yaml.push_str(
        "- id: alarm\n  match:\n    keywords: [alarm]\n  group_by: [place]\n  window: 1h\n  when: { count: { gte: 3 } }\n",
    );
    // The topic rules the reports below actually hit.
    for word in WORDS {
        yaml.push_str(&format!(
            "- id: topic-{word}\n  match:\n    keywords: [{word}]\n  group_by: [admin1]\n  window: 10m\n  when: {{ count: {{ gte: 3 }} }}\n"
        ));
    }
    rules.extend(
        load_str(std::path::Path::new("generated.yaml"), &yaml, &known)
            .map_err(|e| anyhow::anyhow!("generated rules: {e:?}"))?,
    );
    Ok(rules)
}

fn report(i: usize, at: DateTime<Utc>) -> EnrichedReport {
    let word = WORDS[i % WORDS.len()];
    let county = (i / WORDS.len()) % COUNTIES;
    let report = IncomingReport {
        id: ReportId::new(),
        source: Source::new("bench"),
        source_id: SourceId::given(&format!("r{i}")).expect("id"),
        sender: None,
        sender_pseudonym: Some(format!("ps_{}", i % 500)),
        recipient: None,
        text: Text::parse(&format!(
            "People report {word} near the market, please send help"
        ))
        .expect("text"),
        sent_at: Some(at),
        received_at: at,
        location: None,
        meta: Default::default(),
        part: None,
    };
    let place = PlaceGuess {
        method: PlaceMethod::Text,
        kind: PlaceKind::Place,
        place_id: Some(1000 + county as i64),
        name: Some(format!("Town {county}")),
        country: Some("KE".into()),
        admin1_code: Some(format!("KE.{:02}", county + 1)),
        admin1_name: Some(format!("County {county}")),
        lat: None,
        lon: None,
        confidence: 0.9,
    };
    EnrichedReport {
        report,
        enrichment: Enrichment {
            language: LanguageGuess {
                code: LanguageCode::from_stored("en".into()),
                confidence: 0.9,
            },
            place,
        },
    }
}

fn updates(matcher: &ishara::rules::matcher::Matcher, facts: &Facts) -> u64 {
    let mut matches = Vec::new();
    matcher.matches(&facts.subject(), &mut matches);
    matches.len() as u64
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_latency(what: &str, samples: &mut [f64]) {
    if samples.is_empty() {
        println!("{what}: no samples");
        return;
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what}: n={} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        at(0.5),
        at(0.99),
        samples[samples.len() - 1]
    );
}
