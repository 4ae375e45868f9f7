//! Twilio's Messages API: one form POST per recipient, errors read from
//! Twilio's problem documents and codes.

use super::*;

impl SmsSender {
    pub(super) async fn send_twilio(
        &self,
        c: &TwilioSend,
        to: &str,
        text: &str,
    ) -> Result<String, SendError> {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

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
    async fn twilio_failures_are_classified_and_say_why() {
        use Failure::{Permanent, Transient};
        let invalid = r#"{"code":21211,"message":"The 'To' number is not a valid phone number.",
            "more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#;
        let unsubscribed =
            r#"{"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400}"#;
        // RFC 9457 problem documents, as Twilio's newer APIs answer.
        let problem = r#"{"type":"https://www.twilio.com/docs/errors/21612","title":"Unroutable",
            "status":400,"code":21612,"detail":"The 'To' number is not reachable"}"#;
        let throttled = r#"{"code":20429,"message":"Too Many Requests","status":400}"#;
        let unroutable =
            "twilio: HTTP 400, error 21612: Unroutable: The 'To' number is not reachable";
        check_failures(
            |base| Provider::Twilio(twilio(base)),
            &[
                (
                    400,
                    invalid,
                    Permanent,
                    &["21211", "not a valid phone number"],
                ),
                (400, unsubscribed, Permanent, &["21610"]),
                (400, problem, Permanent, &[unroutable]),
                (
                    503,
                    "<html>Service Unavailable</html>",
                    Transient,
                    &["twilio: HTTP 503: <html>Service Unavailable</html>"],
                ),
                // Twilio's own throttling code is worth a retry even as a 400.
                (400, throttled, Transient, &["20429"]),
                (429, "", Transient, &["twilio: HTTP 429: (empty body)"]),
                // Accepted but unreadable: a retry could send it twice.
                (201, "OK", Permanent, &["duplicate"]),
            ],
        )
        .await;
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

    #[test]
    fn twilio_sender_restores_the_plus_of_long_numbers_only() {
        assert_eq!(twilio_sender("254700000000"), "+254700000000");
        assert_eq!(twilio_sender("+254700000000"), "+254700000000");
        assert_eq!(twilio_sender("22384"), "22384");
        assert_eq!(twilio_sender("ISHARA"), "ISHARA");
    }
}
