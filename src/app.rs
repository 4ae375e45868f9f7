//! Assembles the service from its configuration: store, queue, worker and
//! HTTP server, for whichever roles this process plays.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use rand::RngCore;
use tokio::task::JoinHandle;

use crate::api::{self, AppState, CapSettings};
use crate::config::Config;
use crate::enrich::Enricher;
use crate::ingest::{
    Gateway, Normalizer, africastalking::AfricasTalking, generic::Generic, smssync::SmsSync,
    twilio::Twilio, vonage::Vonage,
};
use crate::notify::notifier::{Notifier, NotifierOptions};
use crate::notify::outbox::Outbox;
use crate::notify::retry::Backoff;
use crate::notify::templates::LiveTemplates;
use crate::phone::PhoneNormalizer;
use crate::queue::MessageQueue;
use crate::queue::amqp::{AmqpQueue, Names};
use crate::queue::local::LocalQueue;
use crate::queue::spool::Spool;
use crate::queue::spooled::Spooled;
use crate::reload::{Reloader, RuleSource};
use crate::rules::engine::{Engine, RuleBook};
use crate::store::{self, Store};
use crate::window;
use crate::worker::{Alerting, Worker, WorkerOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// API and worker in one process: the embedded default.
    Serve,
    Api,
    Worker,
    Notifier,
}

impl Role {
    fn serves_http(self) -> bool {
        matches!(self, Role::Serve | Role::Api)
    }
    fn runs_worker(self) -> bool {
        matches!(self, Role::Serve | Role::Worker)
    }
    fn runs_notifier(self) -> bool {
        matches!(self, Role::Serve | Role::Notifier)
    }
}

/// Loading models and the gazetteer takes seconds of CPU: off the runtime.
async fn load_enricher(config: &Config) -> anyhow::Result<Arc<Enricher>> {
    let config = config.clone();
    let started = std::time::Instant::now();
    let enricher = tokio::task::spawn_blocking(move || Enricher::from_config(&config))
        .await
        .context("loading the enricher panicked")?
        .context("cannot load language models or gazetteer")?;
    tracing::info!(elapsed = ?started.elapsed(), "language models and gazetteer loaded");
    Ok(Arc::new(enricher))
}

pub struct Application {
    port: Option<u16>,
    server: Option<Server>,
    worker: Option<JoinHandle<anyhow::Result<()>>>,
    notifier: Option<JoinHandle<anyhow::Result<()>>>,
    api_token: String,
    queue: Arc<dyn MessageQueue>,
}

impl Application {
    pub async fn build(config: &Config, role: Role) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
        let store = open_store(config).await?;
        let queue = open_queue(config).await?;
        let alerts = open_alerts_queue(config).await?;
        let templates = Arc::new(load_templates(config)?);
        let notifier = if role.runs_notifier() {
            let notifier = Notifier::new(
                config,
                alerts.clone(),
                store.clone(),
                templates.clone(),
                notifier_options(config)?,
            )?;
            Some(Arc::new(notifier))
        } else {
            None
        };
        let (worker, rules) = if role.runs_worker() {
            // Rules first: a broken rule should stop the start before
            // seconds go into loading language models.
            let rules = start_rules(config, store.clone()).await?;
            let alerting = Alerting::new(
                rules.engine().clone(),
                Outbox::new(alerts.clone(), store.clone()),
            );
            let enricher = load_enricher(config).await?;
            let worker = Worker::new(
                queue.clone(),
                store.clone(),
                enricher,
                Arc::new(alerting),
                WorkerOptions {
                    prefetch: config.amqp.prefetch,
                    threads: config.worker.threads,
                    batch_size: config.worker.batch_size,
                    concat_timeout: config.concat_timeout(),
                    evaluation_interval: config.evaluation_interval(),
                },
            );
            tokio::spawn(rules.clone().watch());
            (Some(tokio::spawn(worker.run())), Some(rules))
        } else {
            (None, None)
        };
        let api_token = match &config.api.token {
            Some(token) => token.clone(),
            None if role.serves_http() => {
                secret_file(&config.data_dir.join("api-token"), Encoding::Token)?
            }
            None => String::new(),
        };
        let (port, server) = if role.serves_http() {
            let state = web::Data::new(AppState {
                queue: queue.clone(),
                store: store.clone(),
                gateways: gateways(config),
                normalizer: normalizer(config)?,
                api_token: api_token.clone(),
                public_url: config.http.public_url.clone(),
                max_body_bytes: config.http.max_body_bytes,
                body_timeout: config.http.body_timeout(),
                rules: rules.clone(),
                alerts_queue: alerts.clone(),
                templates: templates.clone(),
                cap: CapSettings {
                    sender: cap_sender(config),
                    status: config.notify.cap_status.clone(),
                    public: config.notify.cap_public,
                },
                alert_base_url: public_url(config),
            });
            let listener = TcpListener::bind(config.http.listen)
                .with_context(|| format!("cannot listen on http.listen {}", config.http.listen))?;
            let port = listener.local_addr()?.port();
            let workers = http_workers(config);
            let per_worker = connections_per_worker(config, workers);
            tracing::info!(workers, per_worker, "HTTP connection limit");
            let server = HttpServer::new(move || {
                App::new()
                    .wrap(tracing_actix())
                    .app_data(state.clone())
                    .configure(api::routes)
            })
            .workers(workers)
            .max_connections(per_worker)
            .client_request_timeout(config.http.header_timeout())
            // A client that never reads our answer must not keep its socket.
            .client_disconnect_timeout(CLOSE_TIMEOUT)
            .listen(listener)?
            .run();
            (Some(port), Some(server))
        } else {
            (None, None)
        };
        // Last: a start that fails on a rule or a port leaves no notifier
        // behind.
        let notifier = notifier.map(|n| tokio::spawn(n.run()));
        Ok(Self {
            port,
            server,
            worker,
            notifier,
            api_token,
            queue,
        })
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn api_token(&self) -> &str {
        &self.api_token
    }

    pub fn queue(&self) -> Arc<dyn MessageQueue> {
        self.queue.clone()
    }

    /// Serves until the server stops (SIGINT/SIGTERM) or the worker fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        // However this ends (or is dropped), the worker and notifier end
        // with it rather than consuming on for a process that has stopped.
        let _stop_worker = self.worker.as_ref().map(|w| AbortOnDrop(w.abort_handle()));
        let _stop_notifier = self
            .notifier
            .as_ref()
            .map(|n| AbortOnDrop(n.abort_handle()));
        let worker = match (self.worker, self.notifier) {
            (Some(worker), Some(notifier)) => Some(tokio::spawn(async move {
                tokio::select! {
                    worked = worker => worked.context("worker panicked")?,
                    notified = notifier => notified.context("notifier panicked")?,
                }
            })),
            (worker, notifier) => worker.or(notifier),
        };
        match (self.server, worker) {
            (Some(server), Some(worker)) => tokio::select! {
                served = server => served.context("HTTP server failed"),
                worked = worker => worked.context("worker panicked")?,
            },
            (Some(server), None) => server.await.context("HTTP server failed"),
            (None, Some(worker)) => tokio::select! {
                worked = worker => worked.context("worker panicked")?,
                _ = shutdown_signal() => Ok(()),
            },
            (None, None) => Ok(()),
        }
    }
}

/// How long a closing connection may take to flush our last answer.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// File descriptors kept for everything but HTTP connections: database and
/// queue files and pools, the broker, Redis, outgoing mail and webhooks.
const RESERVED_FDS: u64 = 256;

fn http_workers(config: &Config) -> usize {
    match config.http.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
}

/// `http.max_connections` shared by the workers, or, unset, what the
/// open-file limit leaves once [`RESERVED_FDS`] are set aside: past it, new
/// connections wait in the listen backlog instead of failing `accept` and
/// starving `/healthz` and the database of descriptors.
fn connections_per_worker(config: &Config, workers: usize) -> usize {
    let total = match config.http.max_connections {
        0 => {
            let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
            usize::try_from(soft.saturating_sub(RESERVED_FDS).max(workers as u64 * 16))
                .unwrap_or(usize::MAX)
        }
        n => n,
    };
    total.div_ceil(workers).max(1)
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// SIGINT or SIGTERM (what `docker stop` sends a worker).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn tracing_actix() -> actix_web::middleware::Logger {
    // Query strings and the last segment of inbound paths may carry
    // gateway tokens: log the path with any token masked.
    actix_web::middleware::Logger::new("%s %{path}xi %Dms")
        .custom_request_replace("path", |req| redact_path(req.path()))
        .exclude("/healthz")
}

/// `/v1/inbound/africastalking/<token>` → `/v1/inbound/africastalking/***`.
fn redact_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["", "v1", "inbound", gateway, _token, ..] => format!("/v1/inbound/{gateway}/***"),
        _ => path.to_owned(),
    }
}

/// Loads the rules (a broken one stops the start), connects the windows,
/// and in memory counts again what was stored within the longest window.
async fn start_rules(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Arc<Reloader>> {
    let source = RuleSource::from_config(config);
    let rules = source.load_at_start()?;
    let windows = window::open(config.redis.url.as_deref(), &config.redis.prefix)
        .await
        .context("cannot open the window store (redis.url)")?;
    let engine = Arc::new(Engine::new(
        RuleBook::new(rules),
        windows,
        store,
        config.allowed_lateness(),
    ));
    if config.redis.url.is_none() {
        let replayed = engine
            .rebuild(chrono::Utc::now())
            .await
            .context("cannot rebuild rule windows from stored reports")?;
        tracing::info!(replayed, "in-memory rule windows rebuilt");
    }
    tracing::info!(rules = engine.book().rules().len(), "rules in force");
    Ok(Arc::new(Reloader::new(source, engine)))
}

pub fn database_url(config: &Config) -> String {
    config.database.url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            config.data_dir.join("ishara.sqlite").display()
        )
    })
}

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = database_url(config);
    let store = store::open(&url, config.database.max_connections)
        .await
        .with_context(|| format!("cannot open database.url {}", redact(&url)))?;
    store.migrate().await.context("database migration failed")?;
    Ok(store)
}

async fn open_queue(config: &Config) -> anyhow::Result<Arc<dyn MessageQueue>> {
    let Some(amqp) = amqp_queue(config, "reports", AmqpQueue::grouping_within).await else {
        return local_queue(config, "queue.sqlite").await;
    };
    let spool_dir = config.data_dir.join("spool");
    let spool = Spool::open(&spool_dir)
        .with_context(|| format!("cannot open the spool {}", spool_dir.display()))?;
    Ok(Spooled::new(amqp, spool))
}

/// Where stored alerts wait for notifiers: RabbitMQ's `alerts` queue, or
/// a local queue beside the reports' one. Not spooled: an alert that cannot
/// be published stays unpublished in the database until the outbox sweep.
async fn open_alerts_queue(config: &Config) -> anyhow::Result<Arc<dyn MessageQueue>> {
    match amqp_queue(config, "alerts", AmqpQueue::confirming_within).await {
        Some(amqp) => Ok(amqp),
        None => local_queue(config, "alerts-queue.sqlite").await,
    }
}

async fn local_queue(config: &Config, file: &str) -> anyhow::Result<Arc<dyn MessageQueue>> {
    let path = config.data_dir.join(file);
    let queue = LocalQueue::open(&path)
        .await
        .with_context(|| format!("cannot open the local queue {}", path.display()))?;
    Ok(queue)
}

/// The named queue on RabbitMQ when `amqp.url` is set; it connects (and
/// reconnects) on its own, so an unreachable broker at start is a warning.
async fn amqp_queue(
    config: &Config,
    name: &str,
    open: fn(&str, Names, std::time::Duration) -> Arc<AmqpQueue>,
) -> Option<Arc<AmqpQueue>> {
    let url = config.amqp.url.as_ref()?;
    let names = Names::new(&config.amqp.prefix, name);
    let amqp = open(url, names, config.confirm_timeout());
    if let Err(e) = amqp.connect().await {
        tracing::warn!(queue = name, error = %e, "RabbitMQ unreachable at start; retrying in the background");
    }
    Some(amqp)
}

/// A broken template stops the start, like a broken rule.
fn load_templates(config: &Config) -> anyhow::Result<LiveTemplates> {
    LiveTemplates::load(&config.templates_dir).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!(
            "templates in {} have problems:\n{}",
            config.templates_dir.display(),
            lines.join("\n")
        )
    })
}

fn notifier_options(config: &Config) -> anyhow::Result<NotifierOptions> {
    let webhook_secret = match &config.notify.webhook_secret {
        Some(secret) => secret.clone(),
        None => secret_file(&config.data_dir.join("webhook-secret"), Encoding::Hex)?,
    };
    Ok(NotifierOptions {
        max_attempts: config.notify.max_attempts,
        backoff: Backoff {
            initial: std::time::Duration::from_millis(config.notify.retry_initial_ms),
            max: std::time::Duration::from_secs(config.notify.retry_max_secs),
        },
        prefetch: config.notify.prefetch,
        public_url: public_url(config),
        max_segments: config.sms.max_segments,
        pseudonym_key: pseudonym_key(config)?.into_bytes(),
        webhook_secret,
    })
}

/// The address links in messages point at.
fn public_url(config: &Config) -> String {
    config
        .http
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.http.listen))
}

fn cap_sender(config: &Config) -> String {
    config.notify.cap_sender.clone().unwrap_or_else(|| {
        let url = reqwest::Url::parse(&public_url(config)).ok();
        let host = url
            .as_ref()
            .and_then(|u| u.host_str())
            .unwrap_or("localhost");
        format!("ishara@{host}")
    })
}

fn pseudonym_key(config: &Config) -> anyhow::Result<String> {
    match &config.privacy.pseudonym_key {
        Some(key) => Ok(key.clone()),
        None => secret_file(&config.data_dir.join("pseudonym-key"), Encoding::Hex),
    }
}

fn gateways(config: &Config) -> HashMap<&'static str, Arc<dyn Gateway>> {
    let g = &config.gateways;
    let configured: [Option<Arc<dyn Gateway>>; 5] = [
        g.twilio
            .as_ref()
            .map(|c| Arc::new(Twilio::new(c)) as Arc<dyn Gateway>),
        g.africastalking
            .as_ref()
            .map(|c| Arc::new(AfricasTalking::new(c)) as Arc<dyn Gateway>),
        g.vonage
            .as_ref()
            .map(|c| Arc::new(Vonage::new(c)) as Arc<dyn Gateway>),
        g.smssync
            .as_ref()
            .map(|c| Arc::new(SmsSync::new(c)) as Arc<dyn Gateway>),
        g.generic
            .as_ref()
            .map(|c| Arc::new(Generic::new(c)) as Arc<dyn Gateway>),
    ];
    configured
        .into_iter()
        .flatten()
        .map(|gateway| (gateway.name(), gateway))
        .collect()
}

fn normalizer(config: &Config) -> anyhow::Result<Normalizer> {
    let phones = PhoneNormalizer::new(config.ingest.default_country.as_deref())?;
    Ok(Normalizer::new(phones, pseudonym_key(config)?.into_bytes()))
}

enum Encoding {
    Token,
    Hex,
}

/// Reads a secret kept in `data_dir`, making a random one the first time.
fn secret_file(path: &Path, encoding: Encoding) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        return Ok(existing.trim().to_owned());
    }
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = match encoding {
        Encoding::Token => format!("ish_{}", hex::encode(bytes)),
        Encoding::Hex => hex::encode(bytes),
    };
    write_private(path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

/// A URL with its password hidden, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_path_tokens_are_masked_in_logs() {
        assert_eq!(
            redact_path("/v1/inbound/africastalking/s3cret"),
            "/v1/inbound/africastalking/***"
        );
        assert_eq!(redact_path("/v1/inbound/twilio"), "/v1/inbound/twilio");
        assert_eq!(redact_path("/v1/reports"), "/v1/reports");
    }

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            redact("amqp://guest:pw@host:5672/%2f"),
            "amqp://guest:***@host:5672/%2f"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
