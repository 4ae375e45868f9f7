//! Africa's Talking's bulk SMS API, one recipient per call: success and
//! failure are read per recipient inside a 201.

use super::*;

impl SmsSender {
    pub(super) async fn send_africastalking(
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

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
    async fn africastalking_failures_are_classified_and_say_why() {
        use Failure::{Permanent, Transient};
        let rejected = r#"{"SMSMessageData":{"Message":"InvalidSenderId","Recipients":[]}}"#;
        let cases = [
            // A 201 can still hold a failure, per recipient.
            (
                201,
                at_one(403, "InvalidPhoneNumber"),
                Permanent,
                "africastalking: status 403 InvalidPhoneNumber",
            ),
            (
                201,
                at_one(405, "InsufficientBalance"),
                Permanent,
                "InsufficientBalance",
            ),
            (
                201,
                at_one(500, "InternalServerError"),
                Transient,
                "InternalServerError",
            ),
            (201, at_one(501, "GatewayError"), Transient, "GatewayError"),
            (
                201,
                at_one(502, "RejectedByGateway"),
                Transient,
                "RejectedByGateway",
            ),
            (
                201,
                rejected.to_owned(),
                Permanent,
                "africastalking: not sent: InvalidSenderId",
            ),
            (
                401,
                "The supplied authentication is invalid".to_owned(),
                Permanent,
                "africastalking: HTTP 401: The supplied authentication is invalid",
            ),
            (503, "Service Unavailable".to_owned(), Transient, "HTTP 503"),
        ];
        check_failure_rows(
            |base| Provider::AfricasTalking(africastalking(base)),
            &cases,
        )
        .await;
    }
}
