//! Webhooks: the alert as JSON, POSTed and signed. The body carries a
//! `text` field, so a Slack or Mattermost incoming-webhook URL works as is.

use std::time::Duration;

use serde::Serialize;

use super::SendError;
use crate::secret::{SIGNATURE_HEADER, body_signature};

#[derive(Debug, Clone, Serialize)]
pub struct WebhookBody<'a> {
    /// The rendered `webhook` template: what chat tools display.
    pub text: String,
    /// `fired` or `resolved`.
    pub event: &'a str,
    pub alert: &'a crate::alert::Alert,
    pub link: String,
    pub cap_link: String,
    /// The place the group is about, such as `Garissa, Kenya`.
    pub place: String,
}

pub struct WebhookSender {
    client: reqwest::Client,
}

impl WebhookSender {
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }

    /// POSTs the body; `Ok` carries the status the receiver answered.
    pub async fn send(
        &self,
        url: &str,
        secret: &str,
        body: &WebhookBody<'_>,
    ) -> Result<String, SendError> {
        let json = serde_json::to_vec(body)
            .map_err(|e| SendError::Permanent(format!("cannot encode the body: {e}")))?;
        let response = self
            .client
            .post(url)
            .timeout(Duration::from_secs(15))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(secret, &json))
            .body(json)
            .send()
            .await
            // Webhook URLs are secrets (Slack's carry the token in the
            // path): errors are recorded without them.
            .map_err(|e| SendError::Transient(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16().to_string());
        }
        let detail = response.text().await.unwrap_or_default();
        let message = format!("{status}: {}", detail.chars().take(200).collect::<String>());
        Err(SendError::for_status(status.as_u16(), message))
    }
}

/// `sha256=<hex HMAC-SHA256 of the body>`, as GitHub signs its webhooks:
/// the same signature Ishara's generic gateway checks on the way in.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", body_signature(secret, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_body() {
        // Worked out with: printf '{"text":"hi"}' | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            signature("s3cret", br#"{"text":"hi"}"#),
            "sha256=033b6215e0418d45ead2c73e9d3059b3efba91da4d5f556dc6aa782294cff195"
        );
    }
}
