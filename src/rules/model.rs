//! What a rule says, as typed values: built by `load` from YAML, read by
//! the matcher and the engine. Nothing here is an unchecked string.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use crate::alert::{RuleId, RuleIdError, Severity};

/// Where a rule was written, for messages and `GET /v1/rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: RuleId,
    pub description: Option<String>,
    pub filter: Filter,
    pub group_by: Vec<GroupBy>,
    pub condition: Condition,
    /// No second alert for the same rule and group within this time of a
    /// firing. Zero: only "not while one is firing".
    pub cooldown: Duration,
    pub severity: Severity,
    /// Channel names, checked against the configured channels.
    pub notify: Vec<String>,
    /// Template name, checked against the templates directory.
    pub template: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub origin: Origin,
}

/// A set of words that mean one thing: `cholera`, `kipindupindu` and
/// `choléra` are the topic `cholera`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub name: String,
    /// As written in the rule; the matcher folds case and accents.
    pub terms: Vec<String>,
}

/// Which reports a rule looks at. An empty list constrains nothing.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// At least one of these topics.
    pub any: Vec<Topic>,
    /// Every one of these topics.
    pub all: Vec<Topic>,
    /// None of these topics.
    pub none: Vec<Topic>,
    /// ISO 639-1 codes, `und` included.
    pub languages: Vec<String>,
    pub places: Vec<PlaceFilter>,
    pub sources: Vec<String>,
    pub text: Option<regex::Regex>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PlaceFilter {
    /// `KE`, `KE.30`, `KE.*`, `*.01`: `*` matches any run of characters,
    /// against the admin-1 code (`KE.30`) and the country code alone.
    Admin(String),
    /// An admin-1 region or place by name, folded (case and accents).
    Named(String),
    /// Within `km` of a point, by the report's place coordinates.
    Near { lat: f64, lon: f64, km: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Country,
    Admin1,
    Place,
    Language,
    Keyword,
    Sender,
}

impl GroupBy {
    pub const ALL: [GroupBy; 6] = [
        GroupBy::Country,
        GroupBy::Admin1,
        GroupBy::Place,
        GroupBy::Language,
        GroupBy::Keyword,
        GroupBy::Sender,
    ];

    /// As written in rules and in group keys (`admin1=KE.30`).
    pub fn as_str(&self) -> &'static str {
        match self {
            GroupBy::Country => "country",
            GroupBy::Admin1 => "admin1",
            GroupBy::Place => "place",
            GroupBy::Language => "language",
            GroupBy::Keyword => "keyword",
            GroupBy::Sender => "sender",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|by| by.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// At least `at_least` reports within `window`.
    Count { window: Duration, at_least: u64 },
    /// At least `at_least` different senders within `window`.
    DistinctSenders { window: Duration, at_least: u64 },
    /// The current window holds at least `min_count` reports and at least
    /// `factor` times the average of the `baseline_windows` before it.
    Spike {
        window: Duration,
        factor: f64,
        baseline_windows: u32,
        min_count: u64,
    },
    /// A group that reported within `baseline` has been silent for `silence`.
    Absence {
        baseline: Duration,
        silence: Duration,
    },
    /// The first report from a group with none in the `baseline` before it.
    FirstSeen { baseline: Duration },
}
