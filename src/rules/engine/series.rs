//! Which series a report counts in: a rule and the values of its group,
//! written as the key alerts and the API show.

use crate::alert::Alert;
use crate::rules::facts::Facts;
use crate::rules::matcher::RuleMatch;
use crate::rules::model::{GroupBy, Rule};
use crate::window::Series;

pub(super) fn series(rule: &Rule, group: &[(GroupBy, String)]) -> Series {
    Series {
        rule: rule.id.as_str().to_owned(),
        group: group_key(group),
    }
}

pub(super) fn series_of(alert: &Alert) -> Series {
    Series {
        rule: alert.rule.to_string(),
        group: alert.group.clone(),
    }
}

/// `admin1=KE.30,keyword=cholera`: stable, readable, and what alerts and
/// the API show.
pub(super) fn group_key(group: &[(GroupBy, String)]) -> String {
    group
        .iter()
        .map(|(by, value)| format!("{}={value}", by.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn parse_group(key: &str) -> Vec<(GroupBy, String)> {
    key.split(',')
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(name, value)| Some((GroupBy::parse(name)?, value.to_owned())))
        .collect()
}

/// The groups a report counts in for one rule: one, or one per topic it
/// matched when grouped by keyword, or none when it lacks a grouped field
/// (a report of unknown place is not counted per county).
pub(super) fn groups(
    rule: &Rule,
    facts: &Facts,
    matched: &RuleMatch,
) -> Vec<Vec<(GroupBy, String)>> {
    let mut groups: Vec<Vec<(GroupBy, String)>> = vec![Vec::new()];
    for by in &rule.group_by {
        let values: Vec<String> = match by {
            GroupBy::Keyword => matched.topics.clone(),
            other => match field(*other, facts) {
                Some(value) => vec![value],
                None => Vec::new(),
            },
        };
        groups = groups
            .into_iter()
            .flat_map(|group| {
                values.iter().map(move |value| {
                    let mut group = group.clone();
                    group.push((*by, value.clone()));
                    group
                })
            })
            .collect();
    }
    groups
}

pub(super) fn field(by: GroupBy, facts: &Facts) -> Option<String> {
    let place = &facts.place;
    match by {
        GroupBy::Country => place.country.clone(),
        GroupBy::Admin1 => place.admin1_code.clone(),
        GroupBy::Place => place.place_id.map(|id| id.to_string()),
        GroupBy::Language => Some(facts.language.to_owned()),
        GroupBy::Sender => facts.sender.map(str::to_owned),
        GroupBy::Keyword => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_keys_round_trip() {
        let group = vec![
            (GroupBy::Admin1, "KE.30".to_owned()),
            (GroupBy::Keyword, "cholera".to_owned()),
        ];
        let key = group_key(&group);
        assert_eq!(key, "admin1=KE.30,keyword=cholera");
        assert_eq!(parse_group(&key), group);
    }
}
