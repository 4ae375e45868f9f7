//! Faults an operator meets, inflicted for real: private service
//! instances the test starts on their own ports and kills with SIGKILL,
//! never the machine's shared services. Each test asserts exact outcomes:
//! what was accepted is stored once, what fired fired once.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const CHOLERA_RULE: &str = r#"
- id: cholera-cluster
  match:
    keywords:
      cholera: [cholera, kipindupindu]
  window: 24h
  when:
    count: { gte: 3 }
  cooldown: 6h
  severity: severe
"#;

/// A `redis-server` of the test's own, keeping nothing on disk, killed
/// (SIGKILL) when dropped.
struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = free_port();
        Self::start_on(port)
    }

    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (bash scripts/test.sh installs it)");
        let redis = Self { port, child };
        redis.wait_until_it_answers();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_until_it_answers(&self) {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "the private redis-server on port {} never answered",
            self.port
        );
    }

    /// Kills it with SIGKILL and starts an empty one on the same port: what
    /// a Redis restarted without persistence looks like to its clients.
    fn restart_empty(mut self) -> Self {
        self.child.kill().expect("SIGKILL redis-server");
        self.child.wait().expect("reap redis-server");
        Self::start_on(self.port)
    }

    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn post(app: &TestApp, id: &str, text: &str, sender: &str) {
    let body = json!({"id": id, "text": text, "sender": sender}).to_string();
    let reply = app.post_reports("application/json", &body).await;
    assert!(
        reply.status().is_success(),
        "{}",
        reply.text().await.unwrap()
    );
}

async fn alerts(app: &TestApp) -> Vec<Value> {
    let page = app.get_json("/v1/alerts").await;
    page["alerts"].as_array().cloned().unwrap_or_default()
}

/// Polls `probe` until it gives `Some`, for at most `secs` seconds.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Members of the rule's one series in Redis: what the windows count.
async fn members(redis: &PrivateRedis, prefix: &str) -> usize {
    let mut con = redis.connection().await;
    let key = format!("{prefix}{{cholera-cluster|}}:m");
    redis::cmd("ZCARD")
        .arg(&key)
        .query_async::<usize>(&mut con)
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_restarted_empty_neither_resolves_nor_fires_again() {
    let redis = PrivateRedis::start();
    let prefix = "faults:";
    let url = redis.url();
    let app = TestApp::spawn(|c| {
        std::fs::create_dir_all(&c.rules_dir).unwrap();
        std::fs::write(c.rules_dir.join("rules.yaml"), CHOLERA_RULE).unwrap();
        c.redis.url = Some(url);
        c.redis.prefix = prefix.into();
        c.rules.evaluation_interval_ms = 100;
    })
    .await;
    for n in 0..3 {
        post(
            &app,
            &format!("c{n}"),
            "cholera",
            &format!("+25470000000{n}"),
        )
        .await;
    }
    let fired = eventually("the alert fires", 20, || async {
        let found = alerts(&app).await;
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(fired.len(), 1);

    let redis = redis.restart_empty();
    // The engine finds the windows lost on its next tick and rebuilds them
    // from the database: proof that the ticks ran on the new Redis.
    eventually("the windows are rebuilt", 20, || async {
        (members(&redis, prefix).await == 3).then_some(())
    })
    .await;
    // Let ticks run on the rebuilt windows; a fourth report is counted
    // (positive proof the worker goes on) and fires nothing new.
    post(&app, "c3", "kipindupindu", "+254700000003").await;
    eventually("the fourth report is counted", 20, || async {
        (members(&redis, prefix).await == 4).then_some(())
    })
    .await;
    let after = alerts(&app).await;
    assert_eq!(after.len(), 1, "one alert, not a second: {after:#?}");
    assert_eq!(after[0]["id"], fired[0]["id"]);
    assert_eq!(
        after[0]["state"], "firing",
        "no false all-clear: {after:#?}"
    );
}
