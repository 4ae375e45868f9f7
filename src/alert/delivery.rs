//! Notifications of an alert and their delivery: what is sent once per
//! recipient, and each attempt as it is recorded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which change of an alert a notification tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Fired,
    Resolved,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Fired => "fired",
            Transition::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "fired" => Some(Transition::Fired),
            "resolved" => Some(Transition::Resolved),
            _ => None,
        }
    }
}

/// The message on the `alerts` queue: small, because the alert itself is
/// read from the store, which is the truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub alert_id: super::AlertId,
    pub transition: Transition,
    pub channel: String,
}

/// One recipient of one notification: the unit that is sent once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotificationKey {
    pub alert_id: super::AlertId,
    pub transition: Transition,
    pub channel: String,
    /// A pseudonym of the address, number or URL: keys and records never
    /// hold the destination itself.
    pub recipient: String,
}

/// Whether this notifier may send to a recipient now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationClaim {
    /// Ours until the lease ends; `attempts` were made before.
    Claimed { attempts: u32 },
    /// Sent, or given up on: nothing more to do.
    Done,
    /// Another notifier is on it until then; if it dies, its lease runs out.
    Busy { until: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    Sent,
    /// Failed; another attempt follows.
    Failed,
    /// Failed for the last time: dead-lettered.
    Dead,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Sent => "sent",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Dead => "dead",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "sent" => Some(AttemptStatus::Sent),
            "failed" => Some(AttemptStatus::Failed),
            "dead" => Some(AttemptStatus::Dead),
            _ => None,
        }
    }
}

/// One try to deliver, as `GET /v1/alerts/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub transition: Transition,
    pub channel: String,
    /// `email`, `sms`, `webhook` or `log`.
    pub kind: String,
    pub recipient: String,
    /// 1 for the first try.
    pub attempt: u32,
    pub status: AttemptStatus,
    pub error: Option<String>,
    pub provider_id: Option<String>,
    pub at: DateTime<Utc>,
}
