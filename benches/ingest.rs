//! Ingest throughput, in one run: what RabbitMQ alone confirms per second
//! with the durability the service asks of it, what the service accepts per
//! second on `POST /v1/inbound/twilio` with as many requests in flight, and
//! the service's latency at half that peak.
//!
//! `cargo bench --bench ingest`. `BENCH_CONCURRENCY` (64), `BENCH_SECS` (10)
//! and `ISHARA_TEST_AMQP_URL` override the defaults. Client, service and
//! broker share the machine, so only figures of one run compare.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use ishara::ingest::{Message, Normalizer};
use ishara::phone::PhoneNormalizer;
use ishara::queue::amqp::{Names, declare, is_grouped};
use ishara::queue::batch;
use ishara::report::Source;
use lapin::options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use sha1::Sha1;
use tokio::io::AsyncBufReadExt;
use tokio::task::JoinSet;

const TWILIO_TOKEN: &str = "0123456789abcdef0123456789abcdef";
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const FROM: &str = "+254712345678";
const TO: &str = "+254700000000";
const TEXT: &str = "Cholera cases in Garissa";
const INBOUND_PATH: &str = "/v1/inbound/twilio";

const AIM_RATIO: f64 = 0.70;
const AIM_P99_AT_HALF: Duration = Duration::from_millis(20);

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&settings))
}

struct Settings {
    concurrency: usize,
    duration: Duration,
    amqp_url: String,
    /// The service's `http.workers` (0: one per core).
    http_workers: usize,
    /// Keeps this run's queues apart from the service's and other runs'.
    run_id: String,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let concurrency: usize = env_or("BENCH_CONCURRENCY", 64)?;
        let secs: f64 = env_or("BENCH_SECS", 10.0)?;
        anyhow::ensure!(concurrency > 0, "BENCH_CONCURRENCY must be at least 1");
        anyhow::ensure!(secs > 0.0, "BENCH_SECS must be positive");
        let millis = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
        Ok(Self {
            concurrency,
            duration: Duration::from_secs_f64(secs),
            amqp_url: env_or(
                "ISHARA_TEST_AMQP_URL",
                "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
            )?,
            http_workers: env_or("BENCH_HTTP_WORKERS", 0)?,
            run_id: format!("bench-{}-{millis}", std::process::id()),
        })
    }

    fn prefix(&self, phase: &str) -> String {
        format!("{}-{phase}", self.run_id)
    }
}

fn env_or<T: FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: Display,
{
    match std::env::var(name) {
        Ok(raw) => raw
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={raw:?}: {e}")),
        Err(_) => Ok(default),
    }
}

async fn run(settings: &Settings) -> anyhow::Result<()> {
    let payload = report_payload()?;
    println!(
        "ingest bench: {} in flight, {:.1} s per phase, {}-byte reports, broker {}",
        settings.concurrency,
        settings.duration.as_secs_f64(),
        payload.len(),
        ishara::app::redact(&settings.amqp_url),
    );
    let broker = Broker::connect(&settings.amqp_url).await?;
    let baseline = run_baseline(settings, &broker, payload).await?;
    let (peak, half) = run_service(settings, &broker).await?;
    broker.close().await;
    summarise(&baseline, &peak, half.as_ref());
    Ok(())
}

/// A report as the service queues it for the requests below, so both
/// phases move as many bytes per message.
fn report_payload() -> anyhow::Result<Vec<u8>> {
    let normalizer = Normalizer::new(PhoneNormalizer::default(), b"bench-pseudonym-key".to_vec());
    let mut meta = serde_json::Map::new();
    meta.insert("AccountSid".into(), ACCOUNT_SID.into());
    meta.insert("NumMedia".into(), "0".into());
    let message = Message {
        source_id: Some(format!("SM{:032x}", 0)),
        from: Some(FROM.into()),
        to: Some(TO.into()),
        text: TEXT.into(),
        text_field: "Body",
        meta,
        ..Default::default()
    };
    let report = normalizer.report(&Source::new("twilio"), message, chrono::Utc::now())?;
    Ok(serde_json::to_vec(&report)?)
}

// ------------------------------------------------------------------ broker

/// A connection of the benchmark's own, for the baseline and for looking
/// at and removing the queues of both phases.
struct Broker {
    connection: Connection,
}

impl Broker {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        let properties = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio);
        let connection = Connection::connect(url, properties)
            .await
            .with_context(|| format!("RabbitMQ at {}", ishara::app::redact(url)))?;
        Ok(Self { connection })
    }

    /// A channel per operation: a broker error closes only that one.
    async fn channel(&self) -> lapin::Result<Channel> {
        self.connection.create_channel().await
    }

    /// Takes every message off the queue: (messages, reports they carry).
    async fn drain(&self, names: &Names) -> anyhow::Result<(u64, u64)> {
        let channel = self.channel().await?;
        let (mut messages, mut reports) = (0, 0);
        while let Some(message) = channel
            .basic_get(&names.queue, BasicGetOptions { no_ack: true })
            .await?
        {
            let delivery = message.delivery;
            messages += 1;
            reports += if is_grouped(&delivery.properties) {
                batch::decode(&delivery.data)?.len() as u64
            } else {
                1
            };
        }
        Ok((messages, reports))
    }

    async fn delete(&self, names: &Names) {
        if let Err(e) = self.try_delete(names).await {
            eprintln!("could not delete the {} queues: {e}", names.queue);
        }
    }

    async fn try_delete(&self, names: &Names) -> lapin::Result<()> {
        ishara::queue::amqp::delete(&self.channel().await?, names).await
    }

    async fn close(self) {
        let _ = self.connection.close(200, "bench done").await;
    }
}

async fn run_baseline(
    settings: &Settings,
    broker: &Broker,
    payload: Vec<u8>,
) -> anyhow::Result<Phase> {
    let names = Names::new(&settings.prefix("baseline"), "reports");
    let measured = measure_baseline(settings, broker, &names, payload).await;
    broker.delete(&names).await;
    let phase = measured?;
    phase.print("baseline: lapin publish + confirm", "msgs");
    anyhow::ensure!(phase.tally.ok > 0, "the broker confirmed no publish");
    Ok(phase)
}

async fn measure_baseline(
    settings: &Settings,
    broker: &Broker,
    names: &Names,
    payload: Vec<u8>,
) -> anyhow::Result<Phase> {
    let channel = broker.channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    declare(&channel, names).await?;
    let publisher = Arc::new(Publisher {
        channel,
        queue: names.queue.clone(),
        payload,
    });
    closed_loop(publisher, settings.concurrency, settings.duration).await
}

/// Publishes as `src/queue/amqp.rs` does (one shared channel, the same
/// properties and `mandatory`), minus everything the service adds.
struct Publisher {
    channel: Channel,
    queue: String,
    payload: Vec<u8>,
}

impl Load for Publisher {
    async fn send(&self) -> Result<(), String> {
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"))
            .with_headers(FieldTable::default());
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let confirm = self
            .channel
            .basic_publish("", &self.queue, options, &self.payload, properties)
            .await
            .map_err(|e| format!("publish: {e}"))?;
        match confirm.await.map_err(|e| format!("confirm: {e}"))? {
            Confirmation::Ack(None) => Ok(()),
            other => Err(format!("confirm: {other:?}")),
        }
    }
}

// ----------------------------------------------------------------- service

async fn run_service(
    settings: &Settings,
    broker: &Broker,
) -> anyhow::Result<(Phase, Option<Phase>)> {
    let prefix = settings.prefix("service");
    let names = Names::new(&prefix, "reports");
    // The service declares its queues as it starts, so they are removed
    // whether or not it got as far as serving.
    let measured = serve_and_measure(settings, broker, &names, &prefix).await;
    broker.delete(&names).await;
    measured
}

/// Runs the real `ishara api` binary as its own process, as deployed: its
/// runtime, threads and AMQP connection are its own, not the benchmark's.
async fn serve_and_measure(
    settings: &Settings,
    broker: &Broker,
    names: &Names,
    prefix: &str,
) -> anyhow::Result<(Phase, Option<Phase>)> {
    let data_dir = tempfile::tempdir()?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ishara"))
        .arg("api")
        .env("ISHARA_DATA_DIR", data_dir.path())
        .env("ISHARA_HTTP__LISTEN", "127.0.0.1:0")
        .env("ISHARA_HTTP__WORKERS", settings.http_workers.to_string())
        .env("ISHARA_AMQP__URL", &settings.amqp_url)
        .env("ISHARA_AMQP__PREFIX", prefix)
        .env("ISHARA_GATEWAYS__TWILIO__AUTH_TOKEN", TWILIO_TOKEN)
        // What is measured is the service's work, not its log volume.
        .env("ISHARA_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start ishara api")?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let greeting = lines
        .next_line()
        .await?
        .context("ishara api exited before listening")?;
    // Keep reading: a closed pipe must not be what stops the service.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let port: u16 = greeting
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("no port in {greeting:?}"))?;
    let measured = measure_service(settings, broker, names, port).await;
    child.kill().await.ok();
    measured
}

async fn measure_service(
    settings: &Settings,
    broker: &Broker,
    names: &Names,
    port: u16,
) -> anyhow::Result<(Phase, Option<Phase>)> {
    let twilio = Arc::new(TwilioClient::new(port, settings.concurrency)?);
    let peak = closed_loop(twilio.clone(), settings.concurrency, settings.duration).await?;
    peak.print("service peak: POST /v1/inbound/twilio", "req");
    report_queued(broker, names, &peak).await?;
    if peak.tally.ok == 0 {
        println!("service half rate: skipped, nothing was accepted at peak");
        return Ok((peak, None));
    }
    // Each phase starts from an empty queue, as the baseline did: the
    // count above emptied it.
    let rate = peak.rate() / 2.0;
    let half = open_loop(twilio, settings.concurrency, rate, settings.duration).await?;
    half.print(
        &format!("service half rate: {rate:.0} req/s paced, latency from scheduled send"),
        "req",
    );
    report_queued(broker, names, &half).await?;
    Ok((peak, Some(half)))
}

/// Empties the queue, checking that what the service accepted reached
/// the broker rather than its disk spool. The service sends reports that
/// arrive together as one message, so messages and reports are counted.
async fn report_queued(broker: &Broker, names: &Names, phase: &Phase) -> anyhow::Result<()> {
    let (messages, reports) = broker.drain(names).await?;
    let note = if reports < phase.tally.ok {
        "  (fewer than accepted: the service spooled to disk, figures are not the broker path)"
    } else {
        ""
    };
    println!(
        "  queue held {reports} reports in {messages} messages ({:.1} per message){note}",
        reports as f64 / messages.max(1) as f64
    );
    Ok(())
}

/// A Twilio account posting inbound SMS, each with its own `MessageSid`.
struct TwilioClient {
    client: reqwest::Client,
    /// Parsed once: the client shares the service's cores, so its own
    /// work per request is kept small.
    url: reqwest::Url,
    run: u64,
    next_sid: AtomicU64,
}

impl TwilioClient {
    fn new(port: u16, concurrency: usize) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .build()?;
        let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
        Ok(Self {
            client,
            url: format!("http://127.0.0.1:{port}{INBOUND_PATH}").parse()?,
            run,
            next_sid: AtomicU64::new(0),
        })
    }

    fn next_sid(&self) -> String {
        let n = self.next_sid.fetch_add(1, Ordering::Relaxed);
        format!("SM{:016x}{n:016x}", self.run)
    }
}

impl Load for TwilioClient {
    async fn send(&self) -> Result<(), String> {
        let sid = self.next_sid();
        let params = [
            ("MessageSid", sid.as_str()),
            ("AccountSid", ACCOUNT_SID),
            ("From", FROM),
            ("To", TO),
            ("Body", TEXT),
            ("NumMedia", "0"),
        ];
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let response = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "x-twilio-signature",
                twilio_signature(self.url.as_str(), &params),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status();
        // Reading to the end hands the connection back to the pool.
        let body = response.bytes().await.unwrap_or_default();
        if status == reqwest::StatusCode::OK {
            Ok(())
        } else {
            Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)))
        }
    }
}

/// Twilio's recipe, written from its documentation rather than taken from
/// the service: base64(HMAC-SHA1(token, url + name + value…)), names in
/// byte order.
fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort_unstable();
    let mut mac = Hmac::<Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

// ------------------------------------------------------------------ load

/// One unit of work whose rate and latency a phase measures.
trait Load: Send + Sync + 'static {
    fn send(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// `concurrency` workers, each sending again as soon as its last send
/// completes: exactly that many in flight, so the rate is the peak.
async fn closed_loop<L: Load>(
    load: Arc<L>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Phase> {
    let start = Instant::now();
    let end = start + duration;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let load = load.clone();
        workers.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < end {
                let sent = Instant::now();
                let outcome = load.send().await;
                tally.record(outcome, sent.elapsed());
            }
            tally
        });
    }
    Phase::collect(workers, start).await
}

/// Sends on a fixed schedule whatever the replies do. Latency runs from the
/// scheduled time, so a worker held up by a slow reply charges the wait to
/// the requests it delayed instead of hiding it.
async fn open_loop<L: Load>(
    load: Arc<L>,
    concurrency: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Phase> {
    let interval = Duration::from_secs_f64(concurrency as f64 / rate);
    let start = Instant::now();
    let end = start + duration;
    let mut workers = JoinSet::new();
    for worker in 0..concurrency {
        let load = load.clone();
        // Staggered so the sends are spread evenly, not in bursts of all.
        let mut due = start + Duration::from_secs_f64(worker as f64 / rate);
        workers.spawn(async move {
            let mut tally = Tally::default();
            while due < end {
                tokio::time::sleep_until(due.into()).await;
                let outcome = load.send().await;
                tally.record(outcome, due.elapsed());
                due += interval;
            }
            tally
        });
    }
    Phase::collect(workers, start).await
}

/// Successes with their latencies, and failures by kind.
#[derive(Default)]
struct Tally {
    ok: u64,
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn record(&mut self, outcome: Result<(), String>, latency: Duration) {
        match outcome {
            Ok(()) => {
                self.ok += 1;
                self.latencies.push(latency);
            }
            Err(e) => *self.errors.entry(e).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.latencies.extend(other.latencies);
        for (error, n) in other.errors {
            *self.errors.entry(error).or_default() += n;
        }
    }

    fn failed(&self) -> u64 {
        self.errors.values().sum()
    }
}

struct Phase {
    tally: Tally,
    /// Until the last in-flight send came back, which the count includes.
    elapsed: Duration,
}

impl Phase {
    async fn collect(mut workers: JoinSet<Tally>, start: Instant) -> anyhow::Result<Self> {
        let mut tally = Tally::default();
        while let Some(worker) = workers.join_next().await {
            tally.merge(worker.context("a load worker panicked")?);
        }
        tally.latencies.sort_unstable();
        Ok(Self {
            tally,
            elapsed: start.elapsed(),
        })
    }

    fn rate(&self) -> f64 {
        self.tally.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Nearest rank; zero when nothing succeeded.
    fn percentile(&self, p: f64) -> Duration {
        let latencies = &self.tally.latencies;
        let rank = (p * latencies.len() as f64).ceil() as usize;
        latencies
            .get(rank.saturating_sub(1))
            .copied()
            .unwrap_or_default()
    }

    fn print(&self, title: &str, unit: &str) {
        println!("{title}");
        println!(
            "  {} ok in {:.2} s = {:.0} {unit}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} errors",
            self.tally.ok,
            self.elapsed.as_secs_f64(),
            self.rate(),
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
            ms(self.percentile(1.0)),
            self.tally.failed(),
        );
        for (error, n) in &self.tally.errors {
            println!("  {n} x {error}");
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn summarise(baseline: &Phase, peak: &Phase, half: Option<&Phase>) {
    let ratio = peak.rate() / baseline.rate();
    let p99_at_half = half.map(|h| h.percentile(0.99));
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!("summary");
    println!("  baseline          {:.0} msgs/s", baseline.rate());
    println!("  service peak      {:.0} req/s", peak.rate());
    println!(
        "  service/baseline  {:.1} %  (aim >= {:.0} %: {})",
        ratio * 100.0,
        AIM_RATIO * 100.0,
        verdict(ratio >= AIM_RATIO),
    );
    match (half, p99_at_half) {
        (Some(half), Some(p99)) => println!(
            "  p99 at half rate  {:.2} ms at {:.0} req/s achieved  (aim < {} ms: {})",
            ms(p99),
            half.rate(),
            AIM_P99_AT_HALF.as_millis(),
            verdict(p99 < AIM_P99_AT_HALF),
        ),
        _ => println!("  p99 at half rate  not measured  (aim: NOT met)"),
    }
    println!(
        "ingest bench: baseline {:.0}/s, service {:.0}/s ({:.0}%), p99@half {}",
        baseline.rate(),
        peak.rate(),
        ratio * 100.0,
        p99_at_half.map_or("n/a".to_owned(), |p99| format!("{:.2} ms", ms(p99))),
    );
}
