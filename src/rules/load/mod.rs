//! Rule files: YAML in, typed [`Rule`]s out, and every problem reported as
//! `file:line:column: message` so that an operator can fix a whole file in
//! one pass instead of one error per restart.
//!
//! The rule format (which files are read, every field, durations) is
//! described once, for operators, in `docs/rules.md`; this module is what
//! enforces it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use marked_yaml::{LoaderOptions, Node, parse_yaml_with_options};

use super::model::{Origin, Rule, RuleId};

mod rule;
mod yaml;

use yaml::kind;

/// The names a rule may refer to, from the configuration and the templates
/// directory, so that a typo fails at load rather than when an alert fires.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub channels: BTreeSet<String>,
    pub templates: BTreeSet<String>,
}

/// The channel every deployment has, so rules can be tried before any
/// channel is configured.
pub const LOG_CHANNEL: &str = "log";

/// One problem in a rule file. Line and column count from 1; line 0 means
/// the problem is with the file or directory as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Diagnostic {
    fn whole_file(file: &Path, message: String) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message,
        }
    }
}

/// Loads the rules of one file's text; `file` is only used in messages and
/// origins.
pub fn load_str(file: &Path, yaml: &str, known: &Known) -> Result<Vec<Rule>, Vec<Diagnostic>> {
    let (rules, mut diags) = load_file(file, yaml, known);
    check_unique(&rules, &mut diags);
    finish(rules, diags)
}

/// Loads every `*.yaml` and `*.yml` file directly in `dir`, in name order.
pub fn load_dir(dir: &Path, known: &Known) -> Result<Vec<Rule>, Vec<Diagnostic>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            return Err(vec![Diagnostic::whole_file(
                dir,
                format!("cannot read the rules directory: {e}"),
            )]);
        }
    };
    let mut files = Vec::new();
    let mut diags = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                let yaml = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e == "yaml" || e == "yml");
                if yaml && path.is_file() {
                    files.push(path);
                }
            }
            Err(e) => diags.push(Diagnostic::whole_file(
                dir,
                format!("cannot list the rules directory: {e}"),
            )),
        }
    }
    files.sort();
    let mut rules = Vec::new();
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(yaml) => {
                let (more, problems) = load_file(&path, &yaml, known);
                rules.extend(more);
                diags.extend(problems);
            }
            Err(e) => diags.push(Diagnostic::whole_file(&path, format!("cannot read: {e}"))),
        }
    }
    check_unique(&rules, &mut diags);
    finish(rules, diags)
}

/// What rules that name no template get.
pub const DEFAULT_TEMPLATE: &str = "default";
/// A template set is a file `{name}.j2` in the templates directory.
pub const TEMPLATE_EXTENSION: &str = "j2";

/// Template set names: `*.j2` files in `dir` by stem, and `default`,
/// which always exists. A missing directory has only `default`.
pub fn templates_in(dir: &Path) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == TEMPLATE_EXTENSION))
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .collect();
    names.insert(DEFAULT_TEMPLATE.to_owned());
    names
}

fn finish(rules: Vec<Rule>, mut diags: Vec<Diagnostic>) -> Result<Vec<Rule>, Vec<Diagnostic>> {
    if diags.is_empty() {
        Ok(rules)
    } else {
        // Files stay in reading order; within a file, top to bottom reads best.
        let order: Vec<PathBuf> = diags.iter().fold(Vec::new(), |mut seen, d| {
            if !seen.contains(&d.file) {
                seen.push(d.file.clone());
            }
            seen
        });
        diags.sort_by_key(|d| {
            let file = order.iter().position(|f| *f == d.file);
            (file, d.line, d.column)
        });
        Err(diags)
    }
}

fn check_unique(rules: &[Rule], diags: &mut Vec<Diagnostic>) {
    let mut first: HashMap<&RuleId, &Origin> = HashMap::new();
    for rule in rules {
        if let Some(prev) = first.get(&rule.id) {
            diags.push(Diagnostic {
                file: rule.origin.file.clone(),
                line: rule.origin.line,
                column: rule.origin.column,
                message: format!(
                    "duplicate rule id `{}`: first defined at {}:{}:{}",
                    rule.id,
                    prev.file.display(),
                    prev.line,
                    prev.column
                ),
            });
        } else {
            first.insert(&rule.id, &rule.origin);
        }
    }
}

/// The rules that loaded cleanly and the problems of the others.
fn load_file(file: &Path, yaml: &str, known: &Known) -> (Vec<Rule>, Vec<Diagnostic>) {
    let mut loader = Loader {
        file,
        known,
        diags: Vec::new(),
    };
    if let Some(line) = second_document(yaml) {
        loader.diags.push(Diagnostic {
            file: file.to_path_buf(),
            line,
            column: 1,
            message: "a second YAML document: a rule file is one list of rules".into(),
        });
        return (Vec::new(), loader.diags);
    }
    // The loader refuses a document with nothing in it.
    if !has_content(yaml) {
        return (Vec::new(), loader.diags);
    }
    let options = LoaderOptions::default()
        .toplevel_sequence()
        .error_on_duplicate_keys(true);
    let top = match parse_yaml_with_options(0, yaml, options) {
        Ok(top) => top,
        Err(e) => {
            loader.load_error(&e);
            return (Vec::new(), loader.diags);
        }
    };
    let items = match &top {
        Node::Sequence(items) => items.iter().collect::<Vec<_>>(),
        // What the loader makes of a file with no document at all.
        other => {
            loader.at(
                other.span(),
                format!(
                    "a rule file is a list of rules (`- id: …`), found {}",
                    kind(other)
                ),
            );
            return (Vec::new(), loader.diags);
        }
    };
    let rules = items.into_iter().filter_map(|n| loader.rule(n)).collect();
    (rules, loader.diags)
}

fn content_lines(yaml: &str) -> impl Iterator<Item = (usize, &str)> {
    yaml.lines().enumerate().filter_map(|(i, l)| {
        let t = l.trim();
        (!t.is_empty() && !t.starts_with('#')).then_some((i + 1, l))
    })
}

fn has_content(yaml: &str) -> bool {
    content_lines(yaml).any(|(_, l)| !is_document_marker(l))
}

fn is_document_marker(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '#']))
}

/// The line of a `---` that starts a second document: the YAML loader
/// would silently drop every document after the first.
fn second_document(yaml: &str) -> Option<usize> {
    let mut seen_content = false;
    for (line, text) in content_lines(yaml) {
        if is_document_marker(text) {
            if seen_content {
                return Some(line);
            }
            // A marker may carry content after it (`--- [a]`).
            seen_content = !text[3..].trim().is_empty() && !text[3..].trim().starts_with('#');
        } else {
            seen_content = true;
        }
    }
    None
}

struct Loader<'a> {
    file: &'a Path,
    known: &'a Known,
    diags: Vec<Diagnostic>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rules::model::{Condition, GroupBy, PlaceFilter, Severity, Topic};

    fn known() -> Known {
        Known {
            channels: ["county-health-email".to_owned()].into(),
            templates: ["cholera".to_owned()].into(),
        }
    }

    fn load(yaml: &str) -> Result<Vec<Rule>, Vec<Diagnostic>> {
        load_str(Path::new("rules/a.yaml"), yaml, &known())
    }

    /// The diagnostics as `line:column: message`, for short assertions.
    fn problems(yaml: &str) -> Vec<String> {
        load(yaml)
            .expect_err("expected problems")
            .into_iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect()
    }

    const FULL: &str = r#"
- id: cholera-cluster
  description: Three or more suspected cholera reports from one county in 24 hours
  match:
    keywords: [cholera, kipindupindu, choléra, "watery diarrhoea"]
    all: [water, rising]
    none: [drill, exercise]
    languages: [en, sw, fr, und]
    places: ["KE.*", "ke.30", {region: Turkána}, {near: {lat: -1.29, lon: 36.82, km: 50}}]
    sources: [twilio, feed]
    text: '(?i)\bcase(s)?\b'
  group_by: [admin1]
  window: 24h
  when:
    count: { gte: 3 }
  cooldown: 6h
  severity: severe
  notify: [county-health-email, log]
  template: cholera
  labels: { team: wash }
"#;

    #[test]
    fn the_documented_example_loads_into_the_model() {
        let rules = load(FULL).expect("loads");
        assert_eq!(rules.len(), 1);
        let r = &rules[0];
        assert_eq!(r.id.as_str(), "cholera-cluster");
        assert_eq!(
            r.origin,
            Origin {
                file: "rules/a.yaml".into(),
                line: 2,
                column: 3
            }
        );
        let names: Vec<&str> = r.filter.any.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["cholera", "kipindupindu", "watery diarrhoea"],
            "choléra folds onto cholera"
        );
        assert_eq!(r.filter.all.len(), 2);
        assert_eq!(r.filter.none[1].terms, ["exercise"]);
        assert_eq!(r.filter.languages, ["en", "sw", "fr", "und"]);
        assert_eq!(
            r.filter.places,
            [
                PlaceFilter::Admin("KE.*".into()),
                PlaceFilter::Admin("KE.30".into()),
                PlaceFilter::Named("turkana".into()),
                PlaceFilter::Near {
                    lat: -1.29,
                    lon: 36.82,
                    km: 50.0
                },
            ]
        );
        assert_eq!(r.filter.sources, ["twilio", "feed"]);
        assert!(r.filter.text.as_ref().unwrap().is_match("two Cases"));
        assert_eq!(r.group_by, [GroupBy::Admin1]);
        assert_eq!(
            r.condition,
            Condition::Count {
                window: Duration::from_secs(86_400),
                at_least: 3
            }
        );
        assert_eq!(r.cooldown, Duration::from_secs(6 * 3600));
        assert_eq!(r.severity, Severity::Severe);
        assert_eq!(r.notify, ["county-health-email", "log"]);
        assert_eq!(r.template.as_deref(), Some("cholera"));
        assert_eq!(r.labels["team"], "wash");
    }

    #[test]
    fn defaults_and_the_minimal_rule() {
        let rules = load("- id: a\n  when: {first_seen: {baseline: 30d}}\n").expect("loads");
        let r = &rules[0];
        assert!(r.filter.any.is_empty() && r.group_by.is_empty() && r.notify.is_empty());
        assert_eq!(r.cooldown, Duration::ZERO);
        assert_eq!(r.severity, Severity::Moderate);
        assert_eq!(
            r.condition,
            Condition::FirstSeen {
                baseline: Duration::from_secs(30 * 86_400)
            }
        );
    }

    #[test]
    fn empty_files_have_no_rules() {
        for yaml in ["", "\n# nothing yet\n", "[]", "---\n", "--- []\n"] {
            assert!(load(yaml).expect(yaml).is_empty(), "{yaml:?}");
        }
    }

    #[test]
    fn every_condition_shape() {
        let yaml = r#"
- id: s
  window: 1h
  when: {spike: {factor: 2.5, baseline: 24}}
- id: d
  window: 1h 30m
  when: {distinct_senders: {gte: 2}}
- id: a
  when: {absence: {baseline: 7d, silence: 24h}}
"#;
        let rules = load(yaml).expect("loads");
        assert_eq!(
            rules[0].condition,
            Condition::Spike {
                window: Duration::from_secs(3600),
                factor: 2.5,
                baseline_windows: 24,
                min_count: 1
            }
        );
        assert_eq!(
            rules[1].condition,
            Condition::DistinctSenders {
                window: Duration::from_secs(5400),
                at_least: 2
            }
        );
        assert_eq!(
            rules[2].condition,
            Condition::Absence {
                baseline: Duration::from_secs(7 * 86_400),
                silence: Duration::from_secs(86_400)
            }
        );
    }

    #[test]
    fn keyword_specs_in_all_three_shapes() {
        let yaml = r#"
- id: k
  match:
    keywords:
      cholera: [cholera, kipindupindu]
      flood:
        en: [flood, "water rising"]
        sw: [mafuriko]
        und: [inondation]
    none: drill
  when: {first_seen: {baseline: 1d}}
"#;
        let rules = load(yaml).expect("loads");
        let f = &rules[0].filter;
        assert_eq!(
            f.any,
            [
                Topic {
                    name: "cholera".into(),
                    terms: vec!["cholera".into(), "kipindupindu".into()]
                },
                Topic {
                    name: "flood".into(),
                    terms: vec![
                        "flood".into(),
                        "water rising".into(),
                        "mafuriko".into(),
                        "inondation".into()
                    ]
                },
            ]
        );
        assert_eq!(f.none[0].name, "drill");
    }

    #[test]
    fn group_by_takes_a_single_value_or_none() {
        let rules = load(
            "- id: a\n  group_by: country\n  when: {first_seen: {baseline: 1d}}\n\
             - id: b\n  group_by: none\n  when: {first_seen: {baseline: 1d}}\n",
        )
        .expect("loads");
        assert_eq!(rules[0].group_by, [GroupBy::Country]);
        assert!(rules[1].group_by.is_empty());
    }

    #[test]
    fn every_problem_of_every_rule_is_reported_with_its_position() {
        let yaml = r#"
- id: Bad Id
  colour: red
  match:
    keywords: [cholera, "!!"]
    languages: [english]
    places: ["Kenya", {near: {lat: 95, lon: 36, km: 0}}]
    sources: [Twilio]
    text: '(unclosed'
  group_by: [admin1, admin1, none, keyword2]
  window: 24 hours later
  when: {count: {gte: 0}}
  cooldown: 1.5s
  severity: high
  notify: [pager]
  template: typhoid
  labels: {team: [a]}
- id: fine
  when: {first_seen: {baseline: 30d}}
- id: also-broken
  when: {absence: {baseline: 1d, silence: 2d}}
"#;
        let got = problems(yaml);
        let expected = [
            "2:7: invalid rule id `Bad Id`: a rule id is 1 to 100 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
            "3:3: unknown field `colour` in a rule; allowed: `id`, `description`, `match`, `group_by`, `window`, `when`, `cooldown`, `severity`, `notify`, `template`, `labels`",
            "5:25: term `!!` has no letter or digit to match",
            "6:17: invalid language code `english`: two lower-case letters (ISO 639-1) or `und`",
            "7:14: invalid place `Kenya`: a country code (`KE`) or admin-1 code (`KE.30`), `*` for any characters (`KE.*`), or `{region: …}` or `{near: …}`",
            "7:36: expected a latitude from -90 to 90, found `95`",
            "7:53: expected a distance in km above 0, found `0`",
            "8:15: invalid source name `Twilio`: a gateway or `feed` (a-z, 0-9, `.`, `_`, `-`), or `feed:NAME` for one named feed",
            "9:11: invalid regular expression: unclosed group",
            "10:22: `admin1` is given twice in `group_by`",
            "10:30: `none` stands alone in `group_by`",
            "10:36: unknown group_by value `keyword2`; one of `none`, `country`, `admin1`, `place`, `language`, `keyword`, `sender`",
            "11:11: invalid duration `24 hours later`: expected number at 9; write e.g. 30s, 5m, 24h, 7d or 1h 30m",
            "12:23: expected a whole number ≥ 1, found `0`",
            "13:13: duration `1.5s` is not a whole number of seconds",
            "14:13: unknown severity `high`; one of `minor`, `moderate`, `severe`, `extreme`",
            "15:12: unknown channel `pager`; configured: `county-health-email`, `log`",
            "16:13: unknown template `typhoid`; templates: `cholera`",
            "17:18: expected a label value, found a list",
            "21:43: `silence` must be shorter than `baseline`, or no group could qualify",
        ];
        for (got, want) in got.iter().zip(expected) {
            assert_eq!(got, want);
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    #[test]
    fn window_is_required_by_counts_and_refused_by_absence() {
        let got = problems(
            "- id: a\n  when: {count: {gte: 2}}\n\
             - id: b\n  window: 1h\n  when: {first_seen: {baseline: 1d}}\n",
        );
        assert_eq!(
            got,
            [
                "2:10: `count` needs a `window` (e.g. `window: 24h`)",
                "4:3: `window` does not apply to `first_seen`, which has its own durations",
            ]
        );
    }

    #[test]
    fn when_holds_exactly_one_known_condition() {
        let got = problems(
            "- id: a\n  window: 1h\n  when: {count: {gte: 2}, spike: {factor: 2, baseline: 3}}\n\
             - id: b\n  when: {sometimes: {}}\n\
             - id: c\n  when: {}\n\
             - id: d\n  window: 1h\n  when: {spike: {factor: 1, baseline: 1001, min_count: 0}}\n\
             - id: e\n",
        );
        assert_eq!(
            got,
            [
                "3:27: `when` holds exactly one condition; write another rule for another",
                "5:10: unknown field `sometimes` in `when`; allowed: `count`, `distinct_senders`, `spike`, `absence`, `first_seen`",
                "7:9: `when` needs one of `count`, `distinct_senders`, `spike`, `absence`, `first_seen`",
                "10:26: expected a factor above 1, found `1`",
                "10:39: expected a whole number from 1 to 1000, found `1001`",
                "10:56: expected a whole number ≥ 1, found `0`",
                "11:3: missing field `when` (one of `count`, `distinct_senders`, `spike`, `absence`, `first_seen`)",
            ]
        );
    }

    #[test]
    fn keyword_topics_are_checked_term_by_term() {
        let got = problems(
            r#"
- id: a
  match:
    keywords:
      flood:
        english: [flood]
        sw: []
      cholera: []
      "": [x]
    all: []
  when: {first_seen: {baseline: 1d}}
"#,
        );
        assert_eq!(
            got,
            [
                "6:9: invalid language code `english`: two lower-case letters (ISO 639-1) or `und`",
                "8:16: topic `cholera` has no terms",
                "9:7: a topic needs a name",
                "10:10: `all` is an empty list; leave it out to place no condition",
            ]
        );
    }

    #[test]
    fn yaml_errors_and_top_level_shape() {
        assert_eq!(
            problems("- id: [a\n"),
            ["2:1: invalid YAML: while parsing a flow sequence, expected ',' or ']'"]
        );
        assert_eq!(
            problems("id: a\n"),
            ["1:3: a rule file is a list of rules (`- id: …`)"]
        );
        assert_eq!(
            problems("- id: a\n  id: b\n"),
            ["2:3: duplicate key `id` (first at line 1, column 3)"]
        );
        assert_eq!(
            problems("- id: a\n  when: {first_seen: {baseline: 1d}}\n---\n- id: b\n"),
            ["3:1: a second YAML document: a rule file is one list of rules"]
        );
        assert_eq!(
            problems("- &x id: a\n"),
            ["1:6: YAML anchors and aliases are not supported in rule files"]
        );
        assert_eq!(
            problems("- just a string\n"),
            ["1:3: expected a rule: a mapping with `id`, `when`, …, found a single value"]
        );
    }

    #[test]
    fn duplicate_ids_name_the_first() {
        let got = problems(
            "- id: a\n  when: {first_seen: {baseline: 1d}}\n\
             - id: a\n  when: {first_seen: {baseline: 2d}}\n",
        );
        assert_eq!(
            got,
            ["3:3: duplicate rule id `a`: first defined at rules/a.yaml:1:3"]
        );
    }

    #[test]
    fn a_directory_is_read_in_name_order_without_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        let rule = |id: &str| format!("- id: {id}\n  when: {{first_seen: {{baseline: 1d}}}}\n");
        std::fs::write(dir.path().join("b.yml"), rule("b")).unwrap();
        std::fs::write(dir.path().join("a.yaml"), rule("a")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not yaml: [").unwrap();
        std::fs::create_dir(dir.path().join("tests")).unwrap();
        std::fs::write(dir.path().join("tests/t.yaml"), "broken: [").unwrap();
        let rules = load_dir(dir.path(), &known()).expect("loads");
        let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(rules[1].origin.file, dir.path().join("b.yml"));

        std::fs::write(dir.path().join("c.yaml"), rule("a") + "- id: Z\n").unwrap();
        let diags = load_dir(dir.path(), &known()).expect_err("duplicate");
        let c = dir.path().join("c.yaml");
        assert_eq!(diags.len(), 3, "{diags:?}");
        assert_eq!(
            diags[2].to_string(),
            format!(
                "{}:3:7: invalid rule id `Z`: a rule id is 1 to 100 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
                c.display()
            )
        );
        assert_eq!(
            diags[0].to_string(),
            format!(
                "{}:1:3: duplicate rule id `a`: first defined at {}:1:3",
                c.display(),
                dir.path().join("a.yaml").display()
            )
        );
    }

    #[test]
    fn a_missing_directory_is_one_problem_at_line_zero() {
        let diags = load_dir(Path::new("/nonexistent/rules"), &known()).expect_err("missing");
        assert_eq!(diags.len(), 1);
        assert_eq!((diags[0].line, diags[0].column), (0, 0));
        assert!(
            diags[0]
                .to_string()
                .starts_with("/nonexistent/rules:0:0: cannot read")
        );
    }

    #[test]
    fn templates_are_j2_file_stems_and_default() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "cholera.j2",
            "flood.j2",
            "notes.txt",
            "README.md",
            ".gitkeep",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("partials")).unwrap();
        let names: Vec<String> = templates_in(dir.path()).into_iter().collect();
        assert_eq!(names, ["cholera", "default", "flood"]);
        let missing: Vec<String> = templates_in(Path::new("/nonexistent/templates"))
            .into_iter()
            .collect();
        assert_eq!(missing, ["default"]);
    }
}
