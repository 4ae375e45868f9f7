//! The variables templates see: an alert, the reports behind it and the
//! channel it goes to, flattened into plain text and numbers so that a
//! template never has to format a date or look up a place name.
//!
//! The names here are an interface: `docs/notifications.md` (Templates)
//! lists them, and
//! `rules check` refuses templates that use others.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Serialize;

use crate::alert::delivery::Transition;
use crate::alert::{Alert, AlertState};
use crate::store::StoredReport;

/// How many report texts a message quotes.
pub const SAMPLES: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct MessageContext {
    pub alert: AlertVars,
    pub rule: RuleVars,
    pub group: GroupVars,
    /// What the condition measured: reports, senders, or seconds of silence.
    pub count: serde_json::Value,
    /// The window the count is over, such as `1day`.
    pub window: String,
    pub reports: ReportVars,
    pub channel: ChannelVars,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertVars {
    pub id: String,
    /// `firing` or `resolved`: what this message announces.
    pub state: String,
    pub fired_at: String,
    /// Empty while firing.
    pub resolved_at: String,
    pub link: String,
    pub cap_link: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleVars {
    pub id: String,
    pub description: String,
    pub severity: String,
    pub condition: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupVars {
    /// `admin1=KE.30,keyword=cholera`; empty when the rule does not group.
    pub key: String,
    /// The group's fields by name (`admin1`, `keyword`, …).
    pub fields: BTreeMap<String, String>,
    /// The most precise place name the group and its reports give, such as
    /// `Garissa, Kenya`; empty when there is none.
    pub place: String,
    pub place_name: String,
    pub admin1: String,
    pub admin1_name: String,
    pub country: String,
    pub country_name: String,
    pub keyword: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportVars {
    pub count: usize,
    pub first_at: String,
    pub last_at: String,
    /// The newest few, newest first.
    pub samples: Vec<SampleVars>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleVars {
    pub id: String,
    /// Phone numbers in it are masked unless the channel shows them.
    pub text: String,
    /// A pseudonym, or the number when the channel shows them.
    pub sender: String,
    pub received_at: String,
    pub place: String,
    pub language: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelVars {
    pub name: String,
    /// `email`, `sms`, `webhook` or `log`.
    pub kind: String,
}

/// What besides the alert a message is made from.
pub struct Inputs<'a> {
    pub alert: &'a Alert,
    pub transition: Transition,
    /// Reports from the alert's evidence (see [`evidence_to_fetch`]).
    pub reports: &'a [StoredReport],
    /// `http.public_url`, for links.
    pub public_url: &'a str,
    pub channel: &'a str,
    pub kind: &'a str,
    pub show_phone_numbers: bool,
}

/// The evidence a message needs: the oldest, and the newest few.
pub fn evidence_to_fetch(alert: &Alert) -> Vec<String> {
    let evidence = &alert.evidence;
    let mut ids: Vec<String> = evidence.iter().rev().take(SAMPLES).cloned().collect();
    if let Some(first) = evidence.first()
        && !ids.contains(first)
    {
        ids.push(first.clone());
    }
    ids
}

pub fn build(inputs: &Inputs) -> MessageContext {
    let alert = inputs.alert;
    let by_id: BTreeMap<&str, &StoredReport> =
        inputs.reports.iter().map(|r| (r.id.as_str(), r)).collect();
    let time_of = |id: Option<&String>| {
        id.and_then(|id| by_id.get(id.as_str()))
            .map(|r| human_time(r.sent_at.unwrap_or(r.received_at)))
            .unwrap_or_default()
    };
    let samples = alert
        .evidence
        .iter()
        .rev()
        .filter_map(|id| by_id.get(id.as_str()))
        .take(SAMPLES)
        .map(|r| sample(r, inputs.show_phone_numbers))
        .collect();
    let base = inputs.public_url.trim_end_matches('/');
    let state = match inputs.transition {
        Transition::Fired => AlertState::Firing,
        Transition::Resolved => AlertState::Resolved,
    };
    MessageContext {
        alert: AlertVars {
            id: alert.id.to_string(),
            state: state.as_str().to_owned(),
            fired_at: human_time(alert.fired_at),
            resolved_at: alert.resolved_at.map(human_time).unwrap_or_default(),
            link: format!("{base}/v1/alerts/{}", alert.id),
            cap_link: format!("{base}/v1/alerts/{}/cap", alert.id),
        },
        rule: RuleVars {
            id: alert.rule.to_string(),
            description: alert.details.description.clone().unwrap_or_default(),
            severity: alert.severity.as_str().to_owned(),
            condition: alert.details.condition.clone(),
            labels: alert.details.labels.clone(),
        },
        group: group(alert, inputs.reports),
        count: number(alert.value),
        window: alert.details.window.clone().unwrap_or_default(),
        reports: ReportVars {
            count: alert.evidence.len(),
            first_at: time_of(alert.evidence.first()),
            last_at: time_of(alert.evidence.last()),
            samples,
        },
        channel: ChannelVars {
            name: inputs.channel.to_owned(),
            kind: inputs.kind.to_owned(),
        },
    }
}

/// Names for the group's codes, taken from its reports: the notifier does
/// not load the gazetteer.
fn group(alert: &Alert, reports: &[StoredReport]) -> GroupVars {
    let fields = &alert.details.group;
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let places = || reports.iter().filter_map(|r| r.place.as_ref());
    let admin1 = field("admin1");
    let admin1_name = places()
        .find(|p| !admin1.is_empty() && p.admin1_code.as_deref() == Some(admin1.as_str()))
        .and_then(|p| p.admin1_name.clone())
        .unwrap_or_default();
    let place_id = field("place");
    let place_name = places()
        .find(|p| p.place_id.is_some_and(|id| id.to_string() == place_id))
        .and_then(|p| p.name.clone())
        .unwrap_or_default();
    let country = match field("country") {
        code if code.is_empty() => admin1.split('.').next().unwrap_or_default().to_owned(),
        code => code,
    };
    let country_name = crate::country::by_iso(&country)
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let most_precise = [&place_name, &admin1_name, &admin1]
        .into_iter()
        .find(|name| !name.is_empty())
        .cloned()
        .unwrap_or_default();
    let place = match (most_precise.is_empty(), country_name.is_empty()) {
        (false, false) => format!("{most_precise}, {country_name}"),
        (false, true) => most_precise,
        (true, _) => country_name.clone(),
    };
    GroupVars {
        key: alert.group.clone(),
        fields: fields.clone(),
        place,
        place_name,
        admin1,
        admin1_name,
        country,
        country_name,
        keyword: field("keyword"),
    }
}

fn sample(report: &StoredReport, show_phone_numbers: bool) -> SampleVars {
    let sender = if show_phone_numbers {
        report.sender.clone()
    } else {
        report.sender_pseudonym.clone()
    };
    let text = if show_phone_numbers {
        report.text.clone()
    } else {
        mask_phone_numbers(&report.text)
    };
    SampleVars {
        id: report.id.clone(),
        text,
        sender: sender.unwrap_or_default(),
        received_at: human_time(report.received_at),
        place: report
            .place
            .as_ref()
            .and_then(|p| p.name.clone().or_else(|| p.admin1_name.clone()))
            .unwrap_or_default(),
        language: report
            .language
            .as_ref()
            .map(|l| l.code.as_str().to_owned())
            .unwrap_or_default(),
    }
}

/// A number someone could call: international (`+254 712 345 678`) or
/// national (`0712-345-678`) with the separators people type, or nine
/// digits and more in one run. Dates and counts do not start with `+` or
/// `0` and are shorter.
static PHONE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+|\b0)\d(?:[\s.\-]?\d){7,}|\b\d{9,}\b").expect("valid pattern")
});

pub fn mask_phone_numbers(text: &str) -> String {
    PHONE_NUMBER.replace_all(text, "[phone]").into_owned()
}

/// Whole numbers print without `.0`.
fn number(value: f64) -> serde_json::Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serde_json::Value::from(value as i64)
    } else {
        serde_json::Value::from(value)
    }
}

pub fn human_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A context with every variable set, for checking templates before any
/// alert exists.
pub fn sample_context(
    rule: &str,
    group_fields: &[&str],
    labels: &BTreeMap<String, String>,
) -> MessageContext {
    let fields: BTreeMap<String, String> = group_fields
        .iter()
        .map(|name| ((*name).to_owned(), format!("<{name}>")))
        .collect();
    let sample = SampleVars {
        id: "01J0000000000000000000000".into(),
        text: "3 cholera cases at the market".into(),
        sender: "p_1234abcd".into(),
        received_at: "2026-01-01 08:00 UTC".into(),
        place: "Garissa".into(),
        language: "en".into(),
    };
    MessageContext {
        alert: AlertVars {
            id: "01J0000000000000000000000".into(),
            state: "firing".into(),
            fired_at: "2026-01-01 09:00 UTC".into(),
            resolved_at: String::new(),
            link: "http://localhost/v1/alerts/01J0000000000000000000000".into(),
            cap_link: "http://localhost/v1/alerts/01J0000000000000000000000/cap".into(),
        },
        rule: RuleVars {
            id: rule.to_owned(),
            description: "A sample".into(),
            severity: "severe".into(),
            condition: "count >= 3 in 1day".into(),
            labels: labels.clone(),
        },
        group: GroupVars {
            key: String::new(),
            fields,
            place: "Garissa, Kenya".into(),
            place_name: "Garissa".into(),
            admin1: "KE.07".into(),
            admin1_name: "Garissa".into(),
            country: "KE".into(),
            country_name: "Kenya".into(),
            keyword: "cholera".into(),
        },
        count: number(3.0),
        window: "1day".into(),
        reports: ReportVars {
            count: 3,
            first_at: "2026-01-01 07:00 UTC".into(),
            last_at: "2026-01-01 08:00 UTC".into(),
            samples: vec![sample],
        },
        channel: ChannelVars {
            name: "duty_desk".into(),
            kind: "email".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_in_texts_are_masked_but_counts_and_dates_are_not() {
        assert_eq!(
            mask_phone_numbers("call +254 712 345 678 or 0712-345-678 now"),
            "call [phone] or [phone] now"
        );
        assert_eq!(
            mask_phone_numbers("3 cases on 2026-01-05 12 beds"),
            "3 cases on 2026-01-05 12 beds"
        );
        assert_eq!(mask_phone_numbers("from 254712345678"), "from [phone]");
    }
}
