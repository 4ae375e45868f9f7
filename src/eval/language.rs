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
    /// Right answers of the pipeline when the sender lives in the most
    /// populous country whose first language is this one: what the
    /// sender-country tie-break adds in the usual case.
    pub with_sender: usize,
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
    /// lingua keeps its models as finite-state maps inside the binary, so
    /// they become resident page by page as texts touch them.
    pub resident_kib: Option<u64>,
    /// Resident memory after every sample was detected.
    pub resident_after_kib: Option<u64>,
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
            with_sender: 0,
        };
        for row in self.rows.iter().filter(|r| r.kind == kind) {
            total.samples += row.samples;
            total.pipeline += row.pipeline;
            total.undetermined += row.undetermined;
            total.lingua += row.lingua;
            total.with_sender += row.with_sender;
        }
        total
    }

    fn samples(&self) -> usize {
        self.rows.iter().map(|r| r.samples).sum()
    }
}

/// The labelled samples of one language and kind.
struct Samples {
    code: LanguageCode,
    kind: &'static str,
    lines: Vec<String>,
}

/// Scores `languages` (ISO 639-1 codes) on the samples found in `dir` and
/// prints the table to `out`.
pub fn run(dir: &Path, languages: &[String], out: &mut impl Write) -> anyhow::Result<Report> {
    let codes = parse_languages(languages)?;
    let (sets, missing) = read_samples(dir, &codes)?;
    if sets.is_empty() {
        anyhow::bail!(
            "no <code>.sentences.txt or <code>.word-pairs.txt in {} for {}",
            dir.display(),
            languages.join(",")
        );
    }

    let started = Instant::now();
    let detector = LanguageDetector::new(&codes);
    let load_time = started.elapsed();
    let resident_at_start = resident_kib();
    // One untimed pass first: the models' pages are read in on first use,
    // and that cost must not land on whichever detector is timed first.
    for line in sets.iter().flat_map(|s| &s.lines) {
        detector.detect_raw(line);
    }

    let mut report = Report {
        rows: Vec::new(),
        missing,
        load_time,
        raw_time: Duration::ZERO,
        pipeline_time: Duration::ZERO,
        resident_kib: resident_at_start,
        resident_after_kib: resident_kib(),
    };
    for set in &sets {
        let row = score(&detector, set, &mut report);
        report.rows.push(row);
    }
    print(&report, codes.len(), out)?;
    Ok(report)
}

/// The sample files of `codes` found in `dir`, and the codes without any.
fn read_samples(dir: &Path, codes: &[LanguageCode]) -> anyhow::Result<(Vec<Samples>, Vec<String>)> {
    let mut sets = Vec::new();
    let mut missing = Vec::new();
    for code in codes {
        let before = sets.len();
        for (file_kind, kind) in KINDS {
            let path = dir.join(format!("{code}.{file_kind}.txt"));
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let lines = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            sets.push(Samples {
                code: code.clone(),
                kind,
                lines,
            });
        }
        if sets.len() == before {
            missing.push(code.to_string());
        }
    }
    Ok((sets, missing))
}

/// Times each detector in its own pass over the samples.
fn score(detector: &LanguageDetector, set: &Samples, timings: &mut Report) -> Row {
    let code = &set.code;
    let mut row = Row {
        language: code.to_string(),
        kind: set.kind,
        samples: set.lines.len(),
        pipeline: 0,
        undetermined: 0,
        lingua: 0,
        with_sender: 0,
    };
    let started = Instant::now();
    let raw: Vec<_> = set.lines.iter().map(|l| detector.detect_raw(l)).collect();
    timings.raw_time += started.elapsed();
    row.lingua = raw
        .iter()
        .filter(|l| l.is_some_and(|l| l.iso_code_639_1().to_string() == code.as_str()))
        .count();

    let started = Instant::now();
    let guesses: Vec<_> = set.lines.iter().map(|l| detector.detect(l, None)).collect();
    timings.pipeline_time += started.elapsed();
    row.pipeline = guesses.iter().filter(|g| g.code == *code).count();
    row.undetermined = guesses.iter().filter(|g| g.code.is_undetermined()).count();

    let country = crate::country::most_populous_speaking(code.as_str());
    row.with_sender = set
        .lines
        .iter()
        .filter(|l| detector.detect(l, country).code == *code)
        .count();
    row
}

fn print(report: &Report, languages: usize, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<8} {:<10} {:>7} {:>9} {:>5} {:>12} {:>12}",
        "language", "kind", "samples", "pipeline", "und", "lingua alone", "with sender"
    )?;
    let totals = KINDS.map(|(_, kind)| report.total(kind));
    for row in report.rows.iter().chain(totals.iter()) {
        if row.samples == 0 {
            continue;
        }
        writeln!(
            out,
            "{:<8} {:<10} {:>7} {:>8.2}% {:>5} {:>11.2}% {:>11.2}%",
            row.language,
            row.kind,
            row.samples,
            percent(row.pipeline, row.samples),
            row.undetermined,
            percent(row.lingua, row.samples),
            percent(row.with_sender, row.samples),
        )?;
    }
    for code in &report.missing {
        writeln!(out, "no samples for {code}")?;
    }
    let mib = |kib: Option<u64>| kib.map_or("unknown".to_owned(), |k| format!("{} MiB", k / 1024));
    writeln!(
        out,
        "models: {languages} languages preloaded in {:.2} s; resident memory {} after loading, {} once every model was used",
        report.load_time.as_secs_f64(),
        mib(report.resident_kib),
        mib(report.resident_after_kib),
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
            with_sender: pipeline + 1,
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
            resident_after_kib: None,
        };
        // 10 + 6 right with a sender, one more than the pipeline in each row.
        assert_eq!(
            report.total("sentences"),
            Row {
                with_sender: 16,
                ..row("all", "sentences", 15, 14, 1, 14)
            }
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
