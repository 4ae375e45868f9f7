//! `ishara eval language DIR`: accuracy of language detection on labelled
//! samples, the pipeline against lingua alone.
//!
//! DIR holds `<code>.sentences.txt` and `<code>.word-pairs.txt`, one sample
//! per line, labelled by the file name. An `und` counts as wrong: refusing
//! to answer must pay for itself elsewhere, not hide in the figures.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::enrich::language::{LanguageCode, LanguageDetector, parse_languages};

/// The two kinds of sample, as named in the file names.
pub const KINDS: [(&str, &str); 2] = [("sentences", "sentences"), ("word-pairs", "word pairs")];

/// Scores of one language on one kind of sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub language: String,
    pub kind: &'static str,
    pub samples: usize,
    /// Right answers of [`LanguageDetector::detect`].
    pub pipeline: usize,
    /// `und` answers of the pipeline.
    pub undetermined: usize,
    /// Right answers of [`LanguageDetector::detect_raw`].
    pub lingua: usize,
}

#[derive(Debug)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Configured languages without sample files in the directory.
    pub missing: Vec<String>,
    pub load_time: Duration,
    pub raw_time: Duration,
    pub pipeline_time: Duration,
    /// Resident memory after loading the models, where the system says.
    pub resident_kib: Option<u64>,
}

impl Report {
    /// The sum of the rows of one kind.
    pub fn total(&self, kind: &'static str) -> Row {
        let mut total = Row {
            language: "all".into(),
            kind,
            samples: 0,
            pipeline: 0,
            undetermined: 0,
            lingua: 0,
        };
        for row in self.rows.iter().filter(|r| r.kind == kind) {
            total.samples += row.samples;
            total.pipeline += row.pipeline;
            total.undetermined += row.undetermined;
            total.lingua += row.lingua;
        }
        total
    }

    fn samples(&self) -> usize {
        self.rows.iter().map(|r| r.samples).sum()
    }
}

/// Scores `languages` (ISO 639-1 codes) on the samples found in `dir` and
/// prints the table to `out`.
pub fn run(dir: &Path, languages: &[String], out: &mut impl Write) -> anyhow::Result<Report> {
    let codes = parse_languages(languages)?;
    let started = Instant::now();
    let detector = LanguageDetector::new(&codes);
    let load_time = started.elapsed();
    let resident_kib = resident_kib();

    let mut report = Report {
        rows: Vec::new(),
        missing: Vec::new(),
        load_time,
        raw_time: Duration::ZERO,
        pipeline_time: Duration::ZERO,
        resident_kib,
    };
    for code in &codes {
        let mut found = false;
        for (file_kind, kind) in KINDS {
            let path = dir.join(format!("{code}.{file_kind}.txt"));
            if !path.exists() {
                continue;
            }
            found = true;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let row = score(&detector, code, kind, &text, &mut report);
            report.rows.push(row);
        }
        if !found {
            report.missing.push(code.to_string());
        }
    }
    if report.rows.is_empty() {
        anyhow::bail!(
            "no <code>.sentences.txt or <code>.word-pairs.txt in {} for {}",
            dir.display(),
            languages.join(",")
        );
    }
    print(&report, codes.len(), out)?;
    Ok(report)
}

fn score(
    detector: &LanguageDetector,
    code: &LanguageCode,
    kind: &'static str,
    text: &str,
    timings: &mut Report,
) -> Row {
    let mut row = Row {
        language: code.to_string(),
        kind,
        samples: 0,
        pipeline: 0,
        undetermined: 0,
        lingua: 0,
    };
    for sample in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        row.samples += 1;

        let started = Instant::now();
        let raw = detector.detect_raw(sample);
        timings.raw_time += started.elapsed();
        if raw.is_some_and(|l| l.iso_code_639_1().to_string() == code.as_str()) {
            row.lingua += 1;
        }

        let started = Instant::now();
        let guess = detector.detect(sample, None);
        timings.pipeline_time += started.elapsed();
        if guess.code == *code {
            row.pipeline += 1;
        } else if guess.code.is_undetermined() {
            row.undetermined += 1;
        }
    }
    row
}

fn print(report: &Report, languages: usize, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<8} {:<10} {:>7} {:>9} {:>5} {:>12}",
        "language", "kind", "samples", "pipeline", "und", "lingua alone"
    )?;
    let totals = KINDS.map(|(_, kind)| report.total(kind));
    for row in report.rows.iter().chain(totals.iter()) {
        if row.samples == 0 {
            continue;
        }
        writeln!(
            out,
            "{:<8} {:<10} {:>7} {:>8.2}% {:>5} {:>11.2}%",
            row.language,
            row.kind,
            row.samples,
            percent(row.pipeline, row.samples),
            row.undetermined,
            percent(row.lingua, row.samples),
        )?;
    }
    for code in &report.missing {
        writeln!(out, "no samples for {code}")?;
    }
    let memory = report
        .resident_kib
        .map_or("unknown".to_owned(), |kib| format!("{} MiB", kib / 1024));
    writeln!(
        out,
        "models: {languages} languages preloaded in {:.1} s, resident memory {memory}",
        report.load_time.as_secs_f64()
    )?;
    let samples = report.samples() as f64;
    writeln!(
        out,
        "speed (one thread): lingua alone {:.0} texts/s, pipeline {:.0} texts/s",
        samples / report.raw_time.as_secs_f64().max(f64::EPSILON),
        samples / report.pipeline_time.as_secs_f64().max(f64::EPSILON),
    )
}

fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole as f64
}

/// `VmRSS` from `/proc/self/status` (Linux only).
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_the_rows_of_one_kind() {
        let row = |language: &str, kind, samples, pipeline, undetermined, lingua| Row {
            language: language.into(),
            kind,
            samples,
            pipeline,
            undetermined,
            lingua,
        };
        let report = Report {
            rows: vec![
                row("en", "sentences", 10, 9, 1, 10),
                row("en", "word pairs", 10, 7, 2, 8),
                row("sw", "sentences", 5, 5, 0, 4),
            ],
            missing: vec![],
            load_time: Duration::ZERO,
            raw_time: Duration::ZERO,
            pipeline_time: Duration::ZERO,
            resident_kib: None,
        };
        assert_eq!(
            report.total("sentences"),
            row("all", "sentences", 15, 14, 1, 14)
        );
        assert_eq!(
            report.total("word pairs"),
            row("all", "word pairs", 10, 7, 2, 8)
        );
    }

    #[test]
    fn a_directory_without_samples_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(dir.path(), &["en".into(), "fr".into()], &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("no <code>"), "{err}");
    }
}
