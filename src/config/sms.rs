//! The SMS providers' send APIs as configured: credentials, sender and
//! base URL for each, checked at start so a typo fails there and not at
//! the first alert.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::lenient;

#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TwilioSend {
    #[serde(deserialize_with = "lenient::string")]
    pub account_sid: String,
    #[serde(deserialize_with = "lenient::string")]
    pub auth_token: String,
    /// Our number or alphanumeric sender; exactly one of this and
    /// `messaging_service_sid`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub messaging_service_sid: Option<String>,
    #[serde(default = "default_twilio_base")]
    pub base_url: String,
}

#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AfricasTalkingSend {
    /// `sandbox` with the sandbox base URL.
    #[serde(deserialize_with = "lenient::string")]
    pub username: String,
    #[serde(deserialize_with = "lenient::string")]
    pub api_key: String,
    /// Registered sender ID or short code; AT uses `AFRICASTKNG` without it.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub from: Option<String>,
    /// `https://api.sandbox.africastalking.com` for the sandbox.
    #[serde(default = "default_africastalking_base")]
    pub base_url: String,
}

#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VonageSend {
    #[serde(deserialize_with = "lenient::string")]
    pub api_key: String,
    #[serde(deserialize_with = "lenient::string")]
    pub api_secret: String,
    /// Sender ID (up to 11 alphanumerics) or our number.
    #[serde(deserialize_with = "lenient::string")]
    pub from: String,
    #[serde(default = "default_vonage_base")]
    pub base_url: String,
}

fn default_twilio_base() -> String {
    "https://api.twilio.com".into()
}

fn default_africastalking_base() -> String {
    "https://api.africastalking.com".into()
}

fn default_vonage_base() -> String {
    "https://rest.nexmo.com".into()
}

// Hand-written so that logging a config (or an error holding one) never
// prints a credential.
pub(crate) const REDACTED: &str = "<redacted>";

impl fmt::Debug for TwilioSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSend")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &REDACTED)
            .field("from", &self.from)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl fmt::Debug for AfricasTalkingSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfricasTalkingSend")
            .field("username", &self.username)
            .field("api_key", &REDACTED)
            .field("from", &self.from)
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl fmt::Debug for VonageSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VonageSend")
            .field("api_key", &self.api_key)
            .field("api_secret", &REDACTED)
            .field("from", &self.from)
            .field("base_url", &self.base_url)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    Twilio(TwilioSend),
    AfricasTalking(AfricasTalkingSend),
    Vonage(VonageSend),
}

impl Provider {
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Twilio(_) => "twilio",
            Provider::AfricasTalking(_) => "africastalking",
            Provider::Vonage(_) => "vonage",
        }
    }

    /// Checks a config: Twilio needs exactly one of `from` /
    /// `messaging_service_sid`; `base_url` must be http(s). The error names
    /// the field (`sms.twilio.from: …`).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Provider::Twilio(c) => validate_twilio(c),
            Provider::AfricasTalking(c) => {
                required("sms.africastalking.username", &c.username)?;
                required("sms.africastalking.api_key", &c.api_key)?;
                http_url("sms.africastalking.base_url", &c.base_url)
            }
            Provider::Vonage(c) => {
                required("sms.vonage.api_key", &c.api_key)?;
                required("sms.vonage.api_secret", &c.api_secret)?;
                required("sms.vonage.from", &c.from)?;
                http_url("sms.vonage.base_url", &c.base_url)
            }
        }
    }

    /// Values that must never appear in an error message, raw and as they
    /// look once form-encoded (a reply may echo the request body).
    pub(crate) fn secrets(&self) -> Vec<String> {
        let secret = match self {
            Provider::Twilio(c) => &c.auth_token,
            Provider::AfricasTalking(c) => &c.api_key,
            Provider::Vonage(c) => &c.api_secret,
        };
        if secret.is_empty() {
            return Vec::new();
        }
        let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        vec![secret.clone(), encoded]
    }
}

fn validate_twilio(c: &TwilioSend) -> Result<(), String> {
    required("sms.twilio.account_sid", &c.account_sid)?;
    // It becomes a path segment of the API URL.
    if !c.account_sid.chars().all(|ch| ch.is_ascii_alphanumeric()) {
        return Err("sms.twilio.account_sid: must be letters and digits (AC…)".into());
    }
    required("sms.twilio.auth_token", &c.auth_token)?;
    match (present(&c.from), present(&c.messaging_service_sid)) {
        (Some(_), None) | (None, Some(_)) => {}
        (Some(_), Some(_)) => {
            return Err(
                "sms.twilio.from: set either from or messaging_service_sid, not both".into(),
            );
        }
        (None, None) => {
            return Err("sms.twilio.from: needed unless messaging_service_sid is set".into());
        }
    }
    http_url("sms.twilio.base_url", &c.base_url)
}

fn required(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{field}: must not be empty"))
    } else {
        Ok(())
    }
}

fn http_url(field: &str, value: &str) -> Result<(), String> {
    let ok = reqwest::Url::parse(value)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}: must be an http:// or https:// URL such as https://api.example.com"
        ))
    }
}

/// A blank optional value counts as unset, so clearing it from the
/// environment (`ISHARA_SMS__TWILIO__FROM=`) behaves like leaving it out.
pub(crate) fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}
