//! Typed values out of marked YAML nodes, each mismatch recorded with its
//! position: the vocabulary the rule reader is written in.

use std::time::Duration;

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, Node, Span};

use super::{Diagnostic, Loader};

pub(super) fn pos(span: &Span) -> (usize, usize) {
    span.start().map_or((0, 0), |m| (m.line(), m.column()))
}

/// Where a mapping starts: its first key, because the loader marks a
/// block mapping after its first key.
pub(super) fn map_span(map: &MarkedMappingNode) -> &Span {
    map.keys().next().map_or(map.span(), |k| k.span())
}

pub(super) fn kind(node: &Node) -> &'static str {
    match node {
        Node::Scalar(s) if s.as_str().is_empty() => "nothing",
        Node::Scalar(_) => "a single value",
        Node::Sequence(_) => "a list",
        Node::Mapping(_) => "a mapping",
    }
}

pub(super) fn one_of(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The entries of a YAML mapping, looked up by key.
pub(super) struct Fields<'n> {
    pub(super) entries: Vec<(&'n MarkedScalarNode, &'n Node)>,
}

impl<'n> Fields<'n> {
    pub(super) fn get(&self, name: &str) -> Option<(&'n MarkedScalarNode, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .copied()
    }

    pub(super) fn value(&self, name: &str) -> Option<&'n Node> {
        self.get(name).map(|(_, v)| v)
    }
}

impl Loader<'_> {
    pub(super) fn at(&mut self, span: &Span, message: impl Into<String>) {
        let (line, column) = pos(span);
        self.diags.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    pub(super) fn load_error(&mut self, e: &LoadError) {
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
    pub(super) fn fields<'n>(
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

    pub(super) fn mapping<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
    ) -> Option<&'n MarkedMappingNode> {
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
    pub(super) fn scalar<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
    ) -> Option<&'n MarkedScalarNode> {
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
    pub(super) fn list<'n>(&mut self, node: &'n Node, what: &str) -> Vec<&'n Node> {
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
    pub(super) fn scalars<'n>(&mut self, node: &'n Node, what: &str) -> Vec<&'n MarkedScalarNode> {
        self.list(node, what)
            .into_iter()
            .filter_map(|n| self.scalar(n, what))
            .collect()
    }

    /// A list in `match`, where an empty one would silently mean "no
    /// constraint".
    pub(super) fn match_list<'n>(
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

    pub(super) fn duration(&mut self, node: &Node, allow_zero: bool) -> Option<Duration> {
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

    pub(super) fn integer(&mut self, node: &Node, min: u64, max: u64) -> Option<u64> {
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

    pub(super) fn number(
        &mut self,
        node: &Node,
        what: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Option<f64> {
        let s = self.scalar(node, what)?;
        match s.as_str().parse::<f64>() {
            Ok(x) if x.is_finite() && ok(x) => Some(x),
            _ => {
                self.at(s.span(), format!("expected {what}, found `{}`", s.as_str()));
                None
            }
        }
    }
}
