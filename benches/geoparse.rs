//! Geoparser throughput on the labelled SMS of `eval/geo-sms.tsv`, one
//! thread, with the embedded gazetteer: `cargo bench --bench geoparse`.
//! Also prints how long loading takes and the memory it holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ishara::enrich::gazetteer::Gazetteer;
use ishara::enrich::geoparse::Geoparser;
use ishara::eval::geo::{parse, sender_country};

const RUN_FOR: Duration = Duration::from_secs(3);

/// Resident and peak memory of this process, from /proc (Linux).
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or("?".to_owned(), |kb| format!("{:.0} MiB", kb / 1024.0))
    };
    format!("RSS {}, peak {}", field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    println!("before loading: {}", memory());
    let started = Instant::now();
    let gazetteer = Gazetteer::embedded().expect("embedded gazetteer");
    let loaded = started.elapsed();
    let places = gazetteer.places().len();
    let started = Instant::now();
    let parser = Geoparser::new(Arc::new(gazetteer), &[]);
    let indexed = started.elapsed();
    println!(
        "gazetteer: {places} places loaded in {:.0} ms, {} names indexed in {:.0} ms; {}",
        loaded.as_secs_f64() * 1e3,
        parser.names(),
        indexed.as_secs_f64() * 1e3,
        memory()
    );

    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/eval/geo-sms.tsv"))
        .expect("eval/geo-sms.tsv");
    let rows: Vec<(String, Option<&str>)> = parse(&text)
        .expect("eval rows")
        .into_iter()
        .map(|r| {
            let country = sender_country(&r.sender);
            (r.text, country)
        })
        .collect();

    let started = Instant::now();
    let mut done = 0usize;
    let mut found = 0usize;
    while started.elapsed() < RUN_FOR {
        for (text, country) in &rows {
            found += usize::from(parser.find(text, *country).is_some());
        }
        done += rows.len();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "geoparse: {done} SMS in {elapsed:.2} s, {:.0} SMS/s on one thread ({:.1} µs each), {:.0}% with a place",
        done as f64 / elapsed,
        elapsed * 1e6 / done as f64,
        100.0 * found as f64 / done as f64
    );
}
