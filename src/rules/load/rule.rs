//! One rule, field by field: what each field may hold, and the problems
//! named when it holds something else.

use std::collections::BTreeMap;
use std::time::Duration;

use marked_yaml::Node;
use marked_yaml::types::MarkedScalarNode;

use crate::fold::fold;
use crate::rules::model::{
    Condition, Filter, GroupBy, Origin, PlaceFilter, Rule, RuleId, Severity, Topic,
};

use super::LOG_CHANNEL;
use super::Loader;
use super::yaml::{map_span, one_of, pos};

pub(super) const RULE_FIELDS: &[&str] = &[
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
pub(super) const MATCH_FIELDS: &[&str] = &[
    "keywords",
    "all",
    "none",
    "languages",
    "places",
    "sources",
    "text",
];
pub(super) const CONDITIONS: &[&str] = &[
    "count",
    "distinct_senders",
    "spike",
    "absence",
    "first_seen",
];
pub(super) const GROUP_BY: &[&str] = &[
    "none", "country", "admin1", "place", "language", "keyword", "sender",
];
pub(super) const SEVERITIES: &[&str] = &["minor", "moderate", "severe", "extreme"];
pub(super) const MAX_BASELINE_WINDOWS: u32 = 1000;

impl Loader<'_> {
    pub(super) fn rule(&mut self, node: &Node) -> Option<Rule> {
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

    pub(super) fn filter(&mut self, node: &Node) -> Filter {
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
                // A named feed is `feed:{name}`, its name as the feed allows.
                let word = |w: &str| {
                    !w.is_empty()
                        && w.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                        })
                };
                let valid = match name.split_once(':') {
                    Some(("feed", feed)) => word(feed),
                    Some(_) => false,
                    None => word(name),
                };
                if !valid {
                    self.at(
                        s.span(),
                        format!(
                            "invalid source name `{name}`: a gateway or `feed` (a-z, 0-9, `.`, `_`, `-`), or `feed:NAME` for one named feed"
                        ),
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

    pub(super) fn language(&mut self, node: &Node) -> Option<String> {
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

    pub(super) fn topics(&mut self, key: &MarkedScalarNode, node: &Node) -> Vec<Topic> {
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

    pub(super) fn terms(&mut self, node: &Node, out: &mut Vec<String>) {
        for n in self.list(node, "terms") {
            if let Some(term) = self.term(n) {
                out.push(term);
            }
        }
    }

    pub(super) fn term(&mut self, node: &Node) -> Option<String> {
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

    pub(super) fn place(&mut self, node: &Node) -> Option<PlaceFilter> {
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

    pub(super) fn group_by(&mut self, node: &Node, has_keywords: bool) -> Vec<GroupBy> {
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

    pub(super) fn condition(
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

    pub(super) fn severity(&mut self, node: &Node) -> Option<Severity> {
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

    pub(super) fn notify(&mut self, node: &Node) -> Vec<String> {
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

    pub(super) fn template(&mut self, node: &Node) -> Option<String> {
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

    pub(super) fn labels(&mut self, node: &Node) -> BTreeMap<String, String> {
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
pub(super) fn admin_pattern_ok(pattern: &str) -> bool {
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
pub(super) fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.trim())
        .to_owned()
}
