//! The rules in force, compiled once per load: their window shapes and
//! one matcher for all of them.

use std::collections::HashMap;
use std::time::Duration;

use super::super::matcher::Matcher;
use super::super::model::Rule;
use super::condition::shape_of;
use crate::window::Shape;

/// The rules in force, compiled: swapped whole on reload.
pub struct RuleBook {
    pub(super) rules: Vec<Rule>,
    pub(super) shapes: Vec<Shape>,
    /// The same shapes without evidence: counting a report needs only the
    /// counts, and evidence is read once, when an alert fires.
    pub(super) counting: Vec<Shape>,
    pub(super) matcher: Matcher,
    pub(super) by_id: HashMap<String, usize>,
}

impl RuleBook {
    pub fn new(rules: Vec<Rule>) -> Self {
        let shapes: Vec<Shape> = rules.iter().map(|r| shape_of(&r.condition)).collect();
        let counting = shapes
            .iter()
            .map(|s| Shape {
                evidence: 0,
                ..s.clone()
            })
            .collect();
        let matcher = Matcher::new(&rules);
        let by_id = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str().to_owned(), i))
            .collect();
        Self {
            rules,
            shapes,
            counting,
            matcher,
            by_id,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub(super) fn get(&self, id: &str) -> Option<(&Rule, &Shape)> {
        self.by_id
            .get(id)
            .map(|&i| (&self.rules[i], &self.shapes[i]))
    }

    /// The longest a member stays in any window: how far back windows are
    /// rebuilt from stored reports.
    pub fn longest_retention(&self) -> Duration {
        let ms = self.shapes.iter().map(|s| s.retain_ms).max().unwrap_or(0);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    pub(super) fn longest_cooldown(&self) -> Duration {
        self.rules
            .iter()
            .map(|r| r.cooldown)
            .max()
            .unwrap_or_default()
    }
}
