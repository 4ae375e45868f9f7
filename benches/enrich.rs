//! How fast the worker enriches and stores, against lingua alone.
//!
//! In one run, on the same SMS texts and the same configured languages:
//! 1. lingua alone (`detect_language_of`), one thread: the ceiling;
//! 2. the whole enrichment (cleaning, language, place), one thread;
//! 3. the real `ishara worker` binary draining a RabbitMQ queue into a fresh
//!    PostgreSQL database (dequeue → language → place → store → ack), with
//!    its CPU time read from /proc so that its rate can be put per core.
//!    The reports are queued once it consumes, as the API queues reports
//!    that arrive together: grouped, up to 128 to a message.
//!
//! Settings (environment): ISHARA_BENCH_AMQP_URL, ISHARA_BENCH_DATABASE_URL
//! (an existing database; a fresh one is created beside it and dropped),
//! ISHARA_BENCH_REPORTS (default 20000), ISHARA_BENCH_CORPUS (default
//! eval/geo-sms.tsv: sender, tab, text per line), ISHARA_BENCH_THREADS
//! (worker threads to try, default "1,2").

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use ishara::config::Config;
use ishara::enrich::Enricher;
use ishara::phone::PhoneNormalizer;
use ishara::queue::MessageQueue;
use ishara::queue::amqp::{AmqpQueue, Names};
use ishara::report::{IncomingReport, ReportId, Source, SourceId, Text};

use sqlx::Connection;

mod support;
use support::FreshDatabase;

struct Settings {
    amqp_url: String,
    database_url: String,
    reports: usize,
    corpus: String,
    threads: Vec<usize>,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
        Ok(Self {
            amqp_url: var(
                "ISHARA_BENCH_AMQP_URL",
                "amqp://guest:guest@127.0.0.1:5672/%2f",
            ),
            database_url: var(
                "ISHARA_BENCH_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
            reports: var("ISHARA_BENCH_REPORTS", "20000").parse()?,
            corpus: var("ISHARA_BENCH_CORPUS", "eval/geo-sms.tsv"),
            threads: var("ISHARA_BENCH_THREADS", "1,2")
                .split(',')
                .map(usize::from_str)
                .collect::<Result<_, _>>()?,
        })
    }
}

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let corpus = load_corpus(&settings.corpus)?;
    let config = Config::load(None)?;
    println!(
        "enrich bench: {} texts from {}, languages {}",
        corpus.len(),
        settings.corpus,
        config.language.languages.join(",")
    );
    let started = Instant::now();
    let enricher = Enricher::from_config(&config)?;
    println!(
        "load: language models and gazetteer in {:.2} s, bench process RSS {} MiB",
        started.elapsed().as_secs_f64(),
        rss_mib(std::process::id()).unwrap_or(0)
    );
    let reports: Vec<IncomingReport> = (0..settings.reports)
        .map(|i| report(i, &corpus[i % corpus.len()]))
        .collect();

    let languages = ishara::enrich::language::parse_languages(&config.language.languages)?;
    let detector = ishara::enrich::language::LanguageDetector::new(&languages);
    let raw = rate(&reports, |r| {
        std::hint::black_box(detector.detect_raw(r.text.as_str()));
    });
    println!("lingua alone, 1 thread:          {raw:>9.0} texts/s");
    for &threads in settings.threads.iter().filter(|&&t| t > 1) {
        let (wall, per_cpu) = rate_on_threads(&reports, threads, |r| {
            std::hint::black_box(detector.detect_raw(r.text.as_str()));
        })?;
        println!(
            "lingua alone, {threads} threads: {wall:>9.0} texts/s wall, {per_cpu:.0} per CPU-second ({:.0} % of 1 thread): what lingua itself loses to sharing",
            100.0 * per_cpu / raw
        );
    }
    let language = rate(&reports, |r| {
        std::hint::black_box(detector.detect(r.text.as_str(), sender_country(r)));
    });
    println!(
        "language pipeline (clean+lingua+tie-break), 1 thread: {language:>9.0} texts/s ({:.0} % of lingua alone)",
        100.0 * language / raw
    );
    let locator = ishara::enrich::locate::Locator::from_config(&config.geo, &config.data_dir)?;
    let place = rate(&reports, |r| {
        std::hint::black_box(locator.locate(
            r.text.as_str(),
            r.location,
            sender_country(r).map(|c| c.iso.as_str()),
        ));
    });
    println!("place alone, 1 thread:           {place:>9.0} texts/s");
    let whole = rate(&reports, |r| {
        std::hint::black_box(enricher.enrich(r));
    });
    println!(
        "enrichment (clean+language+place), 1 thread: {whole:>9.0} reports/s ({:.0} % of lingua alone)",
        100.0 * whole / raw
    );

    let runtime = tokio::runtime::Runtime::new()?;
    for &threads in &settings.threads {
        let run = runtime.block_on(worker_run(&settings, &reports, threads))?;
        println!(
            "worker ({threads} thread{}): {:>9.0} reports/s wall, {:.2} CPU-s ({:.2} in the kernel) for {} reports = {:.0} reports per CPU-second ({:.0} % of lingua alone per core), peak RSS {} MiB",
            if threads == 1 { "" } else { "s" },
            run.reports as f64 / run.wall.as_secs_f64(),
            run.cpu.as_secs_f64(),
            run.system.as_secs_f64(),
            run.reports,
            run.reports as f64 / run.cpu.as_secs_f64(),
            100.0 * run.reports as f64 / run.cpu.as_secs_f64() / raw,
            run.peak_rss_mib,
        );
    }
    Ok(())
}

fn sender_country(report: &IncomingReport) -> Option<&'static ishara::country::Country> {
    report.sender.as_ref().and_then(|s| s.country())
}

struct Sample {
    sender: Option<String>,
    text: String,
}

fn load_corpus(path: &str) -> anyhow::Result<Vec<Sample>> {
    let data = std::fs::read_to_string(path).with_context(|| format!("corpus {path}"))?;
    let normalizer = PhoneNormalizer::default();
    let corpus: Vec<Sample> = data
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with("sender\t"))
        .filter_map(|line| {
            let (sender, rest) = line.split_once('\t')?;
            let text = rest.split('\t').next()?;
            Some(Sample {
                sender: (!sender.is_empty()).then(|| normalizer.normalize(sender).value),
                text: text.to_owned(),
            })
        })
        .collect();
    anyhow::ensure!(!corpus.is_empty(), "no texts in {path}");
    Ok(corpus)
}

fn report(i: usize, sample: &Sample) -> IncomingReport {
    let normalizer = PhoneNormalizer::default();
    IncomingReport {
        id: ReportId::new(),
        source: Source::new("bench"),
        source_id: SourceId::given(&format!("bench-{i}")).expect("an id"),
        sender: sample.sender.as_deref().map(|s| normalizer.normalize(s)),
        sender_pseudonym: None,
        recipient: None,
        text: Text::parse(&sample.text).expect("corpus texts are not empty"),
        sent_at: None,
        received_at: chrono::Utc::now(),
        location: None,
        meta: Default::default(),
        part: None,
    }
}

/// Items per second of `work` over every report, after one warm-up pass
/// over a tenth of them.
fn rate(reports: &[IncomingReport], mut work: impl FnMut(&IncomingReport)) -> f64 {
    reports.iter().take(reports.len() / 10).for_each(&mut work);
    let started = Instant::now();
    reports.iter().for_each(&mut work);
    reports.len() as f64 / started.elapsed().as_secs_f64()
}

/// Items per second of `work` split over `threads` threads, wall and per
/// CPU-second of this process.
fn rate_on_threads(
    reports: &[IncomingReport],
    threads: usize,
    work: impl Fn(&IncomingReport) + Sync,
) -> anyhow::Result<(f64, f64)> {
    reports.iter().take(reports.len() / 10).for_each(&work);
    let share = reports.len().div_ceil(threads);
    let (started, cpu0) = (Instant::now(), cpu_time(std::process::id())?);
    std::thread::scope(|scope| {
        for part in reports.chunks(share) {
            scope.spawn(|| part.iter().for_each(&work));
        }
    });
    let (wall, cpu) = (started.elapsed(), cpu_time(std::process::id())?);
    let n = reports.len() as f64;
    Ok((
        n / wall.as_secs_f64(),
        n / (cpu.total() - cpu0.total()).as_secs_f64(),
    ))
}

struct WorkerRun {
    reports: usize,
    wall: Duration,
    cpu: Duration,
    /// The part of `cpu` spent in the kernel (sockets, wake-ups, memory).
    system: Duration,
    peak_rss_mib: u64,
}

/// Starts the real worker binary on an empty queue, waits until it
/// consumes (its models loaded), then queues every report and lets it
/// store them into a fresh database. Its CPU time is counted from the
/// moment it consumes to the last report stored, so its start is left out
/// and every report's work is in.
async fn worker_run(
    settings: &Settings,
    reports: &[IncomingReport],
    threads: usize,
) -> anyhow::Result<WorkerRun> {
    let database = FreshDatabase::create(&settings.database_url).await?;
    let prefix = format!(
        "bench_enrich_{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let names = Names::new(&prefix, "reports");
    // Queued as the API queues reports that arrive together: grouped.
    let queue = AmqpQueue::grouping(&settings.amqp_url, names.clone());
    queue.connect().await?;
    let payloads: Vec<Vec<u8>> = reports
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<_, _>>()?;
    let data_dir = tempfile::tempdir()?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ishara"))
        .arg("worker")
        .env("ISHARA_AMQP__URL", &settings.amqp_url)
        .env("ISHARA_AMQP__PREFIX", &prefix)
        .env("ISHARA_DATABASE__URL", &database.url)
        .env("ISHARA_WORKER__THREADS", threads.to_string())
        .env("ISHARA_DATA_DIR", data_dir.path())
        .env("ISHARA_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("starting ishara worker")?;
    let pid = child.id().context("worker pid")?;
    let broker = lapin::Connection::connect(&settings.amqp_url, Default::default()).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while consumers(&broker, &names).await? == 0 {
        anyhow::ensure!(Instant::now() < deadline, "the worker never consumed");
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the worker exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (t0, cpu0) = (Instant::now(), cpu_time(pid)?);
    for chunk in payloads.chunks(1000) {
        let publishes = chunk.iter().map(|payload| queue.publish(payload));
        for published in futures_util::future::join_all(publishes).await {
            published?;
        }
    }
    let mut db = sqlx::PgConnection::connect(&database.url).await?;
    let outcome = loop {
        anyhow::ensure!(Instant::now() < deadline, "the worker took over 10 minutes");
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the worker exited: {status}");
        }
        if count(&mut db).await.unwrap_or(0) >= reports.len() as i64 {
            let cpu1 = cpu_time(pid)?;
            break WorkerRun {
                reports: reports.len(),
                wall: t0.elapsed(),
                cpu: cpu1.total() - cpu0.total(),
                system: cpu1.system - cpu0.system,
                peak_rss_mib: peak_rss_mib(pid).unwrap_or(0),
            };
        }
        // Counting rows costs PostgreSQL, on the cores the worker uses:
        // looked at often enough for the wall time, no more.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    child.kill().await?;
    drop(db);
    drop(queue);
    ishara::queue::amqp::delete(&broker.create_channel().await?, &names).await?;
    database.drop().await?;
    Ok(outcome)
}

async fn consumers(broker: &lapin::Connection, names: &Names) -> anyhow::Result<u32> {
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let queue = broker
        .create_channel()
        .await?
        .queue_declare(&names.queue, passive, Default::default())
        .await?;
    Ok(queue.consumer_count())
}

async fn count(db: &mut sqlx::PgConnection) -> anyhow::Result<i64> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM reports")
        .fetch_one(db)
        .await?;
    Ok(count)
}

#[derive(Clone, Copy)]
struct CpuTime {
    user: Duration,
    system: Duration,
}

impl CpuTime {
    fn total(self) -> Duration {
        self.user + self.system
    }
}

/// User and system CPU time of a process, from /proc/PID/stat.
fn cpu_time(pid: u32) -> anyhow::Result<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("stat format")?
        .1
        .split_whitespace()
        .collect();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc_sysconf_clk_tck() } as f64;
    let seconds = |field: &str| -> anyhow::Result<Duration> {
        Ok(Duration::from_secs_f64(
            field.parse::<u64>()? as f64 / per_second,
        ))
    };
    Ok(CpuTime {
        user: seconds(fields[11])?,
        system: seconds(fields[12])?,
    })
}

/// CLK_TCK is 100 on every Linux we run on; asking avoids assuming it.
unsafe fn libc_sysconf_clk_tck() -> i64 {
    unsafe extern "C" {
        fn sysconf(name: i32) -> i64;
    }
    const SC_CLK_TCK: i32 = 2;
    unsafe { sysconf(SC_CLK_TCK) }
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

fn rss_mib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:").map(|kib| kib / 1024)
}

fn peak_rss_mib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:").map(|kib| kib / 1024)
}
