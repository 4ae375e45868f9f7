//! What a queue message holds, written in one place and read in one place:
//! a report as JSON on the reports queue, a notification as JSON on the
//! alerts queue. Several reports may ride in one grouped message
//! ([`super::batch`]); each payload in it is still one report.
//!
//! Reading goes through the same checks as the edge (`Text`, `SourceId`,
//! `Coordinates` parse on the way in), since another producer on the queue
//! is outside input too.

use crate::alert::delivery::Notification;
use crate::report::IncomingReport;

/// A payload that is not what its queue carries.
#[derive(Debug, thiserror::Error)]
#[error("not a {what}: {source}")]
pub struct Undecodable {
    what: &'static str,
    source: serde_json::Error,
}

pub fn encode_report(report: &IncomingReport) -> Vec<u8> {
    serde_json::to_vec(report).expect("a report always serialises")
}

pub fn decode_report(payload: &[u8]) -> Result<IncomingReport, Undecodable> {
    serde_json::from_slice(payload).map_err(|source| Undecodable {
        what: "report",
        source,
    })
}

pub fn encode_notification(notification: &Notification) -> Vec<u8> {
    serde_json::to_vec(notification).expect("a notification always serialises")
}

pub fn decode_notification(payload: &[u8]) -> Result<Notification, Undecodable> {
    serde_json::from_slice(payload).map_err(|source| Undecodable {
        what: "notification",
        source,
    })
}
