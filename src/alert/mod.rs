//! An alert as stored and listed: one firing of one rule for one group,
//! with the reports that made it fire.

pub mod delivery;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// An alert's id: a ULID, so alerts list in the order they fired.
///
/// Held as its canonical text, which is what every store, queue message,
/// link and log line carries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AlertId(String);

impl AlertId {
    /// Monotonic within this process, so alerts fired in the same
    /// millisecond still list in the order they fired.
    pub fn new() -> Self {
        Self(crate::report::monotonic_ulid().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for AlertId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AlertId {
    type Err = ulid::DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(s).map(|id| Self(id.to_string()))
    }
}

impl TryFrom<String> for AlertId {
    type Error = ulid::DecodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AlertId> for String {
    fn from(id: AlertId) -> Self {
        id.0
    }
}

/// `[a-z0-9][a-z0-9._-]*`, at most 100 bytes: it is part of window keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RuleId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "a rule id is 1 to 100 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
)]
pub struct RuleIdError;

impl RuleId {
    pub fn parse(raw: &str) -> Result<Self, RuleIdError> {
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if first_ok && rest_ok && raw.len() <= 100 {
            Ok(Self(raw.to_owned()))
        } else {
            Err(RuleIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RuleId {
    type Error = RuleIdError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<RuleId> for String {
    fn from(id: RuleId) -> Self {
        id.0
    }
}

/// CAP 1.2 severities, so alerts map onto CAP feeds unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Minor,
    Moderate,
    Severe,
    Extreme,
}

impl Severity {
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Minor => "minor",
            Severity::Moderate => "moderate",
            Severity::Severe => "severe",
            Severity::Extreme => "extreme",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "minor" => Some(Severity::Minor),
            "moderate" => Some(Severity::Moderate),
            "severe" => Some(Severity::Severe),
            "extreme" => Some(Severity::Extreme),
            _ => None,
        }
    }
}

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
    pub id: AlertId,
    pub rule: RuleId,
    /// `admin1=KE.30,keyword=cholera`; empty when the rule does not group.
    pub group: String,
    pub state: AlertState,
    pub severity: Severity,
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
