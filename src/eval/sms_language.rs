//! `ishara eval language FILE.tsv`: language detection on labelled crisis
//! SMS as the worker sees them (with their sender and their place names),
//! the pipeline against lingua alone and against the pipeline that judged
//! the whole text, place names included (before place names were left
//! out).
//!
//! The file is tab-separated with a header line: `sender`, `text`,
//! `expected_language` (ISO 639-1). An `und` counts as wrong.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::GeoConfig;
use crate::enrich::language::{LanguageDetector, parse_languages};
use crate::enrich::locate::Locator;

pub struct Row {
    pub sender: String,
    pub text: String,
    pub expected: String,
}

pub fn parse(text: &str) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if n == 0 && line.starts_with("sender\t") || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [sender, text, expected, ..] = cols[..] else {
            anyhow::bail!("line {}: {} columns, expected 3", n + 1, cols.len());
        };
        rows.push(Row {
            sender: sender.trim().to_owned(),
            text: text.to_owned(),
            expected: expected.trim().to_ascii_lowercase(),
        });
    }
    Ok(rows)
}

/// Right answers of each detector over some rows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub rows: usize,
    pub pipeline: usize,
    pub whole_text: usize,
    pub lingua: usize,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.rows += other.rows;
        self.pipeline += other.pipeline;
        self.whole_text += other.whole_text;
        self.lingua += other.lingua;
    }
}

pub struct Report {
    pub per_language: BTreeMap<String, Tally>,
    /// By the sender's country; `-` for no or unknown sender.
    pub per_country: BTreeMap<String, Tally>,
    /// `expected -> answered` of the pipeline's wrong answers.
    pub confusions: BTreeMap<(String, String), usize>,
    pub elapsed: Duration,
    /// One line per wrong row of the pipeline.
    pub mistakes: Vec<String>,
}

impl Report {
    pub fn total(&self) -> Tally {
        let mut total = Tally::default();
        for tally in self.per_language.values() {
            total.add(tally);
        }
        total
    }
}

pub fn run(
    file: &Path,
    languages: &[String],
    geo: &GeoConfig,
    data_dir: &Path,
    out: &mut impl Write,
) -> anyhow::Result<Report> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rows = parse(&text).with_context(|| format!("{}", file.display()))?;
    let detector = LanguageDetector::new(&parse_languages(languages)?);
    let locator = Locator::from_config(geo, data_dir)?;
    let report = score(&detector, &locator, &rows);
    print(&report, out)?;
    Ok(report)
}

pub fn score(detector: &LanguageDetector, locator: &Locator, rows: &[Row]) -> Report {
    let mut report = Report {
        per_language: BTreeMap::new(),
        per_country: BTreeMap::new(),
        confusions: BTreeMap::new(),
        elapsed: Duration::ZERO,
        mistakes: Vec::new(),
    };
    let started = Instant::now();
    for row in rows {
        let iso = super::geo::sender_country(&row.sender);
        let country = iso.and_then(crate::country::by_iso);
        let (_, names) = locator.locate_and_name(&row.text, None, iso);
        let pipeline = detector.detect_without(&row.text, country, &names);
        let whole_text = detector.detect(&row.text, country);
        let lingua = detector
            .detect_raw(&row.text)
            .map(|l| l.iso_code_639_1().to_string());
        let right = |code: &str| usize::from(code == row.expected);
        let tally = Tally {
            rows: 1,
            pipeline: right(pipeline.code.as_str()),
            whole_text: right(whole_text.code.as_str()),
            lingua: right(lingua.as_deref().unwrap_or("und")),
        };
        report
            .per_language
            .entry(row.expected.clone())
            .or_default()
            .add(&tally);
        report
            .per_country
            .entry(iso.unwrap_or("-").to_owned())
            .or_default()
            .add(&tally);
        if tally.pipeline == 0 {
            let answered = pipeline.code.to_string();
            report.mistakes.push(format!(
                "{} -> {answered}\t{}\t{}\tplace names: {}",
                row.expected,
                iso.unwrap_or("-"),
                row.text,
                names.join(" ")
            ));
            *report
                .confusions
                .entry((row.expected.clone(), answered))
                .or_default() += 1;
        }
    }
    report.elapsed = started.elapsed();
    report
}

fn print(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    let line = |out: &mut dyn Write, name: &str, t: &Tally| {
        writeln!(
            out,
            "{name:<8} {:>5} {:>8.2}% {:>10.2}% {:>12.2}%",
            t.rows,
            percent(t.pipeline, t.rows),
            percent(t.whole_text, t.rows),
            percent(t.lingua, t.rows),
        )
    };
    let header = |out: &mut dyn Write, what: &str| {
        writeln!(
            out,
            "{what:<8} {:>5} {:>9} {:>11} {:>13}",
            "rows", "pipeline", "whole text", "lingua alone"
        )
    };
    header(out, "language")?;
    for (language, tally) in &report.per_language {
        line(out, language, tally)?;
    }
    line(out, "all", &report.total())?;
    header(out, "sender")?;
    for (country, tally) in &report.per_country {
        line(out, country, tally)?;
    }
    let mut confusions: Vec<_> = report.confusions.iter().collect();
    confusions.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    writeln!(
        out,
        "most frequent mistakes of the pipeline (expected -> answered):"
    )?;
    for ((expected, answered), n) in confusions.into_iter().take(10) {
        writeln!(out, "  {expected} -> {answered}: {n}")?;
    }
    let rows = report.total().rows;
    writeln!(
        out,
        "{rows} SMS in {:.2} s, three detectors and the geoparser each (one thread)",
        report.elapsed.as_secs_f64()
    )
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_need_a_sender_a_text_and_a_language() {
        let rows = parse("sender\ttext\texpected_language\n\tMafuriko Garissa\tSW\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].sender, "");
        assert_eq!(rows[0].expected, "sw");
        let err = parse("sender\ttext\texpected_language\n+254700000000\tonly two\n")
            .err()
            .unwrap();
        assert!(err.to_string().contains("line 2: 2 columns"), "{err}");
    }

    #[test]
    fn totals_add_every_language() {
        let tally = |rows, pipeline| Tally {
            rows,
            pipeline,
            whole_text: 0,
            lingua: 1,
        };
        let report = Report {
            per_language: [("en".into(), tally(3, 2)), ("so".into(), tally(2, 2))].into(),
            per_country: BTreeMap::new(),
            confusions: BTreeMap::new(),
            elapsed: Duration::ZERO,
            mistakes: Vec::new(),
        };
        assert_eq!(
            report.total(),
            Tally {
                rows: 5,
                pipeline: 4,
                whole_text: 0,
                lingua: 2
            }
        );
    }
}
