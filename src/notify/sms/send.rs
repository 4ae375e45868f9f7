//! Outbound SMS through a provider's send API (Twilio, Africa's Talking,
//! Vonage), one recipient per call: the requests are listed under "SMS" in
//! `docs/notifications.md`, and follow the providers' own references
//! (https://www.twilio.com/docs/messaging/api/message-resource,
//! https://developers.africastalking.com/docs/sms/sending/bulk,
//! https://developer.vonage.com/en/api/sms).
//!
//! Every failure is classified so the notifier knows whether a retry can
//! help: a retry after a permanent failure only burns credit or, worse,
//! messages someone who unsubscribed.

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

    async fn send_twilio(&self, c: &TwilioSend, to: &str, text: &str) -> Result<String, SendError> {
        const NAME: &str = "twilio";
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            trim_base(&c.base_url),
            c.account_sid
        );
        // Built apart: the serializer is not Send and must not live across an await.
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("To", to);
            match (present(&c.messaging_service_sid), present(&c.from)) {
                (Some(service), _) => form.append_pair("MessagingServiceSid", service),
                (None, Some(from)) => form.append_pair("From", &twilio_sender(from)),
                (None, None) => {
                    return Err(SendError::Permanent(
                        "twilio: neither from nor messaging_service_sid is configured".into(),
                    ));
                }
            };
            form.append_pair("Body", text);
            form.finish()
        };
        let request = self
            .client
            .post(url)
            .basic_auth(&c.account_sid, Some(&c.auth_token));
        let (status, body) = self.post_form(NAME, request, body).await?;
        if !status.is_success() {
            return Err(twilio_error(status, &body));
        }
        #[derive(Deserialize)]
        struct Created {
            sid: String,
        }
        serde_json::from_str::<Created>(&body)
            .map(|created| created.sid)
            .map_err(|_| unreadable_acceptance(NAME, status, &body))
    }

    async fn send_africastalking(
        &self,
        c: &AfricasTalkingSend,
        to: &str,
        text: &str,
    ) -> Result<String, SendError> {
        const NAME: &str = "africastalking";
        let url = format!("{}/version1/messaging", trim_base(&c.base_url));
        // Built apart: the serializer is not Send and must not live across an await.
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("username", &c.username);
            form.append_pair("to", to);
            form.append_pair("message", text);
            if let Some(from) = present(&c.from) {
                form.append_pair("from", from);
            }
            // The official SDKs send it; without it AT may treat the request
            // as premium (subscription) SMS.
            form.append_pair("bulkSMSMode", "1");
            form.finish()
        };
        let request = self.client.post(url).header("apiKey", &c.api_key);
        let (status, body) = self.post_form(NAME, request, body).await?;
        if !status.is_success() {
            // AT answers a failed request in plain text, not JSON.
            return Err(http_failure(NAME, status, &snippet(&body)));
        }
        let reply: AtReply =
            serde_json::from_str(&body).map_err(|_| unreadable_acceptance(NAME, status, &body))?;
        at_outcome(reply.data, to)
    }

    async fn send_vonage(&self, c: &VonageSend, to: &str, text: &str) -> Result<String, SendError> {
        const NAME: &str = "vonage";
        let url = format!("{}/sms/json", trim_base(&c.base_url));
        // Built apart: the serializer is not Send and must not live across an await.
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("api_key", &c.api_key);
            form.append_pair("api_secret", &c.api_secret);
            form.append_pair("from", without_plus(c.from.trim()));
            form.append_pair("to", without_plus(to));
            form.append_pair("text", text);
            // With the default type=text Vonage garbles anything outside GSM-7.
            if segments::encoding(text) == Encoding::Ucs2 {
                form.append_pair("type", "unicode");
            }
            form.finish()
        };
        let request = self.client.post(url);
        let (status, body) = self.post_form(NAME, request, body).await?;
        if !status.is_success() {
            return Err(http_failure(NAME, status, &snippet(&body)));
        }
        let reply: VonageReply =
            serde_json::from_str(&body).map_err(|_| unreadable_acceptance(NAME, status, &body))?;
        vonage_outcome(&reply.messages)
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

/// Twilio wants E.164 for a long-code `From`; a number set from the
/// environment can arrive without its `+` (it was parsed as an integer).
/// Short codes (up to 6 digits) and alphanumeric senders stay as they are.
fn twilio_sender(from: &str) -> String {
    let long_number = from.len() >= 8 && from.bytes().all(|b| b.is_ascii_digit());
    if long_number {
        format!("+{from}")
    } else {
        from.to_owned()
    }
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

/// Twilio's classic error body (`code`, `message`) and the RFC 9457 one
/// (`title`, `detail`, `code`) share `code`, so one shape reads both.
#[derive(Deserialize)]
struct TwilioProblem {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// Twilio's own throttling code, sent with or instead of HTTP 429.
const TWILIO_TOO_MANY_REQUESTS: i64 = 20429;

fn twilio_error(status: StatusCode, body: &str) -> SendError {
    let problem = serde_json::from_str::<TwilioProblem>(body).ok();
    let code = problem.as_ref().and_then(|p| p.code.as_ref());
    let throttled = code.and_then(scalar_int) == Some(TWILIO_TOO_MANY_REQUESTS);
    let mut message = format!("twilio: HTTP {}", status.as_u16());
    if let Some(code) = code {
        message.push_str(&format!(", error {}", scalar_text(code)));
    }
    let text = match &problem {
        Some(p) => [&p.title, &p.message, &p.detail]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(": "),
        None => snippet(body),
    };
    if !text.is_empty() {
        message.push_str(": ");
        message.push_str(&text);
    }
    if throttled {
        SendError::Transient(message)
    } else {
        SendError::for_status(status.as_u16(), message)
    }
}

#[derive(Deserialize)]
struct AtReply {
    #[serde(rename = "SMSMessageData")]
    data: AtData,
}

#[derive(Deserialize)]
struct AtData {
    #[serde(rename = "Message", default)]
    message: String,
    #[serde(rename = "Recipients", default)]
    recipients: Vec<AtRecipient>,
}

#[derive(Deserialize)]
struct AtRecipient {
    #[serde(rename = "statusCode")]
    status_code: Value,
    #[serde(default)]
    status: String,
    #[serde(default)]
    number: String,
    #[serde(rename = "messageId", default)]
    message_id: String,
}

/// AT reports each recipient separately inside a 2xx; only 100 (Processed),
/// 101 (Sent) and 102 (Queued) mean the message went out.
fn at_outcome(data: AtData, to: &str) -> Result<String, SendError> {
    let recipient = data
        .recipients
        .iter()
        .find(|r| r.number == to)
        .or(data.recipients.first());
    let Some(r) = recipient else {
        // AT rejects a whole request this way, e.g. "InvalidSenderId".
        return Err(SendError::Permanent(format!(
            "africastalking: not sent: {}",
            snippet(&data.message)
        )));
    };
    let code = scalar_int(&r.status_code);
    let detail = || {
        format!(
            "africastalking: status {} {}",
            scalar_text(&r.status_code),
            r.status
        )
    };
    match code {
        Some(100..=102) => Ok(r.message_id.clone()),
        // InternalServerError, GatewayError, RejectedByGateway.
        Some(500..=502) => Err(SendError::Transient(detail())),
        _ => Err(SendError::Permanent(detail())),
    }
}

#[derive(Deserialize)]
struct VonageReply {
    #[serde(default)]
    messages: Vec<VonageMessage>,
}

#[derive(Deserialize)]
struct VonageMessage {
    status: Value,
    #[serde(rename = "message-id", default)]
    message_id: Option<String>,
    #[serde(rename = "error-text", default)]
    error_text: Option<String>,
}

/// Vonage statuses that clear up by themselves: throttled, internal error.
const VONAGE_TRANSIENT: [i64; 2] = [1, 5];

/// One entry per part; the send succeeded only if every part did.
fn vonage_outcome(messages: &[VonageMessage]) -> Result<String, SendError> {
    if messages.is_empty() {
        return Err(SendError::Permanent(
            "vonage: reply listed no messages, not retried to avoid a duplicate".into(),
        ));
    }
    let failed: Vec<&VonageMessage> = messages
        .iter()
        .filter(|m| scalar_int(&m.status) != Some(0))
        .collect();
    if failed.is_empty() {
        let ids: Vec<&str> = messages
            .iter()
            .map(|m| m.message_id.as_deref().unwrap_or_default())
            .collect();
        return Ok(ids.join(","));
    }
    let transient = failed
        .iter()
        .all(|m| scalar_int(&m.status).is_some_and(|status| VONAGE_TRANSIENT.contains(&status)));
    let details: Vec<String> = failed
        .iter()
        .map(|m| {
            let status = scalar_text(&m.status);
            match &m.error_text {
                Some(text) => format!("status {status} ({text})"),
                None => format!("status {status}"),
            }
        })
        .collect();
    let message = format!(
        "vonage: {} of {} parts failed: {}",
        failed.len(),
        messages.len(),
        details.join("; ")
    );
    if transient {
        Err(SendError::Transient(message))
    } else {
        Err(SendError::Permanent(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{basic_auth, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TO: &str = "+254712345678";
    const TEXT: &str = "Cholera cases in Garissa";
    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "tok&en=0123456789abcdef";
    const AT_KEY: &str = "atsk_0123456789abcdef";
    const VONAGE_SECRET: &str = "Vs3cret/+=";

    fn twilio(base: &str) -> TwilioSend {
        TwilioSend {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
            from: Some("+254700000000".into()),
            messaging_service_sid: None,
            base_url: base.into(),
        }
    }

    fn africastalking(base: &str) -> AfricasTalkingSend {
        AfricasTalkingSend {
            username: "ishara".into(),
            api_key: AT_KEY.into(),
            from: Some("ISHARA".into()),
            base_url: base.into(),
        }
    }

    fn vonage(base: &str) -> VonageSend {
        VonageSend {
            api_key: "abcd1234".into(),
            api_secret: VONAGE_SECRET.into(),
            from: "ISHARA".into(),
            base_url: base.into(),
        }
    }

    fn sender(provider: Provider) -> SmsSender {
        SmsSender::new(provider, Client::new())
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The decoded form fields of the only request the server received.
    async fn sent_form(server: &MockServer) -> Vec<(String, String)> {
        let requests = server.received_requests().await.expect("recording on");
        assert_eq!(requests.len(), 1, "exactly one request");
        let request = &requests[0];
        assert_eq!(
            request.headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/x-www-form-urlencoded"[..])
        );
        form_urlencoded::parse(&request.body).into_owned().collect()
    }

    async fn reply(server: &MockServer, status: u16, body: &str) {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .mount(server)
            .await;
    }

    fn transient(r: &Result<String, SendError>) -> &str {
        match r {
            Err(SendError::Transient(m)) => m,
            other => panic!("expected Transient, got {other:?}"),
        }
    }

    fn permanent(r: &Result<String, SendError>) -> &str {
        match r {
            Err(SendError::Permanent(m)) => m,
            other => panic!("expected Permanent, got {other:?}"),
        }
    }

    // ---- Twilio ----

    #[tokio::test]
    async fn twilio_success() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
            .and(basic_auth(SID, TOKEN))
            .and(header("accept", "application/json"))
            .respond_with(ResponseTemplate::new(201).set_body_string(
                r#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued",
                    "error_code":null,"error_message":null,"num_segments":"1"}"#,
            ))
            .expect(1)
            .mount(&server)
            .await;
        let got = sender(Provider::Twilio(twilio(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(got, Ok("SM0123456789abcdef0123456789abcdef".into()));
        assert_eq!(
            sent_form(&server).await,
            pairs(&[("To", TO), ("From", "+254700000000"), ("Body", TEXT)])
        );
    }

    #[tokio::test]
    async fn twilio_messaging_service_replaces_from() {
        let server = MockServer::start().await;
        reply(&server, 201, r#"{"sid":"SMx","status":"accepted"}"#).await;
        let mut config = twilio(&format!("{}/", server.uri()));
        config.from = None;
        config.messaging_service_sid = Some("MG0123".into());
        let got = sender(Provider::Twilio(config)).send(TO, TEXT).await;
        assert_eq!(got, Ok("SMx".into()));
        assert_eq!(
            sent_form(&server).await,
            pairs(&[
                ("To", TO),
                ("MessagingServiceSid", "MG0123"),
                ("Body", TEXT)
            ])
        );
    }

    #[tokio::test]
    async fn twilio_invalid_number_is_permanent() {
        let server = MockServer::start().await;
        reply(
            &server,
            400,
            r#"{"code":21211,"message":"The 'To' number is not a valid phone number.",
                "more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#,
        )
        .await;
        let got = sender(Provider::Twilio(twilio(&server.uri())))
            .send(TO, TEXT)
            .await;
        let message = permanent(&got);
        assert!(message.contains("21211"), "{message}");
        assert!(message.contains("not a valid phone number"), "{message}");
    }

    #[tokio::test]
    async fn twilio_unsubscribed_is_permanent() {
        let server = MockServer::start().await;
        reply(
            &server,
            400,
            r#"{"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400}"#,
        )
        .await;
        let got = sender(Provider::Twilio(twilio(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert!(permanent(&got).contains("21610"));
    }

    #[tokio::test]
    async fn twilio_rfc9457_problem_is_read() {
        let server = MockServer::start().await;
        reply(
            &server,
            400,
            r#"{"type":"https://www.twilio.com/docs/errors/21612","title":"Unroutable",
                "status":400,"code":21612,"detail":"The 'To' number is not reachable"}"#,
        )
        .await;
        let got = sender(Provider::Twilio(twilio(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(
            got,
            Err(SendError::Permanent(
                "twilio: HTTP 400, error 21612: Unroutable: The 'To' number is not reachable"
                    .into()
            ))
        );
    }

    #[tokio::test]
    async fn twilio_503_is_transient() {
        let server = MockServer::start().await;
        reply(&server, 503, "<html>Service Unavailable</html>").await;
        let got = sender(Provider::Twilio(twilio(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(
            got,
            Err(SendError::Transient(
                "twilio: HTTP 503: <html>Service Unavailable</html>".into()
            ))
        );
    }

    #[tokio::test]
    async fn twilio_20429_is_transient_even_as_400() {
        let server = MockServer::start().await;
        reply(
            &server,
            400,
            r#"{"code":20429,"message":"Too Many Requests","status":400}"#,
        )
        .await;
        let got = sender(Provider::Twilio(twilio(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert!(transient(&got).contains("20429"));
    }

    #[tokio::test]
    async fn twilio_429_is_transient() {
        let server = MockServer::start().await;
        reply(&server, 429, "").await;
        let got = sender(Provider::Twilio(twilio(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(
            got,
            Err(SendError::Transient(
                "twilio: HTTP 429: (empty body)".into()
            ))
        );
    }

    #[tokio::test]
    async fn twilio_auth_failure_is_permanent_and_hides_the_token() {
        let server = MockServer::start().await;
        // A misbehaving proxy that echoes the credentials back.
        let echoed = format!(
            r#"{{"code":20003,"message":"Authenticate: bad token {TOKEN} / {}","status":401}}"#,
            form_urlencoded::byte_serialize(TOKEN.as_bytes()).collect::<String>()
        );
        reply(&server, 401, &echoed).await;
        let got = sender(Provider::Twilio(twilio(&server.uri())))
            .send(TO, TEXT)
            .await;
        let message = permanent(&got);
        assert!(message.contains("20003"), "{message}");
        assert!(!message.contains(TOKEN), "{message}");
        assert!(!message.contains("0123456789abcdef"), "{message}");
    }

    #[tokio::test]
    async fn twilio_unreadable_201_is_not_retried() {
        let server = MockServer::start().await;
        reply(&server, 201, "OK").await;
        let got = sender(Provider::Twilio(twilio(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert!(permanent(&got).contains("duplicate"));
    }

    // ---- Africa's Talking ----

    const AT_ONE_SENT: &str = r#"{"SMSMessageData":{"Message":"Sent to 1/1 Total Cost: KES 0.8000",
        "Recipients":[{"statusCode":101,"number":"+254712345678","status":"Success",
        "cost":"KES 0.8000","messageId":"ATXid_abc123"}]}}"#;

    fn at_one(code: u16, status: &str) -> String {
        format!(
            r#"{{"SMSMessageData":{{"Message":"Sent to 0/1 Total Cost: 0","Recipients":[
            {{"statusCode":{code},"number":"+254712345678","status":"{status}","cost":"0","messageId":"None"}}]}}}}"#
        )
    }

    #[tokio::test]
    async fn africastalking_success() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/version1/messaging"))
            .and(header("apiKey", AT_KEY))
            .and(header("accept", "application/json"))
            .respond_with(ResponseTemplate::new(201).set_body_string(AT_ONE_SENT))
            .expect(1)
            .mount(&server)
            .await;
        let got = sender(Provider::AfricasTalking(africastalking(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(got, Ok("ATXid_abc123".into()));
        assert_eq!(
            sent_form(&server).await,
            pairs(&[
                ("username", "ishara"),
                ("to", TO),
                ("message", TEXT),
                ("from", "ISHARA"),
                ("bulkSMSMode", "1"),
            ])
        );
    }

    #[tokio::test]
    async fn africastalking_without_from_sends_no_from() {
        let server = MockServer::start().await;
        reply(&server, 201, AT_ONE_SENT).await;
        let mut config = africastalking(&server.uri());
        config.from = Some("  ".into());
        let got = sender(Provider::AfricasTalking(config))
            .send(TO, TEXT)
            .await;
        assert_eq!(got, Ok("ATXid_abc123".into()));
        let form = sent_form(&server).await;
        assert!(form.iter().all(|(k, _)| k != "from"), "{form:?}");
    }

    #[tokio::test]
    async fn africastalking_queued_and_processed_are_success() {
        for code in [100, 102] {
            let server = MockServer::start().await;
            let body = at_one(code, "Queued").replace("\"None\"", "\"ATXid_q\"");
            reply(&server, 201, &body).await;
            let got = sender(Provider::AfricasTalking(africastalking(&server.uri())))
                .send(TO, TEXT)
                .await;
            assert_eq!(got, Ok("ATXid_q".into()), "code {code}");
        }
    }

    #[tokio::test]
    async fn africastalking_recipient_failure_inside_201_is_permanent() {
        let server = MockServer::start().await;
        reply(&server, 201, &at_one(403, "InvalidPhoneNumber")).await;
        let got = sender(Provider::AfricasTalking(africastalking(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(
            got,
            Err(SendError::Permanent(
                "africastalking: status 403 InvalidPhoneNumber".into()
            ))
        );
    }

    #[tokio::test]
    async fn africastalking_insufficient_balance_is_permanent() {
        let server = MockServer::start().await;
        reply(&server, 201, &at_one(405, "InsufficientBalance")).await;
        let got = sender(Provider::AfricasTalking(africastalking(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert!(permanent(&got).contains("InsufficientBalance"));
    }

    #[tokio::test]
    async fn africastalking_gateway_error_inside_201_is_transient() {
        for (code, status) in [
            (500, "InternalServerError"),
            (501, "GatewayError"),
            (502, "RejectedByGateway"),
        ] {
            let server = MockServer::start().await;
            reply(&server, 201, &at_one(code, status)).await;
            let got = sender(Provider::AfricasTalking(africastalking(&server.uri())))
                .send(TO, TEXT)
                .await;
            assert!(transient(&got).contains(status));
        }
    }

    #[tokio::test]
    async fn africastalking_picks_our_recipient() {
        let server = MockServer::start().await;
        let body = r#"{"SMSMessageData":{"Message":"Sent to 1/2","Recipients":[
            {"statusCode":403,"number":"+2547","status":"InvalidPhoneNumber","messageId":"None"},
            {"statusCode":"101","number":"+254712345678","status":"Success","messageId":"ATXid_2"}]}}"#;
        reply(&server, 201, body).await;
        let got = sender(Provider::AfricasTalking(africastalking(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(got, Ok("ATXid_2".into()));
    }

    #[tokio::test]
    async fn africastalking_rejected_request_without_recipients() {
        let server = MockServer::start().await;
        reply(
            &server,
            201,
            r#"{"SMSMessageData":{"Message":"InvalidSenderId","Recipients":[]}}"#,
        )
        .await;
        let got = sender(Provider::AfricasTalking(africastalking(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(
            got,
            Err(SendError::Permanent(
                "africastalking: not sent: InvalidSenderId".into()
            ))
        );
    }

    #[tokio::test]
    async fn africastalking_plain_text_401_is_permanent() {
        let server = MockServer::start().await;
        reply(&server, 401, "The supplied authentication is invalid").await;
        let got = sender(Provider::AfricasTalking(africastalking(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(
            got,
            Err(SendError::Permanent(
                "africastalking: HTTP 401: The supplied authentication is invalid".into()
            ))
        );
    }

    #[tokio::test]
    async fn africastalking_503_is_transient() {
        let server = MockServer::start().await;
        reply(&server, 503, "Service Unavailable").await;
        let got = sender(Provider::AfricasTalking(africastalking(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert!(transient(&got).contains("HTTP 503"));
    }

    // ---- Vonage ----

    fn vonage_reply(entries: &[(&str, &str)]) -> String {
        let messages: Vec<String> = entries
            .iter()
            .map(|(status, extra)| format!(r#"{{"to":"254712345678","status":"{status}"{extra}}}"#))
            .collect();
        format!(
            r#"{{"message-count":"{}","messages":[{}]}}"#,
            entries.len(),
            messages.join(",")
        )
    }

    #[tokio::test]
    async fn vonage_success() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/sms/json"))
            .respond_with(ResponseTemplate::new(200).set_body_string(vonage_reply(&[(
                "0",
                r#","message-id":"0A0000000123ABCD1","remaining-balance":"3.14","network":"63902""#,
            )])))
            .expect(1)
            .mount(&server)
            .await;
        let got = sender(Provider::Vonage(vonage(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(got, Ok("0A0000000123ABCD1".into()));
        assert_eq!(
            sent_form(&server).await,
            pairs(&[
                ("api_key", "abcd1234"),
                ("api_secret", VONAGE_SECRET),
                ("from", "ISHARA"),
                ("to", "254712345678"),
                ("text", TEXT),
            ])
        );
    }

    #[tokio::test]
    async fn vonage_unicode_type_and_numeric_from() {
        let server = MockServer::start().await;
        reply(
            &server,
            200,
            &vonage_reply(&[("0", r#","message-id":"id1""#)]),
        )
        .await;
        let mut config = vonage(&server.uri());
        config.from = "+254700000000".into();
        let text = "Français: choléra 🌊";
        let got = sender(Provider::Vonage(config)).send(TO, text).await;
        assert_eq!(got, Ok("id1".into()));
        assert_eq!(
            sent_form(&server).await,
            pairs(&[
                ("api_key", "abcd1234"),
                ("api_secret", VONAGE_SECRET),
                ("from", "254700000000"),
                ("to", "254712345678"),
                ("text", text),
                ("type", "unicode"),
            ])
        );
    }

    #[tokio::test]
    async fn vonage_multipart_ids_are_joined() {
        let server = MockServer::start().await;
        reply(
            &server,
            200,
            &vonage_reply(&[
                ("0", r#","message-id":"id1""#),
                ("0", r#","message-id":"id2""#),
            ]),
        )
        .await;
        let got = sender(Provider::Vonage(vonage(&server.uri())))
            .send(TO, &"a".repeat(200))
            .await;
        assert_eq!(got, Ok("id1,id2".into()));
    }

    #[tokio::test]
    async fn vonage_insufficient_credit_is_permanent() {
        let server = MockServer::start().await;
        reply(
            &server,
            200,
            &vonage_reply(&[("9", r#","error-text":"Insufficient credit""#)]),
        )
        .await;
        let got = sender(Provider::Vonage(vonage(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert_eq!(
            got,
            Err(SendError::Permanent(
                "vonage: 1 of 1 parts failed: status 9 (Insufficient credit)".into()
            ))
        );
    }

    #[tokio::test]
    async fn vonage_throttled_part_is_transient() {
        let server = MockServer::start().await;
        reply(
            &server,
            200,
            &vonage_reply(&[
                ("0", r#","message-id":"id1""#),
                ("1", r#","error-text":"Throughput Rate Exceeded""#),
            ]),
        )
        .await;
        let got = sender(Provider::Vonage(vonage(&server.uri())))
            .send(TO, &"a".repeat(200))
            .await;
        assert_eq!(
            got,
            Err(SendError::Transient(
                "vonage: 1 of 2 parts failed: status 1 (Throughput Rate Exceeded)".into()
            ))
        );
    }

    #[tokio::test]
    async fn vonage_any_permanent_part_makes_it_permanent() {
        let server = MockServer::start().await;
        reply(&server, 200, &vonage_reply(&[("5", ""), ("7", "")])).await;
        let got = sender(Provider::Vonage(vonage(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert!(permanent(&got).contains("status 7"));
    }

    #[tokio::test]
    async fn vonage_bad_credentials_hide_the_secret() {
        let server = MockServer::start().await;
        let echoed = format!(r#","error-text":"Bad Credentials for secret {VONAGE_SECRET}""#);
        reply(&server, 200, &vonage_reply(&[("4", &echoed)])).await;
        let got = sender(Provider::Vonage(vonage(&server.uri())))
            .send(TO, TEXT)
            .await;
        let message = permanent(&got);
        assert!(message.contains("Bad Credentials"), "{message}");
        assert!(!message.contains(VONAGE_SECRET), "{message}");
    }

    #[tokio::test]
    async fn vonage_503_is_transient() {
        let server = MockServer::start().await;
        reply(&server, 503, "").await;
        let got = sender(Provider::Vonage(vonage(&server.uri())))
            .send(TO, TEXT)
            .await;
        assert!(transient(&got).contains("HTTP 503"));
    }

    // ---- common ----

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

    #[test]
    fn twilio_sender_restores_the_plus_of_long_numbers_only() {
        assert_eq!(twilio_sender("254700000000"), "+254700000000");
        assert_eq!(twilio_sender("+254700000000"), "+254700000000");
        assert_eq!(twilio_sender("22384"), "22384");
        assert_eq!(twilio_sender("ISHARA"), "ISHARA");
    }
}
