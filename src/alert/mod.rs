//! An alert as stored and listed: one firing of one rule for one group,
//! with the reports that made it fire.

pub mod delivery;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(&self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "firing" => Some(AlertState::Firing),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// A ULID: alerts list in the order they fired.
    pub id: String,
    pub rule: String,
    /// `admin1=KE.30,keyword=cholera`; empty when the rule does not group.
    pub group: String,
    pub state: AlertState,
    pub severity: String,
    pub fired_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// What the condition measured when it fired: the count, the distinct
    /// senders, the spike's count, the silence in seconds.
    pub value: f64,
    /// Ids of the reports in the window when it fired, oldest first.
    pub evidence: Vec<String>,
    /// Ids of the reports left in the window when it resolved.
    pub resolved_evidence: Option<Vec<String>>,
    pub details: AlertDetails,
}

/// What notifications need from the rule, frozen at firing time so that a
/// later edit of the rule does not change an alert already sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertDetails {
    pub description: Option<String>,
    /// The group's fields: `{"admin1": "KE.30"}`.
    pub group: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub notify: Vec<String>,
    pub template: Option<String>,
    /// The condition as text, such as `count >= 3 in 24h`.
    pub condition: String,
    /// The window counted, such as `24h`; for a silence, how long it lasted.
    #[serde(default)]
    pub window: Option<String>,
}
