//! Vonage's SMS API: a long text goes as one request and comes back as
//! one status per part.

use super::*;

impl SmsSender {
    pub(super) async fn send_vonage(
        &self,
        c: &VonageSend,
        to: &str,
        text: &str,
    ) -> Result<String, SendError> {
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
    use super::super::test_support::*;
    use super::*;

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
    async fn vonage_failures_are_classified_and_say_why() {
        use Failure::{Permanent, Transient};
        let cases = [
            // Vonage answers 200 and says per part what became of it.
            (
                200,
                vonage_reply(&[("9", r#","error-text":"Insufficient credit""#)]),
                Permanent,
                "vonage: 1 of 1 parts failed: status 9 (Insufficient credit)",
            ),
            (
                200,
                vonage_reply(&[
                    ("0", r#","message-id":"id1""#),
                    ("1", r#","error-text":"Throughput Rate Exceeded""#),
                ]),
                Transient,
                "vonage: 1 of 2 parts failed: status 1 (Throughput Rate Exceeded)",
            ),
            // One part that cannot succeed makes the whole send permanent.
            (
                200,
                vonage_reply(&[("5", ""), ("7", "")]),
                Permanent,
                "status 7",
            ),
            (503, String::new(), Transient, "HTTP 503"),
        ];
        check_failure_rows(|base| Provider::Vonage(vonage(base)), &cases).await;
    }
}
