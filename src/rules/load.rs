//! Rule files: YAML in, typed [`Rule`]s out, and every problem reported as
//! `file:line:column: message` so that an operator can fix a whole file in
//! one pass instead of one error per restart.
//!
//! The rule format (which files are read, every field, durations) is
//! described once, for operators, in `docs/rules.md`; this module is what
//! enforces it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node, Span, parse_yaml_with_options};

use super::model::{
    Condition, Filter, GroupBy, Origin, PlaceFilter, Rule, RuleId, Severity, Topic,
};
use crate::fold::fold;

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

fn pos(span: &Span) -> (usize, usize) {
    span.start().map_or((0, 0), |m| (m.line(), m.column()))
}

/// Where a mapping starts: its first key, because the loader marks a
/// block mapping after its first key.
fn map_span(map: &MarkedMappingNode) -> &Span {
    map.keys().next().map_or(map.span(), |k| k.span())
}

fn kind(node: &Node) -> &'static str {
    match node {
        Node::Scalar(s) if s.as_str().is_empty() => "nothing",
        Node::Scalar(_) => "a single value",
        Node::Sequence(_) => "a list",
        Node::Mapping(_) => "a mapping",
    }
}

fn one_of(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

const RULE_FIELDS: &[&str] = &[
    "id",
    "description",
    "match",
    "group_by",
    "window",
    "when",
    "cooldown",
    "severity",
    "notify",
    "template",
    "labels",
];
const MATCH_FIELDS: &[&str] = &[
    "keywords",
    "all",
    "none",
    "languages",
    "places",
    "sources",
    "text",
];
const CONDITIONS: &[&str] = &[
    "count",
    "distinct_senders",
    "spike",
    "absence",
    "first_seen",
];
const GROUP_BY: &[&str] = &[
    "none", "country", "admin1", "place", "language", "keyword", "sender",
];
const SEVERITIES: &[&str] = &["minor", "moderate", "severe", "extreme"];
const MAX_BASELINE_WINDOWS: u32 = 1000;

/// The entries of a YAML mapping, looked up by key.
struct Fields<'n> {
    entries: Vec<(&'n MarkedScalarNode, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, name: &str) -> Option<(&'n MarkedScalarNode, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .copied()
    }

    fn value(&self, name: &str) -> Option<&'n Node> {
        self.get(name).map(|(_, v)| v)
    }
}

struct Loader<'a> {
    file: &'a Path,
    known: &'a Known,
    diags: Vec<Diagnostic>,
}

impl Loader<'_> {
    fn at(&mut self, span: &Span, message: impl Into<String>) {
        let (line, column) = pos(span);
        self.diags.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    fn load_error(&mut self, e: &LoadError) {
        let blank = Span::new_blank();
        let (span, message) = match e {
            LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => (
                Span::new_start(*m),
                "a rule file is a list of rules (`- id: …`)".to_owned(),
            ),
            LoadError::UnexpectedAnchor(m) => (
                Span::new_start(*m),
                "YAML anchors and aliases are not supported in rule files".to_owned(),
            ),
            LoadError::MappingKeyMustBeScalar(m) => (
                Span::new_start(*m),
                "a mapping key must be a single value".to_owned(),
            ),
            LoadError::UnexpectedTag(m) => (
                Span::new_start(*m),
                "YAML tags (`!…`) are not supported in rule files".to_owned(),
            ),
            LoadError::ScanError(m, scan) => (
                Span::new_start(*m),
                format!("invalid YAML: {}", scan.info()),
            ),
            LoadError::DuplicateKey(dup) => {
                let (line, column) = pos(dup.prev_key.span());
                (
                    *dup.key.span(),
                    format!(
                        "duplicate key `{}` (first at line {line}, column {column})",
                        dup.key.as_str()
                    ),
                )
            }
        };
        self.at(
            if span.start().is_some() {
                &span
            } else {
                &blank
            },
            message,
        );
    }

    /// Reports keys not in `allowed`.
    fn fields<'n>(
        &mut self,
        map: &'n MarkedMappingNode,
        what: &str,
        allowed: &[&str],
    ) -> Fields<'n> {
        let entries: Vec<_> = map.iter().collect();
        for (key, _) in &entries {
            if !allowed.contains(&key.as_str()) {
                self.at(
                    key.span(),
                    format!(
                        "unknown field `{}` in {what}; allowed: {}",
                        key.as_str(),
                        one_of(allowed)
                    ),
                );
            }
        }
        Fields { entries }
    }

    fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedMappingNode> {
        match node {
            Node::Mapping(map) => Some(map),
            other => {
                self.at(
                    other.span(),
                    format!("expected {what}, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// A non-empty single value.
    fn scalar<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedScalarNode> {
        match node {
            Node::Scalar(s) if !s.as_str().is_empty() => Some(s),
            other => {
                self.at(
                    other.span(),
                    format!("expected {what}, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// A list, or a single value standing for a list of one.
    fn list<'n>(&mut self, node: &'n Node, what: &str) -> Vec<&'n Node> {
        match node {
            Node::Sequence(items) => items.iter().collect(),
            Node::Scalar(s) if !s.as_str().is_empty() => vec![node],
            other => {
                self.at(
                    other.span(),
                    format!("expected a list of {what}, found {}", kind(other)),
                );
                Vec::new()
            }
        }
    }

    /// A list of single values.
    fn scalars<'n>(&mut self, node: &'n Node, what: &str) -> Vec<&'n MarkedScalarNode> {
        self.list(node, what)
            .into_iter()
            .filter_map(|n| self.scalar(n, what))
            .collect()
    }

    /// A list in `match`, where an empty one would silently mean "no
    /// constraint".
    fn match_list<'n>(
        &mut self,
        key: &MarkedScalarNode,
        node: &'n Node,
        what: &str,
    ) -> Vec<&'n Node> {
        if matches!(node, Node::Sequence(items) if items.is_empty()) {
            self.at(
                node.span(),
                format!(
                    "`{}` is an empty list; leave it out to place no condition",
                    key.as_str()
                ),
            );
        }
        self.list(node, what)
    }

    fn duration(&mut self, node: &Node, allow_zero: bool) -> Option<Duration> {
        let s = self.scalar(node, "a duration such as 30s, 5m, 24h or 7d")?;
        match humantime::parse_duration(s.as_str()) {
            Ok(d) if d.subsec_nanos() != 0 => {
                self.at(
                    s.span(),
                    format!("duration `{}` is not a whole number of seconds", s.as_str()),
                );
                None
            }
            Ok(d) if d.is_zero() && !allow_zero => {
                self.at(
                    s.span(),
                    format!("duration `{}` must be more than zero", s.as_str()),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.at(
                    s.span(),
                    format!(
                        "invalid duration `{}`: {e}; write e.g. 30s, 5m, 24h, 7d or 1h 30m",
                        s.as_str()
                    ),
                );
                None
            }
        }
    }

    fn integer(&mut self, node: &Node, min: u64, max: u64) -> Option<u64> {
        let what = if max == u64::MAX {
            format!("a whole number ≥ {min}")
        } else {
            format!("a whole number from {min} to {max}")
        };
        let s = self.scalar(node, &what)?;
        match s.as_str().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.at(s.span(), format!("expected {what}, found `{}`", s.as_str()));
                None
            }
        }
    }

    fn number(&mut self, node: &Node, what: &str, ok: impl Fn(f64) -> bool) -> Option<f64> {
        let s = self.scalar(node, what)?;
        match s.as_str().parse::<f64>() {
            Ok(x) if x.is_finite() && ok(x) => Some(x),
            _ => {
                self.at(s.span(), format!("expected {what}, found `{}`", s.as_str()));
                None
            }
        }
    }

    fn rule(&mut self, node: &Node) -> Option<Rule> {
        let before = self.diags.len();
        let map = self.mapping(node, "a rule: a mapping with `id`, `when`, …")?;
        let f = self.fields(map, "a rule", RULE_FIELDS);

        let id = match f.get("id") {
            None => {
                self.at(map_span(map), "missing field `id`");
                None
            }
            Some((_, v)) => self.scalar(v, "a rule id").and_then(|s| {
                RuleId::parse(s.as_str())
                    .map_err(|e| {
                        self.at(s.span(), format!("invalid rule id `{}`: {e}", s.as_str()))
                    })
                    .ok()
            }),
        };
        let origin_span = f.get("id").map_or(map_span(map), |(k, _)| k.span());
        let (line, column) = pos(origin_span);
        let origin = Origin {
            file: self.file.to_path_buf(),
            line,
            column,
        };

        let description = f
            .value("description")
            .and_then(|v| self.scalar(v, "a description"))
            .map(|s| s.as_str().to_owned());
        let filter = match f.value("match") {
            Some(v) => self.filter(v),
            None => Filter::default(),
        };
        let group_by = match f.value("group_by") {
            Some(v) => self.group_by(v, !filter.any.is_empty()),
            None => Vec::new(),
        };
        let window = f.get("window");
        let window_value = window.and_then(|(_, v)| self.duration(v, false));
        let condition = match f.get("when") {
            Some((_, v)) => self.condition(v, window, window_value),
            None => {
                self.at(
                    map_span(map),
                    format!("missing field `when` (one of {})", one_of(CONDITIONS)),
                );
                None
            }
        };
        let cooldown = match f.value("cooldown") {
            Some(v) => self.duration(v, true),
            None => Some(Duration::ZERO),
        };
        let severity = match f.value("severity") {
            Some(v) => self.severity(v),
            None => Some(Severity::Moderate),
        };
        let notify = match f.value("notify") {
            Some(v) => self.notify(v),
            None => Vec::new(),
        };
        let template = f.value("template").and_then(|v| self.template(v));
        let labels = match f.value("labels") {
            Some(v) => self.labels(v),
            None => BTreeMap::new(),
        };

        if self.diags.len() > before {
            return None;
        }
        Some(Rule {
            id: id?,
            description,
            filter,
            group_by,
            condition: condition?,
            cooldown: cooldown?,
            severity: severity?,
            notify,
            template,
            labels,
            origin,
        })
    }

    fn filter(&mut self, node: &Node) -> Filter {
        let mut filter = Filter::default();
        let Some(map) = self.mapping(node, "a mapping of match conditions") else {
            return filter;
        };
        let f = self.fields(map, "`match`", MATCH_FIELDS);
        if let Some((key, v)) = f.get("keywords") {
            filter.any = self.topics(key, v);
        }
        if let Some((key, v)) = f.get("all") {
            filter.all = self.topics(key, v);
        }
        if let Some((key, v)) = f.get("none") {
            filter.none = self.topics(key, v);
        }
        if let Some((key, v)) = f.get("languages") {
            for n in self.match_list(key, v, "language codes") {
                if let Some(code) = self.language(n)
                    && !filter.languages.contains(&code)
                {
                    filter.languages.push(code);
                }
            }
        }
        if let Some((key, v)) = f.get("places") {
            for n in self.match_list(key, v, "places") {
                if let Some(place) = self.place(n) {
                    filter.places.push(place);
                }
            }
        }
        if let Some((key, v)) = f.get("sources") {
            for n in self.match_list(key, v, "source names") {
                let Some(s) = self.scalar(n, "a source name") else {
                    continue;
                };
                let name = s.as_str();
                let valid = name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
                if !valid {
                    self.at(
                        s.span(),
                        format!("invalid source name `{name}`: use a-z, 0-9, `_` and `-`"),
                    );
                } else if !filter.sources.iter().any(|x| x == name) {
                    filter.sources.push(name.to_owned());
                }
            }
        }
        if let Some(v) = f.value("text")
            && let Some(s) = self.scalar(v, "a regular expression")
        {
            match regex::Regex::new(s.as_str()) {
                Ok(re) => filter.text = Some(re),
                Err(e) => self.at(
                    s.span(),
                    format!("invalid regular expression: {}", regex_message(&e)),
                ),
            }
        }
        filter
    }

    fn language(&mut self, node: &Node) -> Option<String> {
        let s = self.scalar(node, "a language code")?;
        let code = s.as_str();
        let valid =
            code == "und" || (code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()));
        if valid {
            Some(code.to_owned())
        } else {
            self.at(
                s.span(),
                format!(
                    "invalid language code `{code}`: two lower-case letters (ISO 639-1) or `und`"
                ),
            );
            None
        }
    }

    fn topics(&mut self, key: &MarkedScalarNode, node: &Node) -> Vec<Topic> {
        let mut topics: Vec<Topic> = Vec::new();
        match node {
            Node::Mapping(map) => {
                if map.is_empty() {
                    self.at(
                        map.span(),
                        format!(
                            "`{}` is empty; leave it out to place no condition",
                            key.as_str()
                        ),
                    );
                }
                for (name, terms) in map.iter() {
                    if name.as_str().trim().is_empty() {
                        self.at(name.span(), "a topic needs a name");
                        continue;
                    }
                    let before = self.diags.len();
                    let mut topic = Topic {
                        name: name.as_str().to_owned(),
                        terms: Vec::new(),
                    };
                    match terms {
                        Node::Mapping(by_language) => {
                            for (language, terms) in by_language.iter() {
                                self.language(&Node::Scalar(language.clone()));
                                self.terms(terms, &mut topic.terms);
                            }
                        }
                        other => self.terms(other, &mut topic.terms),
                    }
                    if topic.terms.is_empty() && self.diags.len() == before {
                        self.at(terms.span(), format!("topic `{}` has no terms", topic.name));
                    }
                    topics.push(topic);
                }
            }
            other => {
                let mut seen: Vec<String> = Vec::new();
                for n in self.match_list(key, other, "terms") {
                    let Some(term) = self.term(n) else { continue };
                    // `cholera` and `Choléra` are one term to the matcher.
                    let folded = fold(&term);
                    if !seen.contains(&folded) {
                        seen.push(folded);
                        topics.push(Topic {
                            name: term.clone(),
                            terms: vec![term],
                        });
                    }
                }
            }
        }
        topics
    }

    fn terms(&mut self, node: &Node, out: &mut Vec<String>) {
        for n in self.list(node, "terms") {
            if let Some(term) = self.term(n) {
                out.push(term);
            }
        }
    }

    fn term(&mut self, node: &Node) -> Option<String> {
        let s = self.scalar(node, "a term")?;
        if fold(s.as_str()).is_empty() {
            self.at(
                s.span(),
                format!("term `{}` has no letter or digit to match", s.as_str()),
            );
            return None;
        }
        Some(s.as_str().to_owned())
    }

    fn place(&mut self, node: &Node) -> Option<PlaceFilter> {
        match node {
            Node::Mapping(map) => {
                let f = self.fields(map, "a place", &["region", "near"]);
                if f.entries.len() != 1 {
                    self.at(
                        map.span(),
                        "a place mapping holds exactly one of `region` or `near`",
                    );
                    return None;
                }
                if let Some(v) = f.value("region") {
                    let s = self.scalar(v, "a region or place name")?;
                    let folded = fold(s.as_str());
                    if folded.is_empty() {
                        self.at(s.span(), "a region name needs a letter or digit");
                        return None;
                    }
                    return Some(PlaceFilter::Named(folded));
                }
                let v = f.value("near")?;
                let near = self.mapping(v, "a mapping of `lat`, `lon` and `km`")?;
                let g = self.fields(near, "`near`", &["lat", "lon", "km"]);
                let mut get = |name: &str, what: &str, ok: fn(f64) -> bool| match g.value(name) {
                    Some(v) => self.number(v, what, ok),
                    None => {
                        self.at(near.span(), format!("missing field `{name}` in `near`"));
                        None
                    }
                };
                let lat = get("lat", "a latitude from -90 to 90", |x| {
                    (-90.0..=90.0).contains(&x)
                });
                let lon = get("lon", "a longitude from -180 to 180", |x| {
                    (-180.0..=180.0).contains(&x)
                });
                let km = get("km", "a distance in km above 0", |x| x > 0.0);
                Some(PlaceFilter::Near {
                    lat: lat?,
                    lon: lon?,
                    km: km?,
                })
            }
            other => {
                let s = self.scalar(other, "a place")?;
                let pattern = s.as_str().to_ascii_uppercase();
                if admin_pattern_ok(&pattern) {
                    Some(PlaceFilter::Admin(pattern))
                } else {
                    self.at(
                        s.span(),
                        format!(
                            "invalid place `{}`: a country code (`KE`) or admin-1 code \
                             (`KE.30`), `*` for any characters (`KE.*`), \
                             or `{{region: …}}` or `{{near: …}}`",
                            s.as_str()
                        ),
                    );
                    None
                }
            }
        }
    }

    fn group_by(&mut self, node: &Node, has_keywords: bool) -> Vec<GroupBy> {
        let mut out = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        let values = self.scalars(node, "group_by values");
        let count = values.len();
        for s in values {
            let name = s.as_str();
            let g = match name {
                "none" => {
                    if count > 1 {
                        self.at(s.span(), "`none` stands alone in `group_by`");
                    }
                    seen.push("none");
                    continue;
                }
                other => match GroupBy::parse(other) {
                    Some(by) => by,
                    None => {
                        self.at(
                            s.span(),
                            format!(
                                "unknown group_by value `{name}`; one of {}",
                                one_of(GROUP_BY)
                            ),
                        );
                        continue;
                    }
                },
            };
            if seen.contains(&name) {
                self.at(s.span(), format!("`{name}` is given twice in `group_by`"));
                continue;
            }
            seen.push(name);
            if g == GroupBy::Keyword && !has_keywords {
                self.at(
                    s.span(),
                    "group_by `keyword` needs `match.keywords` to take topics from",
                );
            }
            out.push(g);
        }
        out
    }

    fn condition(
        &mut self,
        node: &Node,
        window: Option<(&MarkedScalarNode, &Node)>,
        window_value: Option<Duration>,
    ) -> Option<Condition> {
        let map = self.mapping(
            node,
            &format!("a mapping with one of {}", one_of(CONDITIONS)),
        )?;
        let f = self.fields(map, "`when`", CONDITIONS);
        let known: Vec<_> = f
            .entries
            .iter()
            .filter(|(k, _)| CONDITIONS.contains(&k.as_str()))
            .copied()
            .collect();
        let (kind_key, body) = match known.as_slice() {
            [] => {
                if f.entries.is_empty() {
                    self.at(
                        map.span(),
                        format!("`when` needs one of {}", one_of(CONDITIONS)),
                    );
                }
                return None;
            }
            [one] => *one,
            [_, second, ..] => {
                self.at(
                    second.0.span(),
                    "`when` holds exactly one condition; write another rule for another",
                );
                return None;
            }
        };
        let name = kind_key.as_str();
        let needs_window = matches!(name, "count" | "distinct_senders" | "spike");
        match window {
            None if needs_window => {
                self.at(
                    kind_key.span(),
                    format!("`{name}` needs a `window` (e.g. `window: 24h`)"),
                );
            }
            Some((key, _)) if !needs_window => {
                self.at(
                    key.span(),
                    format!("`window` does not apply to `{name}`, which has its own durations"),
                );
            }
            _ => {}
        }
        let body = self.mapping(body, &format!("the settings of `{name}`"))?;
        match name {
            "count" | "distinct_senders" => {
                let g = self.fields(body, &format!("`{name}`"), &["gte"]);
                let at_least = match g.value("gte") {
                    Some(v) => self.integer(v, 1, u64::MAX),
                    None => {
                        self.at(body.span(), format!("missing field `gte` in `{name}`"));
                        None
                    }
                };
                let (window, at_least) = (window_value?, at_least?);
                Some(if name == "count" {
                    Condition::Count { window, at_least }
                } else {
                    Condition::DistinctSenders { window, at_least }
                })
            }
            "spike" => {
                let g = self.fields(body, "`spike`", &["factor", "baseline", "min_count"]);
                let factor = match g.value("factor") {
                    Some(v) => self.number(v, "a factor above 1", |x| x > 1.0),
                    None => {
                        self.at(body.span(), "missing field `factor` in `spike`");
                        None
                    }
                };
                let baseline = match g.value("baseline") {
                    Some(v) => self.integer(v, 1, u64::from(MAX_BASELINE_WINDOWS)),
                    None => {
                        self.at(
                            body.span(),
                            "missing field `baseline` (how many earlier windows) in `spike`",
                        );
                        None
                    }
                };
                let min_count = match g.value("min_count") {
                    Some(v) => self.integer(v, 1, u64::MAX),
                    None => Some(1),
                };
                Some(Condition::Spike {
                    window: window_value?,
                    factor: factor?,
                    baseline_windows: u32::try_from(baseline?).ok()?,
                    min_count: min_count?,
                })
            }
            "absence" => {
                let g = self.fields(body, "`absence`", &["baseline", "silence"]);
                let mut get = |field: &str| match g.value(field) {
                    Some(v) => self.duration(v, false).map(|d| (d, *v.span())),
                    None => {
                        self.at(body.span(), format!("missing field `{field}` in `absence`"));
                        None
                    }
                };
                let baseline = get("baseline");
                let silence = get("silence");
                let ((baseline, _), (silence, silence_span)) = (baseline?, silence?);
                if silence >= baseline {
                    self.at(
                        &silence_span,
                        "`silence` must be shorter than `baseline`, or no group could qualify",
                    );
                    return None;
                }
                Some(Condition::Absence { baseline, silence })
            }
            _ => {
                let g = self.fields(body, "`first_seen`", &["baseline"]);
                let baseline = match g.value("baseline") {
                    Some(v) => self.duration(v, false),
                    None => {
                        self.at(body.span(), "missing field `baseline` in `first_seen`");
                        None
                    }
                };
                Some(Condition::FirstSeen {
                    baseline: baseline?,
                })
            }
        }
    }

    fn severity(&mut self, node: &Node) -> Option<Severity> {
        let s = self.scalar(node, "a severity")?;
        match Severity::parse(s.as_str()) {
            Some(severity) => Some(severity),
            None => {
                self.at(
                    s.span(),
                    format!(
                        "unknown severity `{}`; one of {}",
                        s.as_str(),
                        one_of(SEVERITIES)
                    ),
                );
                None
            }
        }
    }

    fn notify(&mut self, node: &Node) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.scalars(node, "channel names") {
            let name = s.as_str();
            if name != LOG_CHANNEL && !self.known.channels.contains(name) {
                let known: Vec<&str> = self
                    .known
                    .channels
                    .iter()
                    .map(String::as_str)
                    .chain([LOG_CHANNEL])
                    .collect();
                self.at(
                    s.span(),
                    format!("unknown channel `{name}`; configured: {}", one_of(&known)),
                );
            } else if !out.iter().any(|c| c == name) {
                out.push(name.to_owned());
            }
        }
        out
    }

    fn template(&mut self, node: &Node) -> Option<String> {
        let s = self.scalar(node, "a template name")?;
        let name = s.as_str();
        if self.known.templates.contains(name) {
            return Some(name.to_owned());
        }
        let message = if self.known.templates.is_empty() {
            format!("unknown template `{name}`: the templates directory has none")
        } else {
            let known: Vec<&str> = self.known.templates.iter().map(String::as_str).collect();
            format!("unknown template `{name}`; templates: {}", one_of(&known))
        };
        self.at(s.span(), message);
        None
    }

    fn labels(&mut self, node: &Node) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(map) = self.mapping(node, "a mapping of label names to values") else {
            return out;
        };
        for (key, value) in map.iter() {
            if key.as_str().is_empty() {
                self.at(key.span(), "a label needs a name");
                continue;
            }
            if let Some(v) = self.scalar(value, "a label value") {
                out.insert(key.as_str().to_owned(), v.as_str().to_owned());
            }
        }
        out
    }
}

/// `CC` or `CC.code`, each part letters, digits or `*`; `*` alone too.
fn admin_pattern_ok(pattern: &str) -> bool {
    let (country, code) = match pattern.split_once('.') {
        Some((country, code)) => (country, Some(code)),
        None => (pattern, None),
    };
    let country_ok = country == "*"
        || (country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase() || b == b'*'));
    let code_ok = code.is_none_or(|c| {
        !c.is_empty()
            && c.bytes().all(|b| {
                b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'*' | b'_' | b'-')
            })
    });
    country_ok && code_ok
}

/// The regex crate's message spans several lines with a caret under the
/// pattern; a diagnostic is one line, so keep the last, which says what.
fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.trim())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "8:15: invalid source name `Twilio`: use a-z, 0-9, `_` and `-`",
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
