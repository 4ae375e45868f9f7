//! One typed configuration: built-in defaults, then a TOML file, then
//! `ISHARA_*` environment variables (`ISHARA_HTTP__LISTEN` sets `http.listen`).
//! Everything is checked here, so a bad value stops the start with its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod gateways;
pub(crate) mod lenient;
mod notify;
pub mod sms;

pub use gateways::{
    GatewaysConfig, GenericConfig, Secrets, SmsSyncConfig, TokenGatewayConfig, TwilioConfig,
    VonageConfig, VonageSignatureMethod,
};
pub use notify::{NotifyConfig, SmsConfig, SmtpConfig};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the embedded defaults keep their files (SQLite, spool, keys).
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub amqp: AmqpConfig,
    pub database: DatabaseConfig,
    pub api: ApiConfig,
    pub ingest: IngestConfig,
    pub privacy: PrivacyConfig,
    pub gateways: GatewaysConfig,
    pub worker: WorkerConfig,
    pub language: LanguageConfig,
    pub geo: GeoConfig,
    /// Directory of rule files (`*.yaml`); reloaded when they change.
    pub rules_dir: PathBuf,
    /// Directory of notification templates; rules name them by file stem.
    pub templates_dir: PathBuf,
    pub redis: RedisConfig,
    pub rules: RulesConfig,
    /// Named notification channels that rules send alerts to.
    #[serde(default)]
    pub channels: std::collections::BTreeMap<String, ChannelConfig>,
    pub smtp: SmtpConfig,
    pub sms: SmsConfig,
    pub notify: NotifyConfig,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:6379/`; unset keeps windows in memory, rebuilt from
    /// stored reports at start.
    pub url: Option<String>,
    /// Prefix of every key, so deployments (or tests) can share a server.
    #[serde(deserialize_with = "lenient::string")]
    pub prefix: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// A report sent longer ago than this when it is counted is stored but
    /// not counted in windows.
    pub allowed_lateness_secs: u64,
    /// How often timers check silences (absence) and resolve alerts whose
    /// condition no longer holds.
    pub evaluation_interval_ms: u64,
}

/// A named set of destinations that rules send alerts to (`notify`):
/// `channels.duty_desk.email = ["a@x.org"]`, from the environment
/// `ISHARA_CHANNELS__DUTY_DESK__EMAIL=a@x.org,b@y.org`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// Email addresses.
    #[serde(default, deserialize_with = "lenient::list")]
    pub email: Vec<String>,
    /// E.164 numbers for SMS.
    #[serde(default, deserialize_with = "lenient::list")]
    pub sms: Vec<String>,
    /// URL the alert is POSTed to as JSON.
    #[serde(default)]
    pub webhook: Option<String>,
    /// Key of the webhook's `X-Ishara-Signature`; `notify.webhook_secret`
    /// when unset.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub webhook_secret: Option<String>,
    /// Show senders' phone numbers in messages; otherwise they appear only
    /// as pseudonyms.
    #[serde(default)]
    pub show_phone_numbers: bool,
    /// Overrides `notify.rate_per_minute` for this channel.
    #[serde(default)]
    pub rate_per_minute: Option<u32>,
}

impl ChannelConfig {
    fn is_empty(&self) -> bool {
        self.email.is_empty() && self.sms.is_empty() && self.webhook.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// The base URL gateways call, such as `https://ishara.example.org`:
    /// Twilio signs the URL it called, not the one a proxy forwards.
    pub public_url: Option<String>,
    /// Requests with a larger body get 413.
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per CPU core.
    #[serde(default)]
    pub workers: usize,
    /// A request's whole body must arrive within this, or it gets 408: a
    /// client that stalls or trickles must not hold a connection forever.
    pub body_timeout_ms: u64,
    /// The request line and headers must arrive within this.
    pub header_timeout_ms: u64,
    /// Connections served at once, across workers; 0 derives it from the
    /// open-file limit so that a flood cannot exhaust file descriptors.
    #[serde(default)]
    pub max_connections: usize,
}

impl HttpConfig {
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// `amqp://user:pass@host:5672/%2f`; unset runs the embedded local queue.
    pub url: Option<String>,
    /// Prefix of the queue and exchange names, so several deployments (or
    /// tests) can share one broker.
    #[serde(deserialize_with = "lenient::string")]
    pub prefix: String,
    /// Unconfirmed deliveries one worker holds at once.
    pub prefetch: u16,
    /// A report the broker has not confirmed this long after it arrived is
    /// spooled to disk instead, so no request waits longer on the broker.
    pub confirm_timeout_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` or `sqlite://…`; unset means SQLite under `data_dir`.
    pub url: Option<String>,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Bootstrap admin token for `/v1/reports`. Unset: one is generated into
    /// `data_dir/api-token` at first start and printed.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// ISO alpha-2 country whose national numbers (`0712…`) senders use.
    pub default_country: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Key of the sender pseudonyms. Unset: generated into
    /// `data_dir/pseudonym-key`; every API, worker and notifier of one
    /// deployment must share it.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub pseudonym_key: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// How often a multipart SMS with missing parts is given up on and
    /// stored with what arrived, in seconds.
    pub concat_timeout_secs: u64,
    /// Threads enriching reports (language models are CPU-bound); 0 means
    /// one per core.
    pub threads: usize,
    /// Queue messages whose reports are enriched, stored and counted
    /// together (a grouped message holds many); 0 means
    /// `amqp.prefetch / threads`. Smaller batches fire alerts sooner,
    /// larger ones take more reports a second.
    #[serde(default)]
    pub batch_size: usize,
}

/// Language detection: which languages lingua may answer with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageConfig {
    /// ISO 639-1 codes; from the environment a comma-separated string.
    #[serde(deserialize_with = "lenient::list")]
    pub languages: Vec<String>,
}

/// Where reports are about: gazetteer, boundaries, countries of operation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoConfig {
    /// ISO alpha-2 codes of the countries the deployment works in; they
    /// win ties between places of the same name.
    #[serde(default, deserialize_with = "lenient::list")]
    pub countries: Vec<String>,
    /// A directory of GeoNames dump files (`ishara gazetteer import` fills
    /// it); unset means `data_dir/gazetteer` if present. Its place files
    /// replace the embedded extract's places of the countries they cover.
    #[serde(default)]
    pub gazetteer: Option<PathBuf>,
    /// GeoJSON files of admin boundaries (FeatureCollections of Polygon or
    /// MultiPolygon, region code in `shapeISO` or `admin1_code`, name in
    /// `shapeName` or `admin1_name`: see docs/geo.md); coordinates resolve
    /// by polygon when any are loaded.
    #[serde(default, deserialize_with = "lenient::list")]
    pub boundaries: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("ishara-data"),
            http: HttpConfig {
                listen: "127.0.0.1:8080".parse().expect("valid address"),
                public_url: None,
                max_body_bytes: 1024 * 1024,
                workers: 0,
                body_timeout_ms: 10_000,
                header_timeout_ms: 5_000,
                max_connections: 0,
            },
            amqp: AmqpConfig {
                url: None,
                prefix: "ishara".into(),
                prefetch: 64,
                confirm_timeout_ms: 5000,
            },
            database: DatabaseConfig {
                url: None,
                max_connections: 10,
            },
            api: ApiConfig::default(),
            ingest: IngestConfig::default(),
            privacy: PrivacyConfig::default(),
            gateways: GatewaysConfig::default(),
            worker: WorkerConfig {
                concat_timeout_secs: 600,
                threads: 0,
                batch_size: 0,
            },
            language: LanguageConfig {
                languages: crate::language::DEFAULT_LANGUAGES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            },
            geo: GeoConfig::default(),
            rules_dir: PathBuf::from("rules"),
            templates_dir: PathBuf::from("templates"),
            redis: RedisConfig {
                url: None,
                prefix: "ishara:".into(),
            },
            rules: RulesConfig {
                allowed_lateness_secs: 3600,
                evaluation_interval_ms: 1000,
            },
            channels: Default::default(),
            smtp: SmtpConfig {
                url: None,
                from: None,
                timeout_secs: 30,
            },
            sms: SmsConfig {
                max_segments: 3,
                ..SmsConfig::default()
            },
            notify: NotifyConfig::defaults(),
        }
    }
}

/// Variables that are ours but not configuration keys.
const NOT_KEYS: &[&str] = &["ISHARA_CONFIG", "ISHARA_LOG"];

impl Config {
    /// Defaults, then `file` (if any), then the environment.
    pub fn allowed_lateness(&self) -> Duration {
        Duration::from_secs(self.rules.allowed_lateness_secs)
    }

    pub fn evaluation_interval(&self) -> Duration {
        Duration::from_millis(self.rules.evaluation_interval_ms)
    }

    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_millis(self.amqp.confirm_timeout_ms)
    }

    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!("config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(
            Env::prefixed("ISHARA_")
                .filter(|key| {
                    let upper = format!("ISHARA_{}", key.as_str().to_ascii_uppercase());
                    !NOT_KEYS.contains(&upper.as_str())
                        && !upper.starts_with("ISHARA_TEST_")
                        && !upper.starts_with("ISHARA_BENCH_")
                })
                .split("__")
                .map(|key| key.as_str().to_ascii_lowercase().into()),
        );
        let config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {}", describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let bad =
            |key: &str, why: &str| Err(anyhow::anyhow!("invalid configuration: {key}: {why}"));
        if let Some(url) = &self.http.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad("http.public_url", "must start with http:// or https://");
        }
        if self.http.max_body_bytes == 0 {
            return bad("http.max_body_bytes", "must be greater than 0");
        }
        if self.http.body_timeout_ms == 0 {
            return bad("http.body_timeout_ms", "must be greater than 0");
        }
        if self.http.header_timeout_ms == 0 {
            return bad("http.header_timeout_ms", "must be greater than 0");
        }
        if let Some(url) = &self.amqp.url
            && !(url.starts_with("amqp://") || url.starts_with("amqps://"))
        {
            return bad("amqp.url", "must start with amqp:// or amqps://");
        }
        if let Err(e) = crate::language::parse_languages(&self.language.languages) {
            return bad("language.languages", &e.to_string());
        }
        if let Some(unknown) = self
            .geo
            .countries
            .iter()
            .find(|c| crate::country::by_iso(c).is_none())
        {
            return bad(
                "geo.countries",
                &format!("{unknown} is not an ISO 3166 alpha-2 country code"),
            );
        }
        if let Some(url) = &self.redis.url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
        {
            return bad(
                "redis.url",
                "must start with redis://, rediss:// or unix://",
            );
        }
        if self.rules.evaluation_interval_ms == 0 {
            return bad("rules.evaluation_interval_ms", "must be greater than 0");
        }
        if let Some((name, _)) = self.channels.iter().find(|(_, c)| c.is_empty()) {
            return bad(
                &format!("channels.{name}"),
                "needs at least one of email, sms or webhook",
            );
        }
        if let Some((name, url)) = self.channels.iter().find_map(|(n, c)| {
            c.webhook
                .as_ref()
                .filter(|u| !(u.starts_with("http://") || u.starts_with("https://")))
                .map(|u| (n, u))
        }) {
            return bad(
                &format!("channels.{name}.webhook"),
                &format!("{url} must start with http:// or https://"),
            );
        }
        if let Some(name) = self.channels.keys().find(|n| n.as_str() == "log") {
            return bad(
                &format!("channels.{name}"),
                "\"log\" is the built-in channel and cannot be redefined",
            );
        }
        if self.amqp.prefetch == 0 {
            return bad("amqp.prefetch", "must be greater than 0");
        }
        if self.amqp.confirm_timeout_ms == 0 {
            return bad("amqp.confirm_timeout_ms", "must be greater than 0");
        }
        if self.amqp.prefix.is_empty() {
            return bad("amqp.prefix", "must not be empty");
        }
        if let Some(url) = &self.database.url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            return bad("database.url", "must start with postgres:// or sqlite:");
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be greater than 0");
        }
        if let Some(token) = &self.api.token
            && token.len() < 16
        {
            return bad("api.token", "must be at least 16 characters");
        }
        if let Some(country) = &self.ingest.default_country
            && crate::country::by_iso(country).is_none()
        {
            return bad(
                "ingest.default_country",
                "must be an ISO 3166 alpha-2 code such as KE",
            );
        }
        self.validate_gateways()?;
        self.validate_notifications()
    }

    fn validate_notifications(&self) -> anyhow::Result<()> {
        let bad =
            |key: &str, why: &str| Err(anyhow::anyhow!("invalid configuration: {key}: {why}"));
        if let Some(url) = &self.smtp.url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return bad("smtp.url", "must start with smtp:// or smtps://");
        }
        if let Some(from) = &self.smtp.from
            && from.parse::<lettre::message::Mailbox>().is_err()
        {
            return bad("smtp.from", &format!("{from:?} is not an email address"));
        }
        let provider = match self.sms.provider() {
            Ok(provider) => provider,
            Err(why) => anyhow::bail!("invalid configuration: {why}"),
        };
        if self.sms.max_segments == 0 {
            return bad("sms.max_segments", "must be at least 1");
        }
        let n = &self.notify;
        if n.max_attempts == 0 {
            return bad("notify.max_attempts", "must be at least 1");
        }
        if n.rate_per_minute == 0 {
            return bad("notify.rate_per_minute", "must be greater than 0");
        }
        if n.prefetch == 0 {
            return bad("notify.prefetch", "must be greater than 0");
        }
        if !["Actual", "Exercise", "System", "Test", "Draft"].contains(&n.cap_status.as_str()) {
            return bad(
                "notify.cap_status",
                "must be Actual, Exercise, System, Test or Draft",
            );
        }
        for (name, channel) in &self.channels {
            let key = |field: &str| format!("channels.{name}.{field}");
            if !channel.email.is_empty() && (self.smtp.url.is_none() || self.smtp.from.is_none()) {
                return bad(&key("email"), "needs smtp.url and smtp.from");
            }
            if let Some(address) = channel
                .email
                .iter()
                .find(|a| a.parse::<lettre::message::Mailbox>().is_err())
            {
                return bad(
                    &key("email"),
                    &format!("{address:?} is not an email address"),
                );
            }
            if !channel.sms.is_empty() && provider.is_none() {
                return bad(&key("sms"), "needs sms.provider and its credentials");
            }
            if let Some(number) = channel.sms.iter().find(|n| !crate::phone::is_e164(n)) {
                return bad(
                    &key("sms"),
                    &format!("{number:?} is not an E.164 number such as +254712345678"),
                );
            }
            if channel.rate_per_minute == Some(0) {
                return bad(&key("rate_per_minute"), "must be greater than 0");
            }
        }
        Ok(())
    }
    pub fn concat_timeout(&self) -> Duration {
        Duration::from_secs(self.worker.concat_timeout_secs)
    }
}

/// Figment names the key in its own words; keep its path, drop its profile.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let message = e.kind.to_string();
            if key.is_empty() {
                message
            } else {
                format!("{key}: {message}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    /// The environment gives lists as one string: `en, fr,sw`.
    #[test]
    fn a_comma_separated_string_is_a_list() {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(("language.languages", " en, fr,sw,"))
            .merge(("geo.countries", "KE,SO"))
            .extract()
            .unwrap();
        assert_eq!(config.language.languages, ["en", "fr", "sw"]);
        assert_eq!(config.geo.countries, ["KE", "SO"]);
        config.validate().unwrap();
    }

    #[test]
    fn unknown_languages_and_countries_name_their_key() {
        let mut c = Config::default();
        c.language.languages = vec!["en".into(), "xx".into()];
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("language.languages") && err.contains("xx"),
            "{err}"
        );
        let mut c = Config::default();
        c.geo.countries = vec!["KE".into(), "XX".into()];
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("geo.countries") && err.contains("XX"), "{err}");
    }

    #[test]
    fn bad_database_url_names_the_key() {
        let mut c = Config::default();
        c.database.url = Some("mysql://x".into());
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("database.url"), "{err}");
    }

    #[test]
    fn notification_settings_name_their_key() {
        let err = |change: &dyn Fn(&mut Config)| {
            let mut c = Config::default();
            change(&mut c);
            c.validate().unwrap_err().to_string()
        };
        let e = err(&|c| c.smtp.url = Some("http://mail".into()));
        assert!(e.contains("smtp.url"), "{e}");
        let e = err(&|c| c.smtp.from = Some("not an address".into()));
        assert!(e.contains("smtp.from"), "{e}");
        let e = err(&|c| c.sms.provider = Some("carrier-pigeon".into()));
        assert!(e.contains("sms.provider"), "{e}");
        let e = err(&|c| c.sms.provider = Some("vonage".into()));
        assert!(e.contains("sms.vonage is needed"), "{e}");
        let e = err(&|c| c.notify.cap_status = "Real".into());
        assert!(e.contains("notify.cap_status"), "{e}");
        let e = err(&|c| {
            c.channels.insert(
                "desk".into(),
                ChannelConfig {
                    sms: vec!["+254712345678".into()],
                    ..ChannelConfig::default()
                },
            );
        });
        assert!(e.contains("channels.desk.sms: needs sms.provider"), "{e}");
    }

    #[test]
    fn short_gateway_secret_names_the_key() {
        let mut c = Config::default();
        c.gateways.smssync = Some(SmsSyncConfig {
            secret: Secrets::One("abc".into()),
            device_ids: vec![],
        });
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("gateways.smssync.secret"), "{err}");
    }
}
