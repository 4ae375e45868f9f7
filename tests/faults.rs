//! Faults an operator meets, inflicted for real: private service
//! instances the test starts on their own ports and kills with SIGKILL,
//! never the machine's shared services. Each test asserts exact outcomes:
//! what was accepted is stored once, what fired fired once.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Three cholera reports in a day fire; `notify` adds the channels told.
fn cholera_rule(notify: &str) -> String {
    format!(
        r#"
- id: cholera-cluster
  match:
    keywords:
      cholera: [cholera, kipindupindu]
  window: 24h
  when:
    count: {{ gte: 3 }}
  cooldown: 6h
  severity: severe
{notify}"#
    )
}

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
        std::fs::write(c.rules_dir.join("rules.yaml"), cholera_rule("")).unwrap();
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

// ------------------------------------------------------ ishara processes

const TOKEN: &str = "ish_fault_token_0123456789";

/// The real `ishara` binary in one role, as an operator runs it, killed
/// with SIGKILL when dropped (and when a test kills it on purpose).
struct Ishara {
    child: Child,
}

impl Ishara {
    fn start(role: &str, dir: &std::path::Path, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ishara"));
        for (key, _) in std::env::vars() {
            if key.starts_with("ISHARA_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .arg(role)
            .current_dir(dir)
            .env("ISHARA_API__TOKEN", TOKEN)
            .env("ISHARA_DATA_DIR", dir.join("data"))
            .env("ISHARA_RULES_DIR", dir.join("rules"))
            .env("ISHARA_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log_file(dir, role))
            .spawn()
            .expect("start ishara");
        Self { child }
    }

    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL ishara");
        self.child.wait().expect("reap ishara");
    }
}

impl Drop for Ishara {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a process's log goes: kept in the test's directory, printed by
/// nothing unless a developer looks (ISHARA_FAULT_LOGS=dir keeps them).
fn log_file(dir: &std::path::Path, role: &str) -> Stdio {
    let logs = std::env::var_os("ISHARA_FAULT_LOGS").map_or_else(|| dir.to_owned(), Into::into);
    std::fs::create_dir_all(&logs).unwrap();
    let path = logs.join(format!("{role}-{}.log", ulid::Ulid::new()));
    std::fs::File::create(path).map_or_else(|_| Stdio::null(), Stdio::from)
}

async fn wait_healthy(base: &str) {
    let client = reqwest::Client::new();
    eventually("ishara answers /healthz", 60, || async {
        let reply = client.get(format!("{base}/healthz")).send().await.ok()?;
        reply.status().is_success().then_some(())
    })
    .await;
}

/// Posts one report until some answer says it is durable: a client that
/// retries through crashes and restarts, as gateways do.
async fn post_until_accepted(client: &reqwest::Client, base: &str, id: &str) {
    let body = json!({"id": id, "text": "cholera cases at the market", "sender": "+254700000001"});
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let reply = client
            .post(format!("{base}/v1/reports"))
            .bearer_auth(TOKEN)
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        if let Ok(reply) = reply {
            if reply.status().is_success() {
                return;
            }
            assert!(
                reply.status().is_server_error(),
                "{id}: refused with {}",
                reply.status()
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never accepted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every stored report's source id, through the API, all pages.
async fn stored_source_ids(base: &str) -> Option<Vec<String>> {
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=500&cursor={c}"),
            None => "limit=500".to_owned(),
        };
        let reply = client
            .get(format!("{base}/v1/reports?{query}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?;
        if !reply.status().is_success() {
            return None;
        }
        let page: Value = reply.json().await.ok()?;
        for report in page["reports"].as_array()? {
            ids.push(report["source_id"].as_str()?.to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Some(ids),
        }
    }
}

/// Asserts that `stored` holds each of `expected` exactly once.
fn assert_each_once(mut stored: Vec<String>, expected: &[String]) {
    stored.sort();
    let mut wanted = expected.to_vec();
    wanted.sort();
    assert_eq!(
        stored.len(),
        wanted.len(),
        "stored {} for {} accepted",
        stored.len(),
        wanted.len()
    );
    assert_eq!(stored, wanted, "each accepted report stored exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_mid_load_stores_every_accepted_report_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [("ISHARA_HTTP__LISTEN", format!("127.0.0.1:{port}"))];
    let mut serve = Ishara::start("serve", dir.path(), &env);
    wait_healthy(&base).await;

    let ids: Vec<String> = (0..400).map(|n| format!("load-{n}")).collect();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for chunk in ids.chunks(50) {
        let (chunk, base, accepted) = (chunk.to_vec(), base.clone(), accepted.clone());
        senders.spawn(async move {
            let client = reqwest::Client::new();
            for id in chunk {
                post_until_accepted(&client, &base, &id).await;
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    eventually("a quarter of the load is accepted", 60, || async {
        (accepted.load(std::sync::atomic::Ordering::SeqCst) >= 100).then_some(())
    })
    .await;
    serve.kill9();
    let restarted = Ishara::start("serve", dir.path(), &env);
    while let Some(done) = senders.join_next().await {
        done.expect("a sender finished");
    }

    let stored = eventually("every accepted report is stored", 60, || async {
        stored_source_ids(&base)
            .await
            .filter(|s| s.len() >= ids.len())
    })
    .await;
    assert_each_once(stored, &ids);
    drop(restarted);
}

/// Posts `ids` as NDJSON batches of 100 until every line is accepted.
async fn post_batches(base: &str, ids: &[String]) {
    let client = reqwest::Client::new();
    for chunk in ids.chunks(100) {
        let body: String = chunk
            .iter()
            .map(|id| {
                let line = json!({"id": id, "text": "cholera cases at the market", "sender": "+254700000001"});
                format!("{line}\n")
            })
            .collect();
        let reply = client
            .post(format!("{base}/v1/reports"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let answer: Value = reply.json().await.unwrap();
        assert_eq!(answer["accepted"], chunk.len(), "{answer}");
    }
}

async fn stored_in_postgres(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT source_id FROM reports")
        .fetch_all(pool)
        .await
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_loses_nothing_and_counts_each_report_once() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/rules.yaml"),
        cholera_rule("  notify: [duty_desk]\n"),
    )
    .unwrap();
    let hook = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let prefix = unique("faults");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [
        ("ISHARA_CHANNELS__DUTY_DESK__WEBHOOK", hook.uri()),
        ("ISHARA_HTTP__LISTEN", format!("127.0.0.1:{port}")),
        ("ISHARA_AMQP__URL", amqp_url()),
        ("ISHARA_AMQP__PREFIX", prefix.clone()),
        ("ISHARA_DATABASE__URL", db.url.clone()),
        ("ISHARA_REDIS__URL", redis_url()),
        ("ISHARA_REDIS__PREFIX", format!("{prefix}:")),
        ("ISHARA_WORKER__BATCH_SIZE", "8".to_owned()),
    ];
    let api = Ishara::start("api", dir.path(), &env);
    wait_healthy(&base).await;
    let mut doomed = Ishara::start("worker", dir.path(), &env);
    let survivor = Ishara::start("worker", dir.path(), &env);
    let notifier = Ishara::start("notifier", dir.path(), &env);

    let ids: Vec<String> = (0..3000).map(|n| format!("w-{n}")).collect();
    post_batches(&base, &ids).await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    eventually("the workers are storing", 120, || async {
        (stored_in_postgres(&pool).await.len() >= 200).then_some(())
    })
    .await;
    doomed.kill9();

    let stored = eventually("every report is stored", 180, || async {
        let stored = stored_in_postgres(&pool).await;
        (stored.len() >= ids.len()).then_some(stored)
    })
    .await;
    assert_each_once(stored, &ids);

    // Counted once: the rule's window holds each stored report once, and
    // its firing is one alert.
    let mut con = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{prefix}:{{cholera-cluster|}}:m");
    let members: usize = eventually("the last batch is counted", 30, || async {
        let n: usize = redis::cmd("ZCARD")
            .arg(&key)
            .query_async(&mut con.clone())
            .await
            .ok()?;
        (n >= ids.len()).then_some(n)
    })
    .await;
    assert_eq!(members, ids.len(), "window members equal stored reports");
    let alerts: i64 = sqlx::query_scalar("SELECT count(*) FROM alerts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(alerts, 1, "one firing, one alert");
    // One message: the delivery is recorded as sent, and the receiver got
    // exactly one request.
    let delivered: i64 = eventually("the alert is delivered", 60, || async {
        let sent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notification_attempts WHERE status = 'sent'")
                .fetch_one(&pool)
                .await
                .ok()?;
        (sent >= 1).then_some(sent)
    })
    .await;
    assert_eq!(delivered, 1);
    assert_eq!(
        hook.received_requests().await.unwrap().len(),
        1,
        "one message"
    );
    let _: () = redis::cmd("EVAL")
        .arg("for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end")
        .arg(0)
        .arg(format!("{prefix}:*"))
        .query_async(&mut con)
        .await
        .unwrap();
    drop((api, survivor, notifier));
    delete_amqp(&amqp_url(), &prefix).await;
}

/// A PostgreSQL cluster of the test's own (`initdb` as the `postgres`
/// user, on its own port and socket directory), stopped hard when dropped.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
}

fn pg_bin(name: &str) -> std::path::PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL is installed");
    let mut found: Vec<_> = versions
        .filter_map(|v| v.ok().map(|v| v.path().join("bin").join(name)))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no {name} under /usr/lib/postgresql"))
}

fn as_postgres(program: std::path::PathBuf) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(program);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

impl PrivatePostgres {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "chown the cluster directory");
        let status = as_postgres(pg_bin("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(dir.path().join("pg"))
            .status()
            .unwrap();
        assert!(status.success(), "initdb");
        let pg = Self {
            dir,
            port: free_port(),
        };
        pg.run();
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let status = as_postgres(pg_bin("pg_ctl"))
            .args(["-w", "-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .arg("-D")
            .arg(self.dir.path().join("pg"))
            .arg("start")
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start");
    }

    /// An immediate shutdown: connections drop as in a crash.
    fn stop(&self) {
        let status = as_postgres(pg_bin("pg_ctl"))
            .args(["-m", "immediate", "-w", "-D"])
            .arg(self.dir.path().join("pg"))
            .arg("stop")
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl stop");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_postgres(pg_bin("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path().join("pg"))
            .arg("stop")
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_longer_than_the_pool_timeout_loses_nothing() {
    let pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [
        ("ISHARA_HTTP__LISTEN", format!("127.0.0.1:{port}")),
        ("ISHARA_DATABASE__URL", pg.url()),
    ];
    let _serve = Ishara::start("serve", dir.path(), &env);
    wait_healthy(&base).await;
    let before: Vec<String> = (0..50).map(|n| format!("before-{n}")).collect();
    post_batches(&base, &before).await;
    eventually("the first reports are stored", 60, || async {
        stored_source_ids(&base)
            .await
            .filter(|s| s.len() >= before.len())
    })
    .await;

    pg.stop();
    // The local queue takes reports while the database is down.
    let during: Vec<String> = (0..50).map(|n| format!("during-{n}")).collect();
    post_batches(&base, &during).await;
    // Longer than the pool's 5-second acquire timeout: the worker must
    // keep what it holds and retry, not give up on it.
    tokio::time::sleep(Duration::from_secs(8)).await;
    pg.run();

    let all: Vec<String> = before.iter().chain(&during).cloned().collect();
    let stored = eventually("every report is stored after the outage", 120, || async {
        stored_source_ids(&base)
            .await
            .filter(|s| s.len() >= all.len())
    })
    .await;
    assert_each_once(stored, &all);
    let client = reqwest::Client::new();
    let dead: Value = client
        .get(format!("{base}/v1/dead-letters"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        dead["dead_letters"].as_array().map(Vec::len),
        Some(0),
        "{dead}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_killed_with_reports_in_its_spool_drains_them_after_restart() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("faults");
    let broker = Proxy::start(amqp_target(&amqp_url())).await;
    broker.cut();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [
        ("ISHARA_HTTP__LISTEN", format!("127.0.0.1:{port}")),
        ("ISHARA_AMQP__URL", broker.amqp_url(&amqp_url())),
        ("ISHARA_AMQP__PREFIX", prefix.clone()),
        ("ISHARA_DATABASE__URL", db.url.clone()),
    ];
    let mut api = Ishara::start("api", dir.path(), &env);
    wait_healthy(&base).await;
    let ids: Vec<String> = (0..300).map(|n| format!("s-{n}")).collect();
    post_batches(&base, &ids).await;
    let spooled: u64 = std::fs::read_dir(dir.path().join("data/spool"))
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(
        spooled > 0,
        "the broker is cut: the reports wait in the spool"
    );
    api.kill9();

    broker.restore();
    let restarted = Ishara::start("api", dir.path(), &env);
    let worker_env = [
        ("ISHARA_AMQP__URL", amqp_url()),
        ("ISHARA_AMQP__PREFIX", prefix.clone()),
        ("ISHARA_DATABASE__URL", db.url.clone()),
    ];
    let worker = Ishara::start("worker", dir.path(), &worker_env);
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let stored = eventually("the spool drains into the store", 120, || async {
        let stored = stored_in_postgres(&pool).await;
        (stored.len() >= ids.len()).then_some(stored)
    })
    .await;
    assert_each_once(stored, &ids);
    drop((restarted, worker));
    delete_amqp(&amqp_url(), &prefix).await;
}
