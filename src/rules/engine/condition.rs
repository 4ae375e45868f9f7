//! What each condition means on a window's measure: the shape it needs
//! counted, whether it fires, whether it still holds, and how it reads.

use std::time::Duration;

use super::EVIDENCE;
use crate::rules::model::Condition;
use crate::window::{Measure, Shape};

pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub fn shape_of(condition: &Condition) -> Shape {
    let single = |window: Duration, senders: bool| Shape {
        window_ms: millis(window),
        windows: 1,
        senders,
        evidence: EVIDENCE,
        track_groups: false,
        retain_ms: millis(window),
    };
    match *condition {
        Condition::Count { window, .. } => single(window, false),
        Condition::DistinctSenders { window, .. } => single(window, true),
        Condition::FirstSeen { baseline } => single(baseline, false),
        Condition::Spike {
            window,
            baseline_windows,
            ..
        } => Shape {
            windows: 1 + baseline_windows,
            retain_ms: millis(window).saturating_mul(i64::from(1 + baseline_windows)),
            ..single(window, false)
        },
        Condition::Absence { baseline, silence } => Shape {
            track_groups: true,
            retain_ms: millis(baseline),
            ..single(silence, false)
        },
    }
}

/// What a firing says it measured, or `None` when the condition does not
/// hold. `arriving` is true when a report just joined the series.
pub(super) fn fires(condition: &Condition, measure: &Measure, arriving: bool) -> Option<f64> {
    let current = measure.counts.first().copied().unwrap_or(0);
    match *condition {
        Condition::Count { at_least, .. } => (current >= at_least).then_some(current as f64),
        Condition::DistinctSenders { at_least, .. } => {
            (measure.senders >= at_least).then_some(measure.senders as f64)
        }
        Condition::Spike {
            factor,
            baseline_windows,
            min_count,
            ..
        } => {
            let before: u64 = measure.counts.iter().skip(1).sum();
            let average = before as f64 / f64::from(baseline_windows.max(1));
            (current >= min_count && current as f64 >= factor * average).then_some(current as f64)
        }
        // Only the report that opens a series is news; later ones are not.
        // A redelivery of that report (its worker died before firing) is
        // news still: the claim makes sure it fires once.
        Condition::FirstSeen { .. } => (arriving && current == 1).then_some(1.0),
        // Silence fires from the timer, never from a report arriving.
        Condition::Absence { .. } => None,
    }
}

/// Whether a firing alert still holds, checked by the timer.
pub(super) fn still_holds(condition: &Condition, measure: &Measure) -> bool {
    let current = measure.counts.first().copied().unwrap_or(0);
    match condition {
        // A first sighting stays news until the group has been quiet for
        // the whole baseline.
        Condition::FirstSeen { .. } => current > 0,
        Condition::Absence { .. } => current == 0,
        other => fires(other, measure, false).is_some(),
    }
}

pub(super) fn describe(condition: &Condition) -> String {
    let h = |d: &Duration| humantime::format_duration(*d).to_string();
    match condition {
        Condition::Count { window, at_least } => format!("count >= {at_least} in {}", h(window)),
        Condition::DistinctSenders { window, at_least } => {
            format!("distinct senders >= {at_least} in {}", h(window))
        }
        Condition::Spike {
            window,
            factor,
            baseline_windows,
            min_count,
        } => format!(
            "count in {} >= {factor} x the average of the {baseline_windows} windows before, and >= {min_count}",
            h(window)
        ),
        Condition::Absence { baseline, silence } => format!(
            "no report for {} from a group that reported in the last {}",
            h(silence),
            h(baseline)
        ),
        Condition::FirstSeen { baseline } => {
            format!("first report with none in the {} before", h(baseline))
        }
    }
}

/// The span a message about this condition speaks of.
pub(super) fn window_of(condition: &Condition) -> Duration {
    match condition {
        Condition::Count { window, .. }
        | Condition::DistinctSenders { window, .. }
        | Condition::Spike { window, .. } => *window,
        Condition::Absence { silence, .. } => *silence,
        Condition::FirstSeen { baseline } => *baseline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(counts: &[u64], senders: u64, added: bool) -> Measure {
        Measure {
            added,
            counts: counts.to_vec(),
            senders,
            ..Measure::default()
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn count_fires_at_the_threshold() {
        let c = Condition::Count {
            window: HOUR,
            at_least: 3,
        };
        assert_eq!(fires(&c, &measure(&[2], 0, true), true), None);
        assert_eq!(fires(&c, &measure(&[3], 0, true), true), Some(3.0));
    }

    #[test]
    fn distinct_senders_ignore_repeats_of_one_sender() {
        let c = Condition::DistinctSenders {
            window: HOUR,
            at_least: 3,
        };
        assert_eq!(fires(&c, &measure(&[10], 1, true), true), None);
        assert_eq!(fires(&c, &measure(&[3], 3, true), true), Some(3.0));
    }

    #[test]
    fn spike_compares_with_the_average_of_the_windows_before() {
        let c = Condition::Spike {
            window: HOUR,
            factor: 3.0,
            baseline_windows: 4,
            min_count: 5,
        };
        // Average before: 2; 6 >= 3 x 2 and >= 5.
        assert_eq!(
            fires(&c, &measure(&[6, 2, 2, 2, 2], 0, true), true),
            Some(6.0)
        );
        assert_eq!(fires(&c, &measure(&[5, 2, 2, 2, 2], 0, true), true), None);
        // Below the minimum count, however quiet before.
        assert_eq!(fires(&c, &measure(&[4, 0, 0, 0, 0], 0, true), true), None);
    }

    #[test]
    fn first_seen_fires_only_for_the_report_that_opens_a_series() {
        let c = Condition::FirstSeen { baseline: HOUR };
        assert_eq!(fires(&c, &measure(&[1], 0, true), true), Some(1.0));
        assert_eq!(fires(&c, &measure(&[1], 0, false), true), Some(1.0));
        assert_eq!(fires(&c, &measure(&[2], 0, true), true), None);
        assert_eq!(fires(&c, &measure(&[1], 0, true), false), None);
        assert!(still_holds(&c, &measure(&[1], 0, false)));
        assert!(!still_holds(&c, &measure(&[0], 0, false)));
    }

    #[test]
    fn absence_never_fires_from_a_report_and_resolves_when_one_comes() {
        let c = Condition::Absence {
            baseline: HOUR * 24,
            silence: HOUR,
        };
        assert_eq!(fires(&c, &measure(&[0], 0, true), true), None);
        assert!(still_holds(&c, &measure(&[0], 0, false)));
        assert!(!still_holds(&c, &measure(&[1], 0, false)));
    }

    #[test]
    fn shapes_keep_what_their_condition_needs() {
        let spike = shape_of(&Condition::Spike {
            window: HOUR,
            factor: 2.0,
            baseline_windows: 6,
            min_count: 1,
        });
        assert_eq!(spike.windows, 7);
        assert_eq!(spike.retain_ms, 7 * 3_600_000);
        let absence = shape_of(&Condition::Absence {
            baseline: HOUR * 24,
            silence: HOUR,
        });
        assert!(absence.track_groups);
        assert_eq!(absence.window_ms, 3_600_000);
        assert_eq!(absence.retain_ms, 24 * 3_600_000);
    }
}
