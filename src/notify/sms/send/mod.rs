//! Outbound SMS through a provider's send API (Twilio, Africa's Talking,
//! Vonage), one recipient per call: the requests are listed under "SMS" in
//! `docs/notifications.md`, and follow the providers' own references
//! (https://www.twilio.com/docs/messaging/api/message-resource,
//! https://developers.africastalking.com/docs/sms/sending/bulk,
//! https://developer.vonage.com/en/api/sms).
//!
//! Every failure is classified so the notifier knows whether a retry can
//! help: a retry after a permanent failure only burns credit or, worse,
//! messages someone who unsubscribed. One module per provider holds its
//! request, its reply and its error codes; this one what they share.

mod africastalking;
mod twilio;
mod vonage;

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::segments::{self, Encoding};
use crate::config::sms::{AfricasTalkingSend, Provider, REDACTED, TwilioSend, VonageSend, present};
use crate::notify::SendError;

/// Twilio gives up on its own side well before this; 15 s keeps a stuck
/// provider from holding a notifier slot for long.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// How much of an unexpected reply body goes into an error message.
const SNIPPET_CHARS: usize = 200;

impl SendError {
    fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            SendError::Transient(m) => SendError::Transient(f(m)),
            SendError::Permanent(m) => SendError::Permanent(f(m)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SmsSender {
    provider: Provider,
    client: Client,
    timeout: Duration,
}

impl SmsSender {
    pub fn new(provider: Provider, client: Client) -> Self {
        Self {
            provider,
            client,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Overrides the 15 s limit on each request (connect to last byte).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `text` to one E.164 number (with '+'). `Ok` holds the
    /// provider's message id; Vonage's per-part ids are joined with ','.
    pub async fn send(&self, to: &str, text: &str) -> Result<String, SendError> {
        check_recipient(to)?;
        if text.is_empty() {
            return Err(SendError::Permanent("message text is empty".into()));
        }
        let result = match &self.provider {
            Provider::Twilio(c) => self.send_twilio(c, to, text).await,
            Provider::AfricasTalking(c) => self.send_africastalking(c, to, text).await,
            Provider::Vonage(c) => self.send_vonage(c, to, text).await,
        };
        result.map_err(|e| self.redact(e))
    }

    fn redact(&self, err: SendError) -> SendError {
        let secrets = self.provider.secrets();
        err.map_message(|mut message| {
            for secret in &secrets {
                message = message.replace(secret.as_str(), REDACTED);
            }
            message
        })
    }

    /// Posts a form body and reads the whole reply within the timeout.
    async fn post_form(
        &self,
        name: &str,
        request: RequestBuilder,
        form: String,
    ) -> Result<(StatusCode, String), SendError> {
        let response = request
            .timeout(self.timeout)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("{name}: {}", describe(e))))?;
        let status = response.status();
        match response.text().await {
            Ok(body) => Ok((status, body)),
            // A 2xx means the provider took the message: retrying would
            // send it twice.
            Err(e) if status.is_success() => Err(SendError::Permanent(format!(
                "{name}: accepted (HTTP {}) but the reply could not be read ({}); \
                 not retried to avoid a duplicate",
                status.as_u16(),
                describe(e)
            ))),
            Err(e) => Err(http_failure(name, status, &describe(e))),
        }
    }
}

/// Only E.164 is accepted, so a local number never goes out misrouted.
fn check_recipient(to: &str) -> Result<(), SendError> {
    if crate::phone::is_e164(to) {
        Ok(())
    } else {
        Err(SendError::Permanent(
            "recipient is not an E.164 number such as +254712345678".into(),
        ))
    }
}

/// A refused request, retried or not as its status calls for.
fn http_failure(name: &str, status: StatusCode, detail: &str) -> SendError {
    SendError::for_status(
        status.as_u16(),
        format!("{name}: HTTP {}: {detail}", status.as_u16()),
    )
}

fn trim_base(base: &str) -> &str {
    base.trim_end_matches('/')
}

fn without_plus(number: &str) -> &str {
    number.strip_prefix('+').unwrap_or(number)
}

/// A reqwest error without its URL (it can hold the Twilio account SID)
/// but with its causes, which say what actually went wrong.
fn describe(error: reqwest::Error) -> String {
    let timed_out = error.is_timeout();
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if timed_out && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    text
}

fn snippet(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return "(empty body)".into();
    }
    match flat.char_indices().nth(SNIPPET_CHARS) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// A 2xx whose body makes no sense: the provider probably took the
/// message, so a retry risks a duplicate alert.
fn unreadable_acceptance(name: &str, status: StatusCode, body: &str) -> SendError {
    SendError::Permanent(format!(
        "{name}: HTTP {} with an unexpected reply, not retried to avoid a duplicate: {}",
        status.as_u16(),
        snippet(body)
    ))
}

/// A JSON scalar as text: providers send codes as numbers or strings.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn scalar_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod test_support {
    pub(super) use super::*;
    pub(super) use wiremock::matchers::{basic_auth, header, method, path};
    pub(super) use wiremock::{Mock, MockServer, ResponseTemplate};

    pub(super) const TO: &str = "+254712345678";
    pub(super) const TEXT: &str = "Cholera cases in Garissa";
    pub(super) const SID: &str = "AC0123456789abcdef0123456789abcdef";
    pub(super) const TOKEN: &str = "tok&en=0123456789abcdef";
    pub(super) const AT_KEY: &str = "atsk_0123456789abcdef";
    pub(super) const VONAGE_SECRET: &str = "Vs3cret/+=";

    pub(super) fn twilio(base: &str) -> TwilioSend {
        TwilioSend {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
            from: Some("+254700000000".into()),
            messaging_service_sid: None,
            base_url: base.into(),
        }
    }

    pub(super) fn africastalking(base: &str) -> AfricasTalkingSend {
        AfricasTalkingSend {
            username: "ishara".into(),
            api_key: AT_KEY.into(),
            from: Some("ISHARA".into()),
            base_url: base.into(),
        }
    }

    pub(super) fn vonage(base: &str) -> VonageSend {
        VonageSend {
            api_key: "abcd1234".into(),
            api_secret: VONAGE_SECRET.into(),
            from: "ISHARA".into(),
            base_url: base.into(),
        }
    }

    pub(super) fn sender(provider: Provider) -> SmsSender {
        SmsSender::new(provider, Client::new())
    }

    pub(super) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The decoded form fields of the only request the server received.
    pub(super) async fn sent_form(server: &MockServer) -> Vec<(String, String)> {
        let requests = server.received_requests().await.expect("recording on");
        assert_eq!(requests.len(), 1, "exactly one request");
        let request = &requests[0];
        assert_eq!(
            request.headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/x-www-form-urlencoded"[..])
        );
        form_urlencoded::parse(&request.body).into_owned().collect()
    }

    pub(super) async fn reply(server: &MockServer, status: u16, body: &str) {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .mount(server)
            .await;
    }

    /// Which failure a reply should be.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Failure {
        Transient,
        Permanent,
    }

    /// Sends once to a provider whose API answers `status` and `body`.
    pub(super) async fn send_against(
        provider: impl Fn(&str) -> Provider,
        status: u16,
        body: &str,
    ) -> Result<String, SendError> {
        let server = MockServer::start().await;
        reply(&server, status, body).await;
        sender(provider(&server.uri())).send(TO, TEXT).await
    }

    /// One case per row: the reply, the failure it is, and what the
    /// message must say.
    pub(super) async fn check_failures(
        provider: impl Fn(&str) -> Provider + Copy,
        cases: &[(u16, &str, Failure, &[&str])],
    ) {
        for (status, body, failure, says) in cases {
            let got = send_against(provider, *status, body).await;
            let message = match (failure, &got) {
                (Failure::Transient, Err(SendError::Transient(m)))
                | (Failure::Permanent, Err(SendError::Permanent(m))) => m,
                _ => panic!("HTTP {status} {body}: expected {failure:?}, got {got:?}"),
            };
            for part in *says {
                assert!(
                    message.contains(part),
                    "HTTP {status} {body}: {message:?} does not say {part:?}"
                );
            }
        }
    }

    /// [`check_failures`] for rows whose bodies are built and whose
    /// message is checked for one phrase.
    pub(super) async fn check_failure_rows(
        provider: impl Fn(&str) -> Provider + Copy,
        cases: &[(u16, String, Failure, &str)],
    ) {
        let rows: Vec<(u16, &str, Failure, &[&str])> = cases
            .iter()
            .map(|(status, body, failure, says)| {
                (*status, body.as_str(), *failure, std::slice::from_ref(says))
            })
            .collect();
        check_failures(provider, &rows).await;
    }

    pub(super) fn transient(r: &Result<String, SendError>) -> &str {
        match r {
            Err(SendError::Transient(m)) => m,
            other => panic!("expected Transient, got {other:?}"),
        }
    }

    pub(super) fn permanent(r: &Result<String, SendError>) -> &str {
        match r {
            Err(SendError::Permanent(m)) => m,
            other => panic!("expected Permanent, got {other:?}"),
        }
    }

    pub(super) const AT_ONE_SENT: &str = r#"{"SMSMessageData":{"Message":"Sent to 1/1 Total Cost: KES 0.8000",
        "Recipients":[{"statusCode":101,"number":"+254712345678","status":"Success",
        "cost":"KES 0.8000","messageId":"ATXid_abc123"}]}}"#;
}

#[cfg(test)]
mod tests {
    use super::test_support::*;

    #[tokio::test]
    async fn timeout_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_string(r#"{"sid":"SMx"}"#)
                    .set_delay(Duration::from_secs(5)),
            )
            .mount(&server)
            .await;
        let got = sender(Provider::Twilio(twilio(&server.uri())))
            .with_timeout(Duration::from_millis(200))
            .send(TO, TEXT)
            .await;
        let message = transient(&got);
        assert!(message.contains("timed out"), "{message}");
        assert!(!message.contains(SID), "the URL is left out: {message}");
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let got = sender(Provider::Vonage(vonage(&base))).send(TO, TEXT).await;
        transient(&got);
    }

    #[tokio::test]
    async fn bad_recipient_or_empty_text_is_permanent_without_a_request() {
        let server = MockServer::start().await;
        reply(&server, 201, AT_ONE_SENT).await;
        let s = sender(Provider::AfricasTalking(africastalking(&server.uri())));
        for to in ["0712345678", "254712345678", "+2547", "+25471234567x", ""] {
            permanent(&s.send(to, TEXT).await);
        }
        permanent(&s.send(TO, "").await);
        let requests = server.received_requests().await.expect("recording on");
        assert!(requests.is_empty());
    }

    #[test]
    fn validate_names_the_field() {
        let ok = twilio("https://api.twilio.com");
        assert_eq!(Provider::Twilio(ok.clone()).validate(), Ok(()));

        let mut both = ok.clone();
        both.messaging_service_sid = Some("MG1".into());
        let err = Provider::Twilio(both).validate().unwrap_err();
        assert!(err.starts_with("sms.twilio.from:"), "{err}");

        let mut neither = ok.clone();
        neither.from = Some(" ".into());
        let err = Provider::Twilio(neither).validate().unwrap_err();
        assert!(err.contains("messaging_service_sid"), "{err}");

        let mut service_only = ok.clone();
        service_only.from = None;
        service_only.messaging_service_sid = Some("MG1".into());
        assert_eq!(Provider::Twilio(service_only).validate(), Ok(()));

        let mut bad_url = ok.clone();
        bad_url.base_url = "ftp://api.twilio.com".into();
        let err = Provider::Twilio(bad_url).validate().unwrap_err();
        assert!(err.starts_with("sms.twilio.base_url:"), "{err}");

        let mut bad_sid = ok;
        bad_sid.account_sid = "AC1/../x".into();
        let err = Provider::Twilio(bad_sid).validate().unwrap_err();
        assert!(err.starts_with("sms.twilio.account_sid:"), "{err}");

        let mut at = africastalking("http://127.0.0.1:9");
        assert_eq!(Provider::AfricasTalking(at.clone()).validate(), Ok(()));
        at.api_key = String::new();
        let err = Provider::AfricasTalking(at).validate().unwrap_err();
        assert!(err.starts_with("sms.africastalking.api_key:"), "{err}");

        let mut v = vonage("https://rest.nexmo.com");
        assert_eq!(Provider::Vonage(v.clone()).validate(), Ok(()));
        v.base_url = "rest.nexmo.com".into();
        let err = Provider::Vonage(v).validate().unwrap_err();
        assert!(err.starts_with("sms.vonage.base_url:"), "{err}");
    }

    #[test]
    fn names() {
        assert_eq!(Provider::Twilio(twilio("http://x")).name(), "twilio");
        assert_eq!(
            Provider::AfricasTalking(africastalking("http://x")).name(),
            "africastalking"
        );
        assert_eq!(Provider::Vonage(vonage("http://x")).name(), "vonage");
    }

    #[test]
    fn config_defaults_and_env_style_numbers() {
        let t: TwilioSend =
            serde_json::from_str(r#"{"account_sid":"AC1","auth_token":"t","from":"+1555"}"#)
                .expect("twilio");
        assert_eq!(t.base_url, "https://api.twilio.com");
        assert_eq!(t.messaging_service_sid, None);
        let a: AfricasTalkingSend =
            serde_json::from_str(r#"{"username":"sandbox","api_key":"k"}"#).expect("at");
        assert_eq!(a.base_url, "https://api.africastalking.com");
        assert_eq!(a.from, None);
        let v: VonageSend =
            serde_json::from_str(r#"{"api_key":12345678,"api_secret":"s","from":254700000000}"#)
                .expect("vonage");
        assert_eq!(v.base_url, "https://rest.nexmo.com");
        assert_eq!(v.api_key, "12345678");
        assert_eq!(v.from, "254700000000");
        let unknown = serde_json::from_str::<VonageSend>(
            r#"{"api_key":"k","api_secret":"s","from":"X","sender":"Y"}"#,
        );
        assert!(unknown.is_err());
    }

    #[test]
    fn debug_hides_credentials() {
        let shown = format!(
            "{:?} {:?} {:?}",
            Provider::Twilio(twilio("http://x")),
            Provider::AfricasTalking(africastalking("http://x")),
            Provider::Vonage(vonage("http://x")),
        );
        for secret in [TOKEN, AT_KEY, VONAGE_SECRET] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains(SID));
    }
}
