//! The inbound gateways' settings: their secrets (one, or several while
//! rotating), checked at start.

use serde::{Deserialize, Serialize};

use super::Config;
use super::lenient;

/// A gateway is reachable only once its section holds a secret.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaysConfig {
    pub twilio: Option<TwilioConfig>,
    pub africastalking: Option<TokenGatewayConfig>,
    pub vonage: Option<VonageConfig>,
    pub smssync: Option<SmsSyncConfig>,
    pub generic: Option<GenericConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    pub auth_token: Secrets,
    /// `AC…`; requests from another account are refused.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_sid: Option<String>,
    /// Shared webhook signing keys by key id (Twilio's
    /// `X-Twilio-Webhooks-Signature-Settings`).
    #[serde(default)]
    pub signing_keys: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenGatewayConfig {
    /// Sent by the gateway as `?token=` or as the last path segment.
    pub token: Secrets,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VonageConfig {
    pub signature_secret: Secrets,
    #[serde(default)]
    pub signature_method: VonageSignatureMethod,
    /// Our API key; requests naming another are refused.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub api_key: Option<String>,
    /// How old a signed `timestamp` may be, in seconds (Vonage resends for
    /// 24 hours).
    #[serde(default = "VonageConfig::default_max_age")]
    pub max_age_secs: u64,
}

impl VonageConfig {
    fn default_max_age() -> u64 {
        24 * 3600 + 600
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VonageSignatureMethod {
    #[default]
    Md5hash,
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSyncConfig {
    pub secret: Secrets,
    /// If set, only these phones may post.
    #[serde(default, deserialize_with = "lenient::strings")]
    pub device_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericConfig {
    /// Bearer token, `?token=` or last path segment.
    pub token: Option<Secrets>,
    /// HMAC-SHA256 of the raw body in `X-Ishara-Signature: sha256=<hex>`.
    pub hmac_secret: Option<Secrets>,
}

/// One secret, or several while one is being rotated.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Secrets {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Secrets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Many(Vec<lenient::Text>),
            One(lenient::Text),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::One(s) => Secrets::One(s.0),
            Raw::Many(v) => Secrets::Many(v.into_iter().map(|s| s.0).collect()),
        })
    }
}

impl Secrets {
    pub fn all(&self) -> Vec<&str> {
        match self {
            Secrets::One(s) => vec![s.as_str()],
            Secrets::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

impl Config {
    pub(super) fn validate_gateways(&self) -> anyhow::Result<()> {
        let g = &self.gateways;
        let secrets: [(&str, Option<&Secrets>); 6] = [
            (
                "gateways.twilio.auth_token",
                g.twilio.as_ref().map(|c| &c.auth_token),
            ),
            (
                "gateways.africastalking.token",
                g.africastalking.as_ref().map(|c| &c.token),
            ),
            (
                "gateways.vonage.signature_secret",
                g.vonage.as_ref().map(|c| &c.signature_secret),
            ),
            (
                "gateways.smssync.secret",
                g.smssync.as_ref().map(|c| &c.secret),
            ),
            (
                "gateways.generic.token",
                g.generic.as_ref().and_then(|c| c.token.as_ref()),
            ),
            (
                "gateways.generic.hmac_secret",
                g.generic.as_ref().and_then(|c| c.hmac_secret.as_ref()),
            ),
        ];
        for (key, secrets) in secrets {
            if let Some(secrets) = secrets
                && secrets.all().iter().any(|s| s.len() < 8)
            {
                anyhow::bail!(
                    "invalid configuration: {key}: secrets must be at least 8 characters"
                );
            }
        }
        if let Some(generic) = &g.generic
            && generic.token.is_none()
            && generic.hmac_secret.is_none()
        {
            anyhow::bail!(
                "invalid configuration: gateways.generic: set token or hmac_secret (or both)"
            );
        }
        Ok(())
    }
}
