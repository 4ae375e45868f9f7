//! `ishara eval geo FILE`: admin-1 accuracy of place finding on labelled
//! SMS, through the same [`Locator`] the worker uses.
//!
//! The file is tab-separated with a header line: `sender`, `text`,
//! `expected_country`, `expected_admin1`, `expected_geonameid`, and
//! optionally `language` (for a per-language breakdown). A row with an
//! empty `expected_admin1` names no place: any place found in its text is a
//! false positive.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::GeoConfig;
use crate::enrich::locate::{Locator, PlaceKind, PlaceMethod};

pub struct Row {
    pub sender: String,
    pub text: String,
    pub expected_country: Option<String>,
    pub expected_admin1: Option<String>,
    pub language: Option<String>,
}

pub fn parse(text: &str) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if n == 0 && line.starts_with("sender\t") || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 4 {
            anyhow::bail!(
                "line {}: {} columns, expected at least 4",
                n + 1,
                cols.len()
            );
        }
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        rows.push(Row {
            sender: cols[0].to_owned(),
            text: cols[1].to_owned(),
            expected_country: some(cols[2]),
            expected_admin1: some(cols[3]),
            language: cols.get(5).and_then(|c| some(c)),
        });
    }
    Ok(rows)
}

#[derive(Default)]
struct Tally {
    rows: usize,
    correct: usize,
    wrong: usize,
}

impl Tally {
    fn missed(&self) -> usize {
        self.rows - self.correct - self.wrong
    }
}

pub struct Report {
    per_country: BTreeMap<String, Tally>,
    per_language: BTreeMap<String, Tally>,
    /// Right answers that named a region rather than a town.
    regions_found: usize,
    /// `expected → found` admin-1 codes of wrong rows ("-" for none).
    confusions: BTreeMap<(String, String), usize>,
    negatives: usize,
    false_positives: usize,
    elapsed: Duration,
    /// One line per wrong, missed or false-positive row.
    pub mistakes: Vec<String>,
}

impl Report {
    pub fn accuracy(&self) -> f64 {
        let (rows, correct) = self
            .per_country
            .values()
            .fold((0, 0), |(r, c), t| (r + t.rows, c + t.correct));
        ratio(correct, rows)
    }

    pub fn false_positive_rate(&self) -> f64 {
        ratio(self.false_positives, self.negatives)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "country  rows  admin1 correct  wrong  none")?;
        let mut total = Tally::default();
        for (country, t) in &self.per_country {
            writeln!(
                f,
                "{country:<7} {:>5}  {:>6} {:>6.1}%  {:>5}  {:>4}",
                t.rows,
                t.correct,
                100.0 * ratio(t.correct, t.rows),
                t.wrong,
                t.missed()
            )?;
            total.rows += t.rows;
            total.correct += t.correct;
            total.wrong += t.wrong;
        }
        writeln!(
            f,
            "overall {:>5}  {:>6} {:>6.1}%  {:>5}  {:>4}",
            total.rows,
            total.correct,
            100.0 * self.accuracy(),
            total.wrong,
            total.missed()
        )?;
        writeln!(
            f,
            "no place named: {} rows, {} none ({:.1}%), {} false positives ({:.1}%)",
            self.negatives,
            self.negatives - self.false_positives,
            100.0 * (1.0 - self.false_positive_rate()),
            self.false_positives,
            100.0 * self.false_positive_rate()
        )?;
        writeln!(
            f,
            "right answers that named the region itself (kind admin1): {}",
            self.regions_found
        )?;
        if !self.per_language.is_empty() {
            writeln!(f, "language rows  admin1 correct  wrong  none")?;
            for (language, t) in &self.per_language {
                writeln!(
                    f,
                    "{language:<8} {:>5}  {:>6} {:>6.1}%  {:>5}  {:>4}",
                    t.rows,
                    t.correct,
                    100.0 * ratio(t.correct, t.rows),
                    t.wrong,
                    t.missed()
                )?;
            }
        }
        let mut confusions: Vec<_> = self.confusions.iter().collect();
        confusions.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        if !confusions.is_empty() {
            writeln!(f, "most frequent mistakes (expected -> found):")?;
            for ((expected, found), n) in confusions.into_iter().take(10) {
                writeln!(f, "  {expected} -> {found}: {n}")?;
            }
        }
        let n = total.rows + self.negatives;
        writeln!(
            f,
            "{n} SMS in {:.3} s ({:.0} SMS/s, one thread)",
            self.elapsed.as_secs_f64(),
            n as f64 / self.elapsed.as_secs_f64().max(1e-9)
        )
    }
}

/// Scores `rows` with `locator`; texts only, no coordinates.
pub fn score(locator: &Locator, rows: &[Row]) -> Report {
    let mut report = Report {
        per_country: BTreeMap::new(),
        per_language: BTreeMap::new(),
        regions_found: 0,
        confusions: BTreeMap::new(),
        negatives: 0,
        false_positives: 0,
        elapsed: Duration::ZERO,
        mistakes: Vec::new(),
    };
    let started = Instant::now();
    for row in rows {
        let sender_country = sender_country(&row.sender);
        let guess = locator.locate(&row.text, None, sender_country);
        let from_text = guess.method == PlaceMethod::Text;
        let found = || {
            format!(
                "{} {} {}",
                guess.name.as_deref().unwrap_or("-"),
                guess.admin1_code.as_deref().unwrap_or("-"),
                guess.confidence
            )
        };
        match &row.expected_admin1 {
            None => {
                report.negatives += 1;
                report.false_positives += usize::from(from_text);
                if from_text {
                    report
                        .mistakes
                        .push(format!("false positive\t{}\t{}", row.text, found()));
                }
            }
            Some(expected) => {
                let country = row
                    .expected_country
                    .clone()
                    .unwrap_or_else(|| expected.chars().take(2).collect());
                let right = from_text && guess.admin1_code.as_deref() == Some(expected);
                let mut tallies = vec![report.per_country.entry(country).or_default()];
                if let Some(language) = &row.language {
                    tallies.push(report.per_language.entry(language.clone()).or_default());
                }
                for tally in tallies {
                    tally.rows += 1;
                    tally.correct += usize::from(right);
                    tally.wrong += usize::from(!right && from_text);
                }
                if right {
                    report.regions_found += usize::from(guess.kind == PlaceKind::Admin1);
                } else {
                    let found_code = match (&guess.admin1_code, from_text) {
                        (Some(code), true) => code.clone(),
                        _ => "-".to_owned(),
                    };
                    *report
                        .confusions
                        .entry((expected.clone(), found_code))
                        .or_default() += 1;
                    let kind = if from_text { "wrong" } else { "missed" };
                    report
                        .mistakes
                        .push(format!("{kind} {expected}\t{}\t{}", row.text, found()));
                }
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

pub fn run(geo: &GeoConfig, data_dir: &Path, file: &Path) -> anyhow::Result<Report> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rows = parse(&text).with_context(|| format!("{}", file.display()))?;
    let locator = Locator::from_config(geo, data_dir)?;
    Ok(score(&locator, &rows))
}

/// The country the worker would give a sender: the number as a gateway
/// gives it, put in E.164, then looked up by calling code.
pub fn sender_country(sender: &str) -> Option<&'static str> {
    let sender = crate::phone::PhoneNormalizer::default().normalize(sender);
    sender.country().map(|c| c.iso.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_map_to_countries_as_the_worker_maps_them() {
        assert_eq!(sender_country("+254712345678"), Some("KE"));
        assert_eq!(sender_country("+509 3712 3456"), Some("HT"));
        assert_eq!(sender_country("+256772123456"), Some("UG"));
        assert_eq!(sender_country("MPESA"), None);
    }

    #[test]
    fn rows_without_expected_region_are_negatives() {
        let rows = parse("sender\ttext\texpected_country\texpected_admin1\texpected_geonameid\n+254700000000\thello\t\t\t\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].expected_admin1, None);
    }
}
