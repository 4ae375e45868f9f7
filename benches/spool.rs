//! What a broker outage costs: how fast the disk spool takes reports while
//! RabbitMQ is unreachable, alone and from concurrent requests, and how
//! fast it drains into RabbitMQ once the broker is back.
//!
//! `cargo bench --bench spool` (needs RabbitMQ; `BENCH_REPORTS`, default
//! 20000, and `BENCH_CONCURRENCY`, default 64).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ishara::queue::MessageQueue;
use ishara::queue::amqp::{AmqpQueue, Names};
use ishara::queue::spool::Spool;
use ishara::queue::spooled::Spooled;

const REPORT_BYTES: usize = 410;
/// A port nothing listens on: the broker is "down".
const UNREACHABLE: &str = "amqp://guest:guest@127.0.0.1:1/%2f";

fn main() -> anyhow::Result<()> {
    let reports: usize = env_or("BENCH_REPORTS", 20_000);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 64).max(1);
    let amqp_url = std::env::var("ISHARA_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        println!("spool bench: {reports} reports of {REPORT_BYTES} bytes");
        sequential_appends(reports)?;
        let dir = tempfile::tempdir()?;
        concurrent_intake(dir.path(), reports, concurrency).await?;
        drain(dir.path(), reports, &amqp_url).await
    })
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// One request at a time: every report pays a whole fsync.
fn sequential_appends(reports: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let spool = Spool::open(dir.path())?;
    let n = reports / 4;
    let start = Instant::now();
    for _ in 0..n {
        spool.append(&[b'x'; REPORT_BYTES])?;
    }
    println!(
        "  one at a time:        {:>8.0} reports/s",
        rate(n, start.elapsed())
    );
    Ok(())
}

/// Concurrent requests while the broker is down share fsyncs.
async fn concurrent_intake(
    dir: &std::path::Path,
    reports: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let down = AmqpQueue::new(UNREACHABLE, Names::new("bench", "reports"));
    let queue = Spooled::new(down, Spool::open(dir)?);
    let per_task = reports / concurrency;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let queue = queue.clone();
        tasks.spawn(async move {
            for _ in 0..per_task {
                queue.publish(&[b'x'; REPORT_BYTES]).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let n = per_task * concurrency;
    println!(
        "  {concurrency} concurrent, broker down: {:>8.0} reports/s ({} spooled)",
        rate(n, start.elapsed()),
        queue.pending()
    );
    Ok(())
}

/// The broker is back: the spool empties into it.
async fn drain(dir: &std::path::Path, reports: usize, amqp_url: &str) -> anyhow::Result<()> {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let names = Names::new(&format!("bench-spool-{millis}"), "reports");
    let up = AmqpQueue::new(amqp_url, names.clone());
    up.connect().await?;
    let spool = Spool::open(dir)?;
    let pending = spool.pending() as usize;
    let start = Instant::now();
    let queue = Spooled::new(up, spool);
    let deadline = start + Duration::from_secs(120);
    while queue.pending() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    anyhow::ensure!(queue.pending() == 0, "spool not drained within 120 s");
    println!(
        "  drain into RabbitMQ:  {:>8.0} reports/s ({pending} of {reports})",
        rate(pending, elapsed)
    );
    drop(queue);
    delete(amqp_url, &names).await
}

async fn delete(url: &str, names: &Names) -> anyhow::Result<()> {
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await?;
    ishara::queue::amqp::delete(&conn.create_channel().await?, names).await?;
    // The queues are gone; a close racing the dropped channel is harmless.
    conn.close(200, "bench done").await.ok();
    Ok(())
}
