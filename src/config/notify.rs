//! Configuration of notifications: how alerts leave (SMTP, an SMS
//! provider's send API, webhooks) and how hard the notifier tries.

use serde::{Deserialize, Serialize};

use super::lenient;
use super::sms::{AfricasTalkingSend, Provider, TwilioSend, VonageSend};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (TLS from the first byte), or plain
    /// `smtp://host:25` for a relay on a trusted network.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub url: Option<String>,
    /// `Ishara <alerts@health.example.org>`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub from: Option<String>,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// `twilio`, `africastalking` or `vonage`: whose send API alerts go through.
    #[serde(default)]
    pub provider: Option<String>,
    /// Longer alerts are cut to fit this many segments.
    pub max_segments: usize,
    #[serde(default)]
    pub twilio: Option<TwilioSend>,
    #[serde(default)]
    pub africastalking: Option<AfricasTalkingSend>,
    #[serde(default)]
    pub vonage: Option<VonageSend>,
}

impl SmsConfig {
    /// The configured provider with its credentials, checked.
    pub fn provider(&self) -> Result<Option<Provider>, String> {
        let Some(name) = self.provider.as_deref() else {
            return Ok(None);
        };
        let missing = |section: &str| format!("sms.{section} is needed for sms.provider = {name}");
        let provider = match name {
            "twilio" => Provider::Twilio(self.twilio.clone().ok_or_else(|| missing("twilio"))?),
            "africastalking" => Provider::AfricasTalking(
                self.africastalking
                    .clone()
                    .ok_or_else(|| missing("africastalking"))?,
            ),
            "vonage" => Provider::Vonage(self.vonage.clone().ok_or_else(|| missing("vonage"))?),
            other => {
                return Err(format!(
                    "sms.provider: unknown provider {other:?}; one of twilio, africastalking, vonage"
                ));
            }
        };
        provider.validate()?;
        Ok(Some(provider))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Attempts per recipient before the notification is dead-lettered.
    pub max_attempts: u32,
    /// The first retry waits about this long; each next one twice as long
    /// (with jitter), up to `retry_max_secs`.
    pub retry_initial_ms: u64,
    pub retry_max_secs: u64,
    /// Sends per minute per channel in one notifier, so a storm of alerts
    /// does not get a sender blocked by its provider.
    pub rate_per_minute: u32,
    /// Notifications one notifier works on at once.
    pub prefetch: u16,
    /// Signs webhooks of channels that set no `webhook_secret`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub webhook_secret: Option<String>,
    /// The CAP `<sender>`: an address that identifies this deployment.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cap_sender: Option<String>,
    /// The CAP `<status>`: `Actual`, or `Exercise`/`Test` for drills.
    pub cap_status: String,
    /// Serve the CAP feed and messages without the API token, for public
    /// alerting aggregators.
    pub cap_public: bool,
}

impl NotifyConfig {
    pub fn defaults() -> Self {
        Self {
            max_attempts: 8,
            retry_initial_ms: 1000,
            retry_max_secs: 300,
            rate_per_minute: 60,
            prefetch: 16,
            webhook_secret: None,
            cap_sender: None,
            cap_status: "Actual".into(),
            cap_public: false,
        }
    }
}
