//! Message templates: one MiniJinja file per template set in
//! `templates_dir` (`outbreak.j2`), with a block per part of a message
//! (`subject`, `text`, `html`, `sms`, `webhook`). A set overrides the
//! blocks it defines and inherits the others from `default.j2` in the same
//! directory, or from the built-in set when there is none, so a rule that
//! names no template still gets a readable message.
//!
//! Each file is compiled twice: as itself, and as `<name>.html`, where
//! every variable is HTML-escaped. The `html` part is rendered from the
//! second, so `{{ self.text() }}` inside it is the text part, escaped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use regex::Regex;

use super::context::{MessageContext, sample_context};
use crate::rules::load::Diagnostic;
use crate::rules::model::Rule;

const BUILTIN: &str = "ishara:default";
const BUILTIN_SOURCE: &str = include_str!("default.j2");
use crate::rules::load::{DEFAULT_TEMPLATE as DEFAULT, TEMPLATE_EXTENSION as EXTENSION};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Subject,
    Text,
    Html,
    Sms,
    Webhook,
}

impl Part {
    pub const ALL: [Part; 5] = [
        Part::Subject,
        Part::Text,
        Part::Html,
        Part::Sms,
        Part::Webhook,
    ];

    pub fn block(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Text => "text",
            Part::Html => "html",
            Part::Sms => "sms",
            Part::Webhook => "webhook",
        }
    }
}

/// A template file as read from the templates directory.
#[derive(Debug, Clone)]
struct SetSource {
    name: String,
    path: PathBuf,
    source: String,
}

pub struct Templates {
    sets: Vec<SetSource>,
    env: Environment<'static>,
}

impl Templates {
    /// The built-in set only: for deployments without a templates directory.
    pub fn builtin() -> Self {
        Self::from_sets(Vec::new(), UndefinedBehavior::Lenient)
            .expect("the built-in templates compile")
    }

    /// Reads `*.j2` in `dir` (a missing directory has none) and compiles
    /// them; a file that does not compile is named with its line.
    pub fn load(dir: &Path) -> Result<Self, Vec<Diagnostic>> {
        let sets = read_sets(dir)?;
        Self::from_sets(sets, UndefinedBehavior::Lenient)
    }

    fn from_sets(
        sets: Vec<SetSource>,
        undefined: UndefinedBehavior,
    ) -> Result<Self, Vec<Diagnostic>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(undefined);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        let mut problems = Vec::new();
        let builtin = [
            (BUILTIN.to_owned(), BUILTIN_SOURCE.to_owned()),
            (format!("{BUILTIN}.html"), BUILTIN_SOURCE.to_owned()),
        ];
        for (name, source) in builtin {
            env.add_template_owned(name, source)
                .expect("the built-in templates compile");
        }
        if !sets.iter().any(|s| s.name == DEFAULT) {
            for (name, parent) in [(DEFAULT, BUILTIN), ("default.html", "ishara:default.html")] {
                env.add_template_owned(name, format!("{{% extends \"{parent}\" %}}"))
                    .expect("an extends compiles");
            }
        }
        for set in &sets {
            let parent = if set.name == DEFAULT {
                BUILTIN
            } else {
                DEFAULT
            };
            for (name, parent) in [
                (set.name.clone(), parent.to_owned()),
                (format!("{}.html", set.name), format!("{parent}.html")),
            ] {
                // On the first line, so the file's line numbers hold.
                let source = format!("{{% extends \"{parent}\" %}}{}", set.source);
                if let Err(e) = env.add_template_owned(name, source) {
                    problems.push(diagnostic(&set.path, &e));
                    break;
                }
            }
            problems.extend(block_problems(set));
        }
        if problems.is_empty() {
            Ok(Self { sets, env })
        } else {
            Err(problems)
        }
    }

    /// The set names rules may use.
    pub fn names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.sets.iter().map(|s| s.name.clone()).collect();
        names.insert(DEFAULT.to_owned());
        names
    }

    /// Renders one part from `set` (the default set when `None`).
    pub fn render(&self, set: Option<&str>, part: Part, context: &MessageContext) -> String {
        let [text] = self.render_parts(set, [part], context);
        text
    }

    /// Renders the parts of one message together: the template runs once
    /// for the plain parts and once for the HTML one, however many parts
    /// are asked for. A set that fails at run time falls back to the
    /// default, then to the built-in: an alert goes out plainer rather
    /// than not at all.
    pub fn render_parts<const N: usize>(
        &self,
        set: Option<&str>,
        parts: [Part; N],
        context: &MessageContext,
    ) -> [String; N] {
        let wanted = set.unwrap_or(DEFAULT);
        let mut last_error = None;
        for name in [wanted, DEFAULT, BUILTIN] {
            match self.render_strictly(name, parts, context) {
                Ok(texts) => return texts,
                Err(e) => {
                    tracing::error!(template = name, error = %e, "template failed; falling back");
                    last_error = Some(e);
                }
            }
        }
        let failure = format!(
            "{} ({}): {}",
            context.rule.id,
            context.alert.state,
            last_error.map(|e| e.to_string()).unwrap_or_default()
        );
        parts.map(|_| failure.clone())
    }

    fn render_strictly<const N: usize>(
        &self,
        set: &str,
        parts: [Part; N],
        context: &MessageContext,
    ) -> Result<[String; N], minijinja::Error> {
        let mut plain = None;
        let mut html = None;
        let mut texts = Vec::with_capacity(N);
        for part in parts {
            let (captured, name) = match part {
                Part::Html => (&mut html, format!("{set}.html")),
                _ => (&mut plain, set.to_owned()),
            };
            let captured = match captured {
                Some(captured) => captured,
                None => captured.insert(self.env.get_template(&name)?.render_captured(context)?),
            };
            let rendered = captured.with_state_mut(|state| state.render_block(part.block()))?;
            texts.push(tidy(part, &rendered));
        }
        Ok(texts.try_into().expect("one text per part"))
    }

    /// What `rules check` says of the templates: every file compiles,
    /// defines only known blocks, uses only known variables, and renders
    /// for each rule that names it with that rule's group fields and
    /// labels, firing and resolved.
    pub fn check(dir: &Path, rules: &[Rule]) -> Vec<Diagnostic> {
        let sets = match read_sets(dir) {
            Ok(sets) => sets,
            Err(problems) => return problems,
        };
        let strict = match Self::from_sets(sets, UndefinedBehavior::Strict) {
            Ok(strict) => strict,
            Err(problems) => return problems,
        };
        let mut problems = strict.unknown_variables();
        let mut users: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
        for rule in rules {
            users
                .entry(rule.template.as_deref().unwrap_or(DEFAULT))
                .or_default()
                .push(rule);
        }
        for set in strict.names() {
            let rules = users
                .get(set.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            // A field the rule lacks is found in every branch, taken or
            // not; rendering then finds what only running shows.
            let lacking: Vec<Diagnostic> = rules
                .iter()
                .flat_map(|rule| strict.fields_rule_lacks(&set, rule))
                .collect();
            if !lacking.is_empty() {
                problems.extend(lacking);
                continue;
            }
            let contexts: Vec<MessageContext> = if rules.is_empty() {
                generic_contexts()
            } else {
                rules.iter().flat_map(|r| contexts_for(r)).collect()
            };
            for context in &contexts {
                if let Some(problem) = strict.render_problem(&set, context) {
                    problems.push(problem);
                    break;
                }
            }
        }
        problems
    }

    fn render_problem(&self, set: &str, context: &MessageContext) -> Option<Diagnostic> {
        for part in Part::ALL {
            if let Err(e) = self.render_strictly(set, [part], context) {
                let name = e.name().unwrap_or(set);
                let path = self.path_of(name);
                let mut problem = diagnostic(&path, &e);
                // The template runs whole for each part: where it failed
                // says which block is wrong, not the part being rendered.
                let block = self
                    .source_of(name)
                    .and_then(|source| block_at(source, problem.line))
                    .unwrap_or(part.block());
                problem.message = format!(
                    "{} (in block {block}, rendering for rule {})",
                    problem.message, context.rule.id
                );
                return Some(problem);
            }
        }
        None
    }

    /// `group.fields.x` and `rule.labels.x` that `rule` does not have,
    /// wherever they appear in the set's own file.
    fn fields_rule_lacks(&self, set: &str, rule: &Rule) -> Vec<Diagnostic> {
        let Some(source) = self.sets.iter().find(|s| s.name == set) else {
            return Vec::new();
        };
        let Ok(template) = self.env.get_template(set) else {
            return Vec::new();
        };
        let fields: Vec<&str> = rule.group_by.iter().map(|g| g.as_str()).collect();
        let context = serde_json::to_value(sample_context(rule.id.as_str(), &fields, &rule.labels))
            .expect("the context serializes");
        let mut lacking: Vec<String> = template
            .undeclared_variables(true)
            .into_iter()
            .filter(|path| is_open(path) && !is_known_exactly(&context, path))
            .collect();
        lacking.sort();
        lacking
            .into_iter()
            .map(|path| {
                let line = line_of(&source.source, &path);
                let block = block_at(&source.source, line).unwrap_or("(outside blocks)");
                Diagnostic {
                    file: source.path.clone(),
                    line,
                    column: 0,
                    message: format!(
                        "`{path}` in block {block}: rule {} has no such {} (it groups by [{}])",
                        rule.id,
                        if path.starts_with("rule.labels.") {
                            "label"
                        } else {
                            "group field"
                        },
                        fields.join(", ")
                    ),
                }
            })
            .collect()
    }

    fn source_of(&self, name: &str) -> Option<&str> {
        let set = name.trim_end_matches(".html");
        self.sets
            .iter()
            .find(|s| s.name == set)
            .map(|s| s.source.as_str())
    }

    /// Variables outside the documented ones, even in branches the sample
    /// contexts do not reach.
    fn unknown_variables(&self) -> Vec<Diagnostic> {
        let known = serde_json::to_value(sample_context("rule", &[], &BTreeMap::new()))
            .expect("the context serializes");
        let mut problems = Vec::new();
        for set in &self.sets {
            let Ok(template) = self.env.get_template(&set.name) else {
                continue;
            };
            let mut unknown: Vec<String> = template
                .undeclared_variables(true)
                .into_iter()
                .filter(|path| !is_known(&known, path))
                .collect();
            unknown.sort();
            for path in unknown {
                problems.push(Diagnostic {
                    file: set.path.clone(),
                    line: line_of(&set.source, &path),
                    column: 0,
                    message: format!(
                        "unknown variable `{path}`; variables: {}",
                        top_level(&known)
                    ),
                });
            }
        }
        problems
    }

    fn path_of(&self, name: &str) -> PathBuf {
        let set = name.trim_end_matches(".html");
        self.sets
            .iter()
            .find(|s| s.name == set)
            .map(|s| s.path.clone())
            .unwrap_or_else(|| PathBuf::from(format!("(built-in {set})")))
    }
}

/// The templates of a directory, following its edits: a rule reloaded with
/// a new template set gets it in its next message without a restart. An
/// edit that does not compile is logged and the sets before it stay.
pub struct LiveTemplates {
    dir: PathBuf,
    loaded: std::sync::RwLock<(Fingerprint, Arc<Templates>)>,
}

/// How many template files there are and when the newest changed: cheap
/// to take for every message, and it changes with any edit.
type Fingerprint = (usize, Option<std::time::SystemTime>);

impl LiveTemplates {
    pub fn load(dir: &Path) -> Result<Self, Vec<Diagnostic>> {
        let fingerprint = fingerprint(dir);
        let templates = Templates::load(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            loaded: std::sync::RwLock::new((fingerprint, Arc::new(templates))),
        })
    }

    pub fn current(&self) -> Arc<Templates> {
        let now = fingerprint(&self.dir);
        {
            let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
            if loaded.0 == now {
                return loaded.1.clone();
            }
        }
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        match Templates::load(&self.dir) {
            Ok(templates) => {
                tracing::info!(dir = %self.dir.display(), "templates reloaded");
                *loaded = (now, Arc::new(templates));
            }
            Err(problems) => {
                let problems: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                tracing::error!(problems = %problems.join("; "), "template edit refused; the previous templates stay");
                loaded.0 = now;
            }
        }
        loaded.1.clone()
    }
}

fn fingerprint(dir: &Path) -> Fingerprint {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, None);
    };
    let times: Vec<Option<std::time::SystemTime>> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == EXTENSION))
        .map(|e| e.metadata().and_then(|m| m.modified()).ok())
        .collect();
    (times.len(), times.into_iter().flatten().max())
}

/// Subjects are one line; every part loses the blank lines blocks leave.
fn tidy(part: Part, rendered: &str) -> String {
    match part {
        Part::Subject => rendered
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .to_owned(),
        _ => rendered.trim().to_owned(),
    }
}

fn read_sets(dir: &Path) -> Result<Vec<SetSource>, Vec<Diagnostic>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == EXTENSION))
        .collect();
    paths.sort();
    let mut sets = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        match std::fs::read_to_string(&path) {
            Ok(source) => sets.push(SetSource { name, path, source }),
            Err(e) => problems.push(Diagnostic {
                file: path,
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if problems.is_empty() {
        Ok(sets)
    } else {
        Err(problems)
    }
}

static BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{%-?\s*block\s+(\w+)").expect("valid pattern"));

/// Outside blocks, a child template's text is never rendered: a file with
/// no known block would silently send the default message.
fn block_problems(set: &SetSource) -> Vec<Diagnostic> {
    let known: Vec<&str> = Part::ALL.iter().map(|p| p.block()).collect();
    let mut problems = Vec::new();
    let mut defined = 0;
    for found in BLOCK.captures_iter(&set.source) {
        let name = &found[1];
        if known.contains(&name) {
            defined += 1;
        } else {
            let at = found.get(1).map(|m| m.start()).unwrap_or(0);
            problems.push(Diagnostic {
                file: set.path.clone(),
                line: set.source[..at].lines().count().max(1),
                column: 0,
                message: format!("unknown block `{name}`; blocks: {}", known.join(", ")),
            });
        }
    }
    if defined == 0 && problems.is_empty() {
        problems.push(Diagnostic {
            file: set.path.clone(),
            line: 0,
            column: 0,
            message: format!(
                "defines no block: put the message in one of {} ({{% block sms %}}…{{% endblock %}})",
                known.join(", ")
            ),
        });
    }
    problems
}

fn contexts_for(rule: &Rule) -> Vec<MessageContext> {
    let fields: Vec<&str> = rule.group_by.iter().map(|g| g.as_str()).collect();
    both_states(sample_context(rule.id.as_str(), &fields, &rule.labels))
}

fn generic_contexts() -> Vec<MessageContext> {
    both_states(sample_context("rule", &[], &BTreeMap::new()))
}

fn both_states(firing: MessageContext) -> Vec<MessageContext> {
    let mut resolved = firing.clone();
    resolved.alert.state = "resolved".into();
    resolved.alert.resolved_at = "2026-01-01 10:00 UTC".into();
    vec![firing, resolved]
}

/// `group.fields.x` and `rule.labels.x` are open: which keys exist depends
/// on the rule, and the per-rule render checks them.
fn is_known(context: &serde_json::Value, path: &str) -> bool {
    let mut node = context;
    for segment in path.split('.') {
        match node.get(segment) {
            Some(child) => node = child,
            None => return node.is_object() && is_open(path),
        }
    }
    true
}

/// Like [`is_known`], with no open keys: for one rule's own context.
fn is_known_exactly(context: &serde_json::Value, path: &str) -> bool {
    let mut node = context;
    for segment in path.split('.') {
        match node.get(segment) {
            Some(child) => node = child,
            None => return false,
        }
    }
    true
}

/// The block open at `line` (1-based) of a template file.
fn block_at(source: &str, line: usize) -> Option<&str> {
    static TAG: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\{%-?\s*(?:block\s+(\w+)|(endblock))\b").expect("a valid pattern")
    });
    let mut open: Vec<&str> = Vec::new();
    let mut found = None;
    for (number, text) in source.lines().enumerate().take(line) {
        for tag in TAG.captures_iter(text) {
            match tag.get(1) {
                Some(name) => open.push(name.as_str()),
                None => {
                    open.pop();
                }
            }
        }
        if number + 1 == line {
            found = open.last().copied();
        }
    }
    // A block that opens and closes on the error's own line.
    found.or_else(|| {
        source.lines().nth(line.checked_sub(1)?).and_then(|text| {
            TAG.captures(text)
                .and_then(|tag| tag.get(1))
                .map(|name| name.as_str())
        })
    })
}

fn is_open(path: &str) -> bool {
    path.starts_with("group.fields.") || path.starts_with("rule.labels.")
}

fn top_level(context: &serde_json::Value) -> String {
    context
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

fn line_of(source: &str, path: &str) -> usize {
    let first = path.split('.').next().unwrap_or(path);
    source
        .lines()
        .position(|l| l.contains(path) || l.contains(first))
        .map(|i| i + 1)
        .unwrap_or(0)
}

fn diagnostic(path: &Path, error: &minijinja::Error) -> Diagnostic {
    Diagnostic {
        file: path.to_path_buf(),
        line: error.line().unwrap_or(0),
        column: 0,
        message: error
            .detail()
            .map(|d| format!("{}: {d}", error.kind()))
            .unwrap_or_else(|| error.kind().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> MessageContext {
        sample_context("cholera", &["admin1"], &BTreeMap::new())
    }

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, source) in files {
            std::fs::write(dir.path().join(name), source).unwrap();
        }
        dir
    }

    #[test]
    fn the_builtin_set_renders_every_part() {
        let templates = Templates::builtin();
        let c = context();
        let subject = templates.render(None, Part::Subject, &c);
        assert_eq!(subject, "[SEVERE] A sample in Garissa, Kenya");
        let text = templates.render(None, Part::Text, &c);
        assert!(text.contains("Condition: count >= 3 in 1day"), "{text}");
        assert!(text.contains("\"3 cholera cases at the market\""), "{text}");
        let sms = templates.render(None, Part::Sms, &c);
        assert!(
            sms.starts_with("SEVERE: A sample, Garissa, Kenya. 3 reports."),
            "{sms}"
        );
        let hook = templates.render(None, Part::Webhook, &c);
        assert!(hook.ends_with("|details>"), "{hook}");
    }

    #[test]
    fn parts_rendered_together_are_the_parts_rendered_one_by_one() {
        let templates = Templates::builtin();
        let c = context();
        let together = templates.render_parts(None, Part::ALL, &c);
        let one_by_one = Part::ALL.map(|part| templates.render(None, part, &c));
        assert_eq!(together, one_by_one);
        assert!(together[2].contains("<pre"), "{}", together[2]);
    }

    #[test]
    fn the_html_part_escapes_what_reporters_wrote() {
        let mut c = context();
        c.reports.samples[0].text = "<script>alert(1)</script> & more".into();
        let html = Templates::builtin().render(None, Part::Html, &c);
        assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{html}");
        assert!(html.contains(" &amp; more"), "{html}");
        assert!(!html.contains("<script>"));
        let text = Templates::builtin().render(None, Part::Text, &c);
        assert!(text.contains("<script>alert(1)</script> & more"));
    }

    #[test]
    fn a_set_overrides_some_blocks_and_inherits_the_rest() {
        let dir = dir_with(&[(
            "short.j2",
            "{% block sms %}ALERT {{ rule.id }}{% endblock %}",
        )]);
        let templates = Templates::load(dir.path()).unwrap();
        let c = context();
        assert_eq!(
            templates.render(Some("short"), Part::Sms, &c),
            "ALERT cholera"
        );
        assert_eq!(
            templates.render(Some("short"), Part::Subject, &c),
            templates.render(None, Part::Subject, &c)
        );
        assert!(templates.names().contains("short"));
    }

    #[test]
    fn a_default_in_the_directory_is_what_rules_without_a_template_get() {
        let dir = dir_with(&[
            (
                "default.j2",
                "{% block subject %}Ishara: {{ rule.id }}{% endblock %}",
            ),
            ("other.j2", "{% block sms %}x{% endblock %}"),
        ]);
        let templates = Templates::load(dir.path()).unwrap();
        let c = context();
        assert_eq!(templates.render(None, Part::Subject, &c), "Ishara: cholera");
        assert_eq!(
            templates.render(Some("other"), Part::Subject, &c),
            "Ishara: cholera"
        );
    }

    #[test]
    fn unknown_variables_are_errors_with_their_line() {
        let dir = dir_with(&[(
            "bad.j2",
            "{% block sms %}\n{% if false %}{{ alert.colour }}{% endif %}{% endblock %}",
        )]);
        let problems = Templates::check(dir.path(), &[]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, 2);
        assert!(
            problems[0]
                .message
                .contains("unknown variable `alert.colour`")
        );
    }

    #[test]
    fn a_group_field_the_rule_does_not_have_is_an_error() {
        let dir = dir_with(&[(
            "t.j2",
            "{% block sms %}{{ group.fields.keyword }}{% endblock %}",
        )]);
        let yaml = "- id: r\n  match: { keywords: [cholera] }\n  group_by: [admin1]\n  window: 1h\n  when: { count: { gte: 1 } }\n  template: t\n";
        let known = crate::rules::load::Known {
            channels: Default::default(),
            templates: ["t".to_owned()].into(),
        };
        let rules = crate::rules::load::load_str(Path::new("r.yaml"), yaml, &known).unwrap();
        let problems = Templates::check(dir.path(), &rules);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].message.contains("rule r"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn syntax_errors_and_files_without_blocks_are_named() {
        let broken = dir_with(&[("b.j2", "{% block sms %}{{ rule.id }{% endblock %}")]);
        let problems = Templates::check(broken.path(), &[]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].file.ends_with("b.j2"));
        let plain = dir_with(&[("p.j2", "just text {{ rule.id }}")]);
        let problems = Templates::check(plain.path(), &[]);
        assert!(
            problems[0].message.contains("defines no block"),
            "{problems:?}"
        );
    }

    #[test]
    fn live_templates_follow_edits_and_keep_the_last_good_ones() {
        let dir = dir_with(&[("short.j2", "{% block sms %}one{% endblock %}")]);
        let live = LiveTemplates::load(dir.path()).unwrap();
        let c = context();
        assert_eq!(live.current().render(Some("short"), Part::Sms, &c), "one");
        std::fs::write(
            dir.path().join("more.j2"),
            "{% block sms %}two{% endblock %}",
        )
        .unwrap();
        assert_eq!(live.current().render(Some("more"), Part::Sms, &c), "two");
        std::fs::write(dir.path().join("broken.j2"), "{% block sms %}{{ x }").unwrap();
        assert_eq!(live.current().render(Some("more"), Part::Sms, &c), "two");
    }

    #[test]
    fn the_repository_templates_pass_their_own_check() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        assert_eq!(Templates::check(&dir, &[]), Vec::new());
    }
}
