//! Notifications: what leaves Ishara when an alert fires or resolves.
//!
//! The worker that stores an alert publishes one [`Notification`] per
//! channel on the `alerts` queue ([`outbox`]); notifiers take them off,
//! render the channel's message from templates ([`templates`]), send it
//! ([`email`], [`sms`], [`webhook`]), and record every attempt. The alert
//! row is the outbox and the `notifications` table decides, per recipient,
//! who sends: one message per channel and recipient per firing, however
//! many notifiers run.

pub mod context;
pub mod email;
pub mod notifier;
pub mod outbox;
pub mod retry;
pub mod sms;
pub mod templates;
pub mod webhook;

/// Why a send failed, and whether trying again may help.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SendError {
    /// Worth retrying: a network error, a timeout, a 5xx or 429, an SMTP
    /// 4xx, a provider's throttling code.
    #[error("{0}")]
    Transient(String),
    /// Never retried: bad credentials, an invalid number or address, an
    /// SMTP 5xx, other 4xx, and a success reply that makes no sense (the
    /// provider probably took the message, so a retry could send it twice).
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    /// What an HTTP refusal calls for: a receiver that timed out, is
    /// overloaded or failed may take it later; any other refusal will not
    /// change by itself.
    pub fn for_status(status: u16, message: String) -> Self {
        if matches!(status, 408 | 429 | 500..=599) {
            SendError::Transient(message)
        } else {
            SendError::Permanent(message)
        }
    }
}
