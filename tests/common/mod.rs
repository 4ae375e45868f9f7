//! What the black-box tests share: the real services, an app on a random
//! port, a TCP proxy that can cut the broker off, and gateway signers
//! written from the gateways' documentation rather than from our code.
#![allow(dead_code)]

pub mod smtp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use ishara::app::{Application, Role};
use ishara::config::{
    Config, GenericConfig, Secrets, SmsSyncConfig, TokenGatewayConfig, TwilioConfig, VonageConfig,
    VonageSignatureMethod,
};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub const API_TOKEN: &str = "test-admin-token-0123456789";
pub const TWILIO_TOKEN: &str = "0123456789abcdef0123456789abcdef";
pub const VONAGE_SECRET: &str = "Sig-Secret-0123456789";
pub const SMSSYNC_SECRET: &str = "smssync-secret-42";
pub const AT_TOKEN: &str = "at-url-token-0123";
pub const GENERIC_TOKEN: &str = "generic-token-0123";
pub const GENERIC_HMAC: &str = "generic-hmac-secret";

// ---------------------------------------------------------------- services

/// The URL of a service the tests need. They need it: a missing service
/// fails the test, with how to start it, rather than skipping.
fn service_url(var: &str, default: &str) -> String {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let addr = host_port(&url);
    if std::net::TcpStream::connect_timeout(
        &addr.parse().expect("service address"),
        Duration::from_secs(2),
    )
    .is_err()
    {
        panic!(
            "{var}: nothing answers at {addr}. Start the services (scripts/test.sh does) \
             or point {var} at them."
        );
    }
    url
}

fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

pub fn amqp_url() -> String {
    service_url(
        "ISHARA_TEST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}

pub fn redis_url() -> String {
    service_url("ISHARA_TEST_REDIS_URL", "redis://127.0.0.1:6379/")
}

pub fn postgres_url() -> String {
    service_url(
        "ISHARA_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A fresh PostgreSQL database, dropped when the test ends.
pub struct TestDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let admin_url = postgres_url();
        let name = unique("ishara_test");
        let admin = sqlx::PgPool::connect(&admin_url).await.expect("postgres");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let (base, _) = admin_url.rsplit_once('/').expect("database in URL");
        Self {
            url: format!("{base}/{name}"),
            name,
            admin_url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop cannot await; a small runtime of its own does the clean-up.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&admin)
                        .await;
                }
            })
        })
        .join();
    }
}

/// Deletes the queues and exchange a test declared under `prefix`.
pub async fn delete_amqp(url: &str, prefix: &str) {
    let Ok(conn) = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await
    else {
        return;
    };
    for queue in ["reports", "alerts"] {
        let names = ishara::queue::amqp::Names::new(prefix, queue);
        if let Ok(channel) = conn.create_channel().await {
            let _ = ishara::queue::amqp::delete(&channel, &names).await;
        }
    }
    let _ = conn.close(200, "test done").await;
}

// ------------------------------------------------------------------- proxy

/// A TCP proxy in front of a real service; `cut()` drops every connection
/// and refuses new ones until `restore()`, as a broker outage would;
/// `stall()` keeps every connection open but forwards no byte until
/// `resume()`, as a broker that hangs would.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: Arc<Notify>,
    stalled: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let (stalled, flowing) = tokio::sync::watch::channel(false);
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let cut = cut2.clone();
                let flowing = flowing.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        _ = forward(client_read, server_write, flowing.clone()) => {}
                        _ = forward(server_read, client_write, flowing) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        Self {
            addr,
            up,
            cut,
            stalled,
        }
    }

    /// The AMQP URL of `real` with its host and port replaced by the proxy.
    pub fn amqp_url(&self, real: &str) -> String {
        real.replace(&host_port(real), &self.addr.to_string())
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    pub fn resume(&self) {
        self.stalled.send_replace(false);
    }
}

/// Copies one direction, holding bytes (read or not) while stalled.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut flowing: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0; 64 * 1024];
    loop {
        if flowing.wait_for(|stalled| !stalled).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if flowing.wait_for(|stalled| !stalled).await.is_err()
            || to.write_all(&buf[..n]).await.is_err()
        {
            return;
        }
    }
}

/// Publishes straight onto a deployment's reports queue, past the API, as
/// a broker redelivery or another producer would.
pub async fn publish_raw(url: &str, prefix: &str, payloads: &[&[u8]]) {
    let plain = lapin::BasicProperties::default().with_delivery_mode(2);
    let messages: Vec<_> = payloads.iter().map(|p| (*p, plain.clone())).collect();
    publish_messages(url, prefix, &messages).await;
}

/// Publishes the payloads as one grouped message, as the API sends
/// reports that arrive together.
pub async fn publish_grouped(url: &str, prefix: &str, payloads: &[&[u8]]) {
    use ishara::queue::batch;
    let body = batch::encode(payloads);
    let grouped = lapin::BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(batch::CONTENT_TYPE.into());
    publish_messages(url, prefix, &[(&body, grouped)]).await;
}

async fn publish_messages(url: &str, prefix: &str, messages: &[(&[u8], lapin::BasicProperties)]) {
    use lapin::options::BasicPublishOptions;
    let names = ishara::queue::amqp::Names::new(prefix, "reports");
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel.confirm_select(Default::default()).await.unwrap();
    for (payload, properties) in messages {
        channel
            .basic_publish(
                "",
                &names.queue,
                BasicPublishOptions::default(),
                payload,
                properties.clone(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    conn.close(200, "done").await.unwrap();
}

pub fn amqp_target(url: &str) -> String {
    host_port(url)
}

// --------------------------------------------------------------------- app

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub config: Config,
    pub app_queue: Arc<dyn ishara::queue::MessageQueue>,
    _data: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Every gateway configured with the secrets of the spec's examples.
pub fn test_config(data_dir: &std::path::Path) -> Config {
    let mut c = Config {
        data_dir: data_dir.to_owned(),
        ..Config::default()
    };
    c.http.listen = "127.0.0.1:0".parse().unwrap();
    c.api.token = Some(API_TOKEN.into());
    c.ingest.default_country = Some("KE".into());
    c.worker.concat_timeout_secs = 600;
    // No rules unless a test writes some: the repository's examples are
    // tested by `rules test`, not by every app a test starts.
    c.rules_dir = data_dir.join("rules");
    c.templates_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    c.gateways.twilio = Some(TwilioConfig {
        auth_token: Secrets::One(TWILIO_TOKEN.into()),
        account_sid: Some("AC0123456789abcdef0123456789abcdef".into()),
        signing_keys: [("k1".to_owned(), "whsec_0123456789abcdef".to_owned())].into(),
    });
    c.gateways.vonage = Some(VonageConfig {
        signature_secret: Secrets::Many(vec!["old-secret-000".into(), VONAGE_SECRET.into()]),
        signature_method: VonageSignatureMethod::Md5hash,
        api_key: Some("abcd1234".into()),
        // The documented example is signed in 2025; accept it as fresh.
        max_age_secs: 20 * 365 * 86400,
    });
    c.gateways.smssync = Some(SmsSyncConfig {
        secret: Secrets::One(SMSSYNC_SECRET.into()),
        device_ids: vec![],
    });
    c.gateways.africastalking = Some(TokenGatewayConfig {
        token: Secrets::One(AT_TOKEN.into()),
    });
    c.gateways.generic = Some(GenericConfig {
        token: Some(Secrets::One(GENERIC_TOKEN.into())),
        hmac_secret: Some(Secrets::One(GENERIC_HMAC.into())),
    });
    c
}

impl TestApp {
    /// The embedded default: local queue and SQLite.
    pub async fn embedded() -> Self {
        Self::spawn(|_| {}).await
    }

    pub async fn spawn(customize: impl FnOnce(&mut Config)) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut config = test_config(data.path());
        customize(&mut config);
        Self::start(config, data).await
    }

    /// Stops this app and starts another on the same data directory and
    /// configuration, as a process restart would.
    pub async fn restart(self) -> Self {
        self.restart_with(|| {}).await
    }

    /// As [`Self::restart`], doing `meanwhile` while no app runs.
    pub async fn restart_with(mut self, meanwhile: impl FnOnce()) -> Self {
        let data = self._data.take().expect("a data directory");
        let config = self.config.clone();
        self.server.abort();
        let server = std::mem::replace(&mut self.server, tokio::spawn(async { Ok(()) }));
        // Wait until the old app is gone, with its database connections.
        let _ = server.await;
        drop(self);
        meanwhile();
        Self::start(config, data).await
    }

    async fn start(config: Config, data: tempfile::TempDir) -> Self {
        let app = Application::build(&config, Role::Serve)
            .await
            .expect("app starts");
        let base = format!("http://127.0.0.1:{}", app.port().unwrap());
        let app_queue = app.queue();
        let server = tokio::spawn(app.run_until_stopped());
        Self {
            base,
            client: reqwest::Client::new(),
            config,
            app_queue,
            _data: Some(data),
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_form(&self, path: &str, body: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    pub async fn post_reports(&self, content_type: &str, body: &str) -> reqwest::Response {
        self.client
            .post(self.url("/v1/reports"))
            .bearer_auth(API_TOKEN)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// `GET path` with the admin token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` with the admin token, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// Stored reports, newest first (one page of up to 500).
    pub async fn reports(&self) -> Vec<Value> {
        let page = reports_page(&self.client, &self.base, API_TOKEN, "limit=500").await;
        page["reports"].as_array().unwrap().clone()
    }

    /// Waits until `n` reports are stored, then a little longer to catch
    /// any that should not be.
    pub async fn wait_for_reports(&self, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let reports = self.reports().await;
            if reports.len() >= n {
                tokio::time::sleep(Duration::from_millis(300)).await;
                return self.reports().await;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("expected {n} reports, have {}: {reports:#?}", reports.len());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to 10 s for the worker to dead-letter something.
    pub async fn wait_for_dead_letters(&self) -> Vec<ishara::queue::DeadLetter> {
        self.wait_for_dead_letters_n(1).await
    }

    /// Waits up to 10 s for the worker to dead-letter `n` messages.
    pub async fn wait_for_dead_letters_n(&self, n: usize) -> Vec<ishara::queue::DeadLetter> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let letters = self.app_queue.dead_letters(10).await.unwrap();
            if letters.len() >= n || tokio::time::Instant::now() > deadline {
                return letters;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asserts that nothing was stored, with a positive control: a report
    /// queued after whatever was refused is stored, and it is the only
    /// one. Without it, a worker that had not got round to a report yet
    /// would pass for one that never received it.
    pub async fn assert_nothing_stored(&self) {
        let control = control_report();
        let payload = ishara::queue::codec::encode_report(&control);
        self.app_queue.publish(&payload).await.unwrap();
        let reports = self.wait_for_reports(1).await;
        let stored: Vec<&str> = reports
            .iter()
            .map(|r| r["source_id"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            stored,
            [control.source_id.as_str()],
            "only the control report is stored: {reports:#?}"
        );
    }

    /// Nothing stored and nothing dead-lettered: what a refused request
    /// must leave behind on any back end.
    pub async fn assert_nothing_changed(&self) {
        self.assert_nothing_stored().await;
        let letters = self.app_queue.dead_letters(10).await.unwrap();
        assert!(letters.is_empty(), "dead-lettered: {letters:?}");
    }

    /// `POST path` with raw bytes, such as a body that is not UTF-8.
    pub async fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// The source ids of stored reports, sorted.
pub fn sorted_source_ids(reports: &[Value]) -> Vec<&str> {
    let mut ids: Vec<&str> = reports
        .iter()
        .map(|r| r["source_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids
}

/// One page of `GET /v1/reports?{query}`, as JSON.
pub async fn reports_page(client: &reqwest::Client, base: &str, token: &str, query: &str) -> Value {
    client
        .get(format!("{base}/v1/reports?{query}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

// ----------------------------------------------------------------- signers
// Written from the gateways' documentation (docs/gateways.md, "Signatures,
// step by step", and the providers' own pages it lists), not from src/: a
// test signed here checks our verifier against the recipe.

/// Twilio: base64(HMAC-SHA1(token, url + sorted name/value pairs)).
pub fn twilio_signature(token: &str, url: &str, form: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    let mut data = url.to_owned();
    for (k, v) in pairs {
        data.push_str(&k);
        data.push_str(&v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Vonage `md5hash`: md5("&k=v…" sorted, `&`/`=` in values as `_`, + secret).
pub fn vonage_md5hash(secret: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut base = String::new();
    for (k, v) in sorted {
        base.push_str(&format!("&{k}={}", v.replace(['&', '='], "_")));
    }
    base.push_str(secret);
    hex::encode(md5::Md5::digest(base.as_bytes()))
}

use md5::Digest;

pub fn form(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// Deletes the Redis keys a test made under `prefix`.
pub async fn clear_redis(url: &str, prefix: &str) {
    use ishara::window::WindowStore;
    let windows = ishara::window::RedisWindows::connect(url, prefix)
        .await
        .expect("redis");
    windows.clear().await.expect("clear redis keys");
}

/// A report that matches no example rule, queued to prove the worker is
/// live and has taken everything queued before it.
fn control_report() -> ishara::report::IncomingReport {
    use ishara::report::{IncomingReport, ReportId, Source, SourceId, Text};
    let id = ReportId::new();
    IncomingReport {
        id,
        source: Source::new("generic"),
        source_id: SourceId::given(&format!("control-{id}")).expect("a source id"),
        sender: None,
        sender_pseudonym: None,
        recipient: None,
        text: Text::parse("positive control").expect("text"),
        sent_at: None,
        received_at: chrono::Utc::now(),
        location: None,
        meta: Default::default(),
        part: None,
    }
}
