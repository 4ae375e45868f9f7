//! `ishara rules test`: replays timed reports through the real engine on a
//! fake clock and compares the alerts that fire with the expected ones,
//! in the spirit of `promtool test rules`.
//!
//! A test file (YAML):
//!
//! ```yaml
//! rule_files: [../outbreaks.yaml]     # relative to this file
//! start: 2025-03-01T00:00:00Z         # optional; offsets below count from it
//! evaluation_interval: 1m             # optional; how often timers run (default 1m)
//! tests:
//!   - name: three cases in one county fire once
//!     reports:
//!       - at: 10m                     # offset from start
//!         text: Cholera imeingia Garissa
//!         sender: "+254712345001"      # optional; distinct senders count these
//!         source: twilio              # optional, default "test"
//!         id: SM1                      # optional source id (a retry repeats it)
//!         sent: 5m                     # optional event time, default = at
//!         language: sw                 # optional: else lingua detects it
//!         place: {country: KE, admin1: KE.18, admin1_name: Garissa}  # optional: else found
//!         repeat: 3                    # optional: this report 3 times ...
//!         every: 2m                    # ... 2 minutes apart (distinct ids)
//!     until: 2h                        # optional; default: last report + one interval
//!     alerts:                          # exactly these must fire, no others
//!       - {rule: cholera-cluster, group: admin1=KE.18, fired_at: 14m}
//!       - {rule: x, group: "", fired_at: 1h, resolved_at: 3h}  # resolved_at omitted: still firing at `until`
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::engine::{Engine, RuleBook};
use super::load::{self, Known};
use super::model::Rule;
use crate::alert::{Alert, AlertState};
use crate::enrich::locate::{PlaceGuess, PlaceKind, PlaceMethod};
use crate::enrich::{EnrichedReport, Enricher, Enrichment, LanguageGuess};
use crate::report::{IncomingReport, ReportId, Source, SourceId, Text};
use crate::store::{AlertQuery, SqliteStore, Store};
use crate::window::memory::MemoryWindows;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rule_files: Vec<PathBuf>,
    #[serde(default)]
    start: Option<DateTime<Utc>>,
    #[serde(default, with = "opt_duration")]
    evaluation_interval: Option<Duration>,
    tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    #[serde(default)]
    reports: Vec<TestReport>,
    #[serde(default, with = "opt_duration")]
    until: Option<Duration>,
    #[serde(default)]
    alerts: Vec<ExpectedAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestReport {
    #[serde(with = "duration")]
    at: Duration,
    text: String,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default, with = "opt_duration")]
    sent: Option<Duration>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    place: Option<TestPlace>,
    #[serde(default)]
    repeat: Option<u32>,
    #[serde(default, with = "opt_duration")]
    every: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestPlace {
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    admin1: Option<String>,
    #[serde(default)]
    admin1_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedAlert {
    rule: String,
    #[serde(default)]
    group: String,
    #[serde(with = "duration")]
    fired_at: Duration,
    #[serde(default, with = "opt_duration")]
    resolved_at: Option<Duration>,
}

mod duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let raw = String::deserialize(d)?;
        parse(&raw).map_err(serde::de::Error::custom)
    }

    /// `0`, `0s`, `10m`, `1h 30m`: offsets from the test's start.
    pub fn parse(raw: &str) -> Result<Duration, String> {
        if raw.trim() == "0" {
            return Ok(Duration::ZERO);
        }
        humantime::parse_duration(raw.trim()).map_err(|e| format!("bad duration {raw:?}: {e}"))
    }
}

mod opt_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|raw| super::duration::parse(&raw).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// One alert as the comparison sees it: offsets from the test's start.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    rule: String,
    group: String,
    fired_at: Duration,
    resolved_at: Option<Duration>,
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "(no group)"
        } else {
            &self.group
        };
        write!(
            f,
            "{} {group} fired_at {}",
            self.rule,
            humantime::format_duration(self.fired_at)
        )?;
        match self.resolved_at {
            Some(at) => write!(f, " resolved_at {}", humantime::format_duration(at)),
            None => write!(f, " still firing"),
        }
    }
}

/// The outcome of one test case.
#[derive(Debug)]
pub struct CaseResult {
    pub file: PathBuf,
    pub name: String,
    /// Empty when the case passed: `- expected` and `+ unexpected` lines.
    pub diff: Vec<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.diff.is_empty()
    }
}

/// Everything needed to run test files: what rules may refer to, and how
/// to enrich reports that do not say their language or place.
pub struct Runner {
    known: Known,
    config: crate::config::Config,
    enricher: Option<Arc<Enricher>>,
    /// Test senders are written in E.164; no default country applies.
    phones: crate::phone::PhoneNormalizer,
}

impl Runner {
    pub fn new(config: &crate::config::Config, known: Known) -> Self {
        Self {
            known,
            config: config.clone(),
            enricher: None,
            phones: crate::phone::PhoneNormalizer::default(),
        }
    }

    /// Runs every case of one file. Problems with the file itself (bad
    /// YAML, broken rules) come back as the error, one line each.
    pub async fn run_file(&mut self, path: &Path) -> Result<Vec<CaseResult>, Vec<String>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
        let file: TestFile = marked_yaml::from_yaml(0, &text)
            .map_err(|e| vec![format!("{}: {e}", path.display())])?;
        let rules = self.load_rules(path, &file.rule_files)?;
        if file
            .tests
            .iter()
            .flat_map(|t| &t.reports)
            .any(needs_enrichment)
        {
            self.load_enricher().map_err(|e| vec![format!("{e:#}")])?;
        }
        let start = file
            .start
            .unwrap_or_else(|| "2025-01-01T00:00:00Z".parse().expect("valid time"));
        let interval = file.evaluation_interval.unwrap_or(Duration::from_secs(60));
        let mut results = Vec::new();
        for case in &file.tests {
            let diff = self
                .run_case(&rules, case, start, interval)
                .await
                .unwrap_or_else(|e| vec![format!("! the engine failed: {e:#}")]);
            results.push(CaseResult {
                file: path.to_owned(),
                name: case.name.clone(),
                diff,
            });
        }
        Ok(results)
    }

    fn load_rules(
        &self,
        test_file: &Path,
        rule_files: &[PathBuf],
    ) -> Result<Vec<Rule>, Vec<String>> {
        let base = test_file.parent().unwrap_or(Path::new("."));
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        for file in rule_files {
            let path = base.join(file);
            match std::fs::read_to_string(&path) {
                Ok(yaml) => match load::load_str(&path, &yaml, &self.known) {
                    Ok(loaded) => rules.extend(loaded),
                    Err(diagnostics) => problems.extend(diagnostics.iter().map(|d| d.to_string())),
                },
                Err(e) => problems.push(format!("{}: cannot read: {e}", path.display())),
            }
        }
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(problems)
        }
    }

    fn load_enricher(&mut self) -> anyhow::Result<()> {
        if self.enricher.is_none() {
            self.enricher = Some(Arc::new(Enricher::from_config(&self.config)?));
        }
        Ok(())
    }

    async fn run_case(
        &self,
        rules: &[Rule],
        case: &TestCase,
        start: DateTime<Utc>,
        interval: Duration,
    ) -> anyhow::Result<Vec<String>> {
        // A fresh engine per case, on the same parts the service runs:
        // in-memory windows and a SQLite store (in memory, one connection,
        // since each connection to `:memory:` is its own database).
        let store: Arc<dyn Store> = Arc::new(SqliteStore::connect("sqlite::memory:", 1).await?);
        store.migrate().await?;
        let windows = Arc::new(MemoryWindows::new());
        let engine = Engine::new(
            RuleBook::new(rules.to_vec()),
            windows,
            store.clone(),
            Duration::from_secs(self.config.rules.allowed_lateness_secs),
        );
        let reports = self.expand(case, start)?;
        let until = case
            .until
            .map(|u| start + chrono_of(u))
            .unwrap_or_else(|| reports.last().map_or(start, |(at, _)| *at) + chrono_of(interval));
        let mut pending = reports.into_iter().peekable();
        let mut tick = start;
        while tick <= until {
            while let Some((at, _)) = pending.peek()
                && *at <= tick
            {
                let (at, report) = pending.next().expect("peeked");
                let inserted = store.insert_report(&report).await?;
                engine.observe_stored(&[(&report, inserted)], at).await?;
            }
            engine.tick(tick).await?;
            tick += chrono_of(interval);
        }
        let alerts = store
            .list_alerts(&AlertQuery {
                limit: 100_000,
                ..AlertQuery::default()
            })
            .await?;
        let actual: Vec<Seen> = alerts.iter().map(|a| seen(a, start)).collect();
        let expected: Vec<Seen> = case
            .alerts
            .iter()
            .map(|e| Seen {
                rule: e.rule.clone(),
                group: e.group.clone(),
                fired_at: e.fired_at,
                resolved_at: e.resolved_at,
            })
            .collect();
        Ok(diff(expected, actual))
    }

    /// Each report (and its repeats) with the time it arrives, in order.
    fn expand(
        &self,
        case: &TestCase,
        start: DateTime<Utc>,
    ) -> anyhow::Result<Vec<(DateTime<Utc>, EnrichedReport)>> {
        let mut out = Vec::new();
        for (index, report) in case.reports.iter().enumerate() {
            let every = report.every.unwrap_or(Duration::from_secs(60));
            for n in 0..report.repeat.unwrap_or(1).max(1) {
                let offset = report.at + every * n;
                let at = start + chrono_of(offset);
                let sent = report
                    .sent
                    .map(|s| start + chrono_of(s + every * n))
                    .unwrap_or(at);
                let id = match (&report.id, report.repeat) {
                    (Some(id), None) => id.clone(),
                    (Some(id), Some(_)) => format!("{id}-{n}"),
                    (None, _) => format!("r{index}-{n}"),
                };
                out.push((at, self.report(report, &id, sent, at)?));
            }
        }
        out.sort_by_key(|(at, _)| *at);
        Ok(out)
    }

    fn report(
        &self,
        input: &TestReport,
        id: &str,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
    ) -> anyhow::Result<EnrichedReport> {
        let report = IncomingReport {
            id: ReportId::new(),
            source: Source::new(input.source.as_deref().unwrap_or("test")),
            source_id: SourceId::given(id)
                .ok_or_else(|| anyhow::anyhow!("report id {id:?} is empty or too long"))?,
            sender: input.sender.as_deref().map(|s| self.phones.normalize(s)),
            // Tests have no pseudonym key: the number stands for itself.
            sender_pseudonym: input.sender.clone(),
            recipient: None,
            text: Text::parse(&input.text).map_err(|e| anyhow::anyhow!("report {id}: {e}"))?,
            sent_at: Some(sent),
            received_at: received,
            location: None,
            meta: Default::default(),
            part: None,
        };
        let found = match &self.enricher {
            Some(enricher) if needs_enrichment(input) => enricher.enrich(&report),
            _ => Enrichment::nothing(),
        };
        let enrichment = Enrichment {
            language: match &input.language {
                Some(code) => LanguageGuess {
                    code: crate::enrich::language::LanguageCode::from_stored(code.clone()),
                    confidence: 1.0,
                },
                None => found.language,
            },
            place: match &input.place {
                Some(place) => place_of(place),
                None => found.place,
            },
        };
        Ok(EnrichedReport { report, enrichment })
    }
}

fn needs_enrichment(report: &TestReport) -> bool {
    report.language.is_none() || report.place.is_none()
}

fn place_of(place: &TestPlace) -> PlaceGuess {
    PlaceGuess {
        method: PlaceMethod::Text,
        kind: PlaceKind::of(
            place.id,
            place.admin1.as_deref(),
            place.country.as_deref().or(place.admin1.as_deref()),
        ),
        place_id: place.id,
        name: place.name.clone(),
        country: place.country.clone().or_else(|| {
            place
                .admin1
                .as_ref()
                .and_then(|a| a.split('.').next().map(str::to_owned))
        }),
        admin1_code: place.admin1.clone(),
        admin1_name: place.admin1_name.clone(),
        lat: place.lat,
        lon: place.lon,
        confidence: 1.0,
    }
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn seen(alert: &Alert, start: DateTime<Utc>) -> Seen {
    let offset = |t: DateTime<Utc>| (t - start).to_std().unwrap_or_default();
    Seen {
        rule: alert.rule.to_string(),
        group: alert.group.clone(),
        fired_at: offset(alert.fired_at),
        resolved_at: match alert.state {
            AlertState::Resolved => alert.resolved_at.map(offset),
            AlertState::Firing => None,
        },
    }
}

/// `- expected` lines for what did not happen, `+ unexpected` for what
/// happened instead; nothing when they agree.
fn diff(expected: Vec<Seen>, actual: Vec<Seen>) -> Vec<String> {
    let mut counts: BTreeMap<Seen, i64> = BTreeMap::new();
    for e in expected {
        *counts.entry(e).or_default() += 1;
    }
    for a in actual {
        *counts.entry(a).or_default() -= 1;
    }
    let mut lines = Vec::new();
    for (seen, n) in counts {
        for _ in 0..n.abs() {
            if n > 0 {
                lines.push(format!("- {seen}    (expected, did not fire)"));
            } else {
                lines.push(format!("+ {seen}    (fired, not expected)"));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(rule: &str, fired: u64, resolved: Option<u64>) -> Seen {
        Seen {
            rule: rule.into(),
            group: "admin1=KE.18".into(),
            fired_at: Duration::from_secs(fired),
            resolved_at: resolved.map(Duration::from_secs),
        }
    }

    #[test]
    fn agreeing_alerts_make_no_diff() {
        let alerts = vec![seen("a", 60, None), seen("b", 120, Some(600))];
        assert!(diff(alerts.clone(), alerts).is_empty());
    }

    #[test]
    fn the_diff_names_what_is_missing_and_what_is_extra() {
        let lines = diff(vec![seen("a", 60, None)], vec![seen("a", 120, None)]);
        assert_eq!(
            lines,
            vec![
                "- a admin1=KE.18 fired_at 1m still firing    (expected, did not fire)",
                "+ a admin1=KE.18 fired_at 2m still firing    (fired, not expected)",
            ]
        );
    }

    #[test]
    fn an_alert_firing_twice_when_once_was_expected_is_a_difference() {
        let lines = diff(
            vec![seen("a", 60, None)],
            vec![seen("a", 60, None), seen("a", 60, None)],
        );
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with('+'));
    }
}
