//! What a notification costs: rendering a message from the templates, and
//! the notifier delivering webhooks end to end (local queue → claim in the
//! store → render → signed POST → attempt recorded → ack), next to the
//! same number of bare POSTs to the same receiver with as many in flight
//! as the notifier's prefetch.
//!
//! Embedded: SQLite and the local queue in a temporary directory, and a
//! receiver in this process that answers 200. Settings (environment):
//! ISHARA_BENCH_NOTIFICATIONS (default 2000), ISHARA_BENCH_PREFETCH
//! (default 16).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use ishara::alert::delivery::{Notification, Transition};
use ishara::alert::{Alert, AlertDetails, AlertState};
use ishara::config::{ChannelConfig, Config};
use ishara::notify::context::sample_context;
use ishara::notify::notifier::{Notifier, NotifierOptions};
use ishara::notify::retry::Backoff;
use ishara::notify::templates::{LiveTemplates, Part, Templates};
use ishara::queue::MessageQueue;
use ishara::queue::local::LocalQueue;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let count = var("ISHARA_BENCH_NOTIFICATIONS", 2000);
    let prefetch = var("ISHARA_BENCH_PREFETCH", 16);
    rendering();

    let received = Arc::new(AtomicUsize::new(0));
    let (receiver, server) = start_receiver(received.clone())?;
    tokio::spawn(server);

    let raw = bare_posts(&receiver, count, prefetch).await?;
    received.store(0, Ordering::SeqCst);
    let notified = notifier_run(&receiver, &received, count, prefetch).await?;
    println!(
        "webhooks, {count} with {prefetch} in flight: bare POSTs {:.0}/s; notifier end to end {:.0}/s ({:.0} % of bare)",
        raw,
        notified,
        100.0 * notified / raw
    );
    Ok(())
}

/// Every part of one message from the built-in set, as a notifier renders
/// them for an email (subject, text, HTML) plus an SMS and a webhook.
fn rendering() {
    let templates = Templates::builtin();
    let context = sample_context("cholera", &["admin1"], &Default::default());
    let rounds = 5_000;
    let mut timings = Vec::with_capacity(rounds);
    let mut bytes = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let parts = templates.render_parts(None, Part::ALL, &context);
        timings.push(started.elapsed());
        bytes += parts.iter().map(String::len).sum::<usize>();
    }
    timings.sort();
    let mean = timings.iter().sum::<Duration>() / rounds as u32;
    println!(
        "render, all 5 parts of a message: mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs ({} bytes a message)",
        micros(mean),
        micros(timings[rounds / 2]),
        micros(timings[rounds * 99 / 100]),
        bytes / rounds
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn start_receiver(received: Arc<AtomicUsize>) -> anyhow::Result<(String, actix_web::dev::Server)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let server = HttpServer::new(move || {
        let received = received.clone();
        App::new().route(
            "/hook",
            web::post().to(move |_body: web::Bytes| {
                let received = received.clone();
                async move {
                    received.fetch_add(1, Ordering::SeqCst);
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok((url, server))
}

/// The ceiling: the same POSTs with nothing around them.
async fn bare_posts(url: &str, count: usize, in_flight: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let body = serde_json::json!({"text": "x".repeat(200)}).to_string();
    let started = Instant::now();
    futures_util::stream::iter(0..count)
        .map(|_| {
            client
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        })
        .buffer_unordered(in_flight)
        .for_each(|reply| async move {
            reply.expect("the receiver answers");
        })
        .await;
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

async fn notifier_run(
    url: &str,
    received: &AtomicUsize,
    count: usize,
    prefetch: usize,
) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let store = ishara::store::open(
        &format!("sqlite://{}", dir.path().join("ishara.sqlite").display()),
        8,
    )
    .await?;
    store.migrate().await?;
    let queue = LocalQueue::open(&dir.path().join("alerts.sqlite")).await?;
    let mut config = Config::default();
    config.notify.rate_per_minute = u32::MAX;
    config.channels.insert(
        "hook".into(),
        ChannelConfig {
            webhook: Some(url.to_owned()),
            ..ChannelConfig::default()
        },
    );
    let mut payloads = Vec::with_capacity(count);
    for n in 0..count {
        let alert = alert(n);
        store.insert_alert(&alert).await?;
        payloads.push(serde_json::to_vec(&Notification {
            alert_id: alert.id,
            transition: Transition::Fired,
            channel: "hook".into(),
        })?);
    }
    queue.publish_batch(&payloads).await?;
    let templates = Arc::new(
        LiveTemplates::load(&dir.path().join("no-templates"))
            .map_err(|p| anyhow::anyhow!("{p:?}"))?,
    );
    let notifier = Notifier::new(
        &config,
        queue,
        store,
        templates,
        NotifierOptions {
            max_attempts: 3,
            backoff: Backoff {
                initial: Duration::from_millis(10),
                max: Duration::from_millis(100),
            },
            prefetch: u16::try_from(prefetch)?,
            public_url: "http://127.0.0.1".into(),
            max_segments: 3,
            pseudonym_key: b"bench".to_vec(),
            webhook_secret: "bench-secret".into(),
        },
    )?;
    let started = Instant::now();
    let running = tokio::spawn(Arc::new(notifier).run());
    while received.load(Ordering::SeqCst) < count {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "only {} of {count} delivered",
            received.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    running.abort();
    Ok(rate)
}

fn alert(n: usize) -> Alert {
    Alert {
        id: ishara::alert::AlertId::new(),
        rule: ishara::alert::RuleId::parse("cholera").expect("a rule id"),
        group: format!("admin1=KE.{:02}", n % 47),
        state: AlertState::Firing,
        severity: ishara::alert::Severity::Severe,
        fired_at: chrono::Utc::now(),
        resolved_at: None,
        value: 3.0,
        evidence: Vec::new(),
        resolved_evidence: None,
        details: AlertDetails {
            notify: vec!["hook".into()],
            ..AlertDetails::default()
        },
    }
}
