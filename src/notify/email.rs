//! Email through SMTP (lettre): one message per recipient, text and HTML.

use std::time::Duration;

use lettre::message::header::{self, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SendError;
use crate::config::SmtpConfig;

/// What an email says; the parts come from the templates.
pub struct Email<'a> {
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    /// Stable per alert, transition and recipient: a message sent twice
    /// (a notifier died before recording it) has one id, which mail
    /// clients use to show it once.
    pub message_id: String,
    /// The firing's message id, so a resolution threads under it.
    pub in_reply_to: Option<String>,
    pub alert_id: &'a str,
}

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The whole transaction's deadline: lettre's own timeout covers only
    /// the connect, and a server that goes silent after it would hold the
    /// send, and its channel, forever.
    deadline: Duration,
}

impl EmailSender {
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        let url = config
            .url
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("smtp.url is not set"))?;
        let from = config
            .from
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("smtp.from is not set"))?
            .parse()?;
        let deadline = Duration::from_secs(config.timeout_secs.max(1));
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(deadline))
            .build();
        Ok(Self {
            transport,
            from,
            deadline,
        })
    }

    /// Sends one email; `Ok` carries the server's reply, such as
    /// `250 2.0.0 Ok: queued as 4F1`.
    pub async fn send(&self, to: &str, email: &Email<'_>) -> Result<String, SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad address: {e}")))?;
        let message = self.message(to, email)?;
        let sent = tokio::time::timeout(self.deadline, self.transport.send(message)).await;
        let Ok(sent) = sent else {
            return Err(SendError::Transient(format!(
                "the mail server did not answer within {} s",
                self.deadline.as_secs()
            )));
        };
        match sent {
            Ok(response) => Ok(response
                .first_line()
                .map(|line| format!("{} {line}", response.code()))
                .unwrap_or_else(|| response.code().to_string())),
            // A 5xx reply says the server will never take this message;
            // anything else (4xx, a refused or dropped connection, a
            // timeout) may pass later.
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }

    fn message(&self, to: Mailbox, email: &Email) -> Result<Message, SendError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .message_id(Some(email.message_id.clone()))
            .header(AlertHeader(email.alert_id.to_owned()));
        if let Some(parent) = &email.in_reply_to {
            builder = builder
                .in_reply_to(parent.clone())
                .references(parent.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                email.text.to_owned(),
                email.html.to_owned(),
            ))
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
    }
}

/// `X-Ishara-Alert: <id>`, for mail filters and for tracing a message back.
#[derive(Clone)]
struct AlertHeader(String);

impl header::Header for AlertHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Ishara-Alert")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}
