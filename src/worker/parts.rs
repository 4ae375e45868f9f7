//! Multipart SMS that the gateway did not join: parts are kept until their
//! group is complete, or given up on after `worker.concat_timeout_secs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::Enrich;
use super::alerting::Alerting;
use crate::enrich::EnrichedReport;
use crate::report::IncomingReport;
use crate::store::{Inserted, Store, StoreError};

/// Assembled parts are remembered this long to recognise redeliveries.
const PART_MEMORY: chrono::Duration = chrono::Duration::hours(24);

/// Keeps one part; stores the whole message once its last part is in and
/// returns it, to be counted. `None` means the part is held, waiting for
/// its siblings.
pub(super) async fn store_part(
    store: &dyn Store,
    enrich: &Enrich,
    part: &IncomingReport,
) -> Result<Option<(EnrichedReport, Inserted)>, StoreError> {
    let Some(info) = &part.part else {
        return Err(StoreError::Corrupt("store_part needs a part".into()));
    };
    let parts = store.add_part(part).await?;
    let Some(whole) = assemble(&parts, false) else {
        return Ok(None);
    };
    let whole = enrich.one(whole).await.map_err(StoreError::Corrupt)?;
    let inserted = store.complete_parts(&info.group, &whole).await?;
    Ok(Some((whole, inserted)))
}

/// Joins a group's parts in order. Without `partial`, only a complete
/// group is joined; with it, what arrived is joined and the missing part
/// numbers recorded.
pub fn assemble(parts: &[IncomingReport], partial: bool) -> Option<IncomingReport> {
    let total = parts
        .iter()
        .filter_map(|p| p.part.as_ref())
        .map(|p| p.total)
        .max()?;
    let by_index: BTreeMap<u16, &IncomingReport> = parts
        .iter()
        .filter_map(|p| p.part.as_ref().map(|info| (info.index, p)))
        .collect();
    let missing: Vec<u16> = (1..=total).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() && !partial {
        return None;
    }
    let first = *by_index.values().next()?;
    let text: String = by_index.values().map(|p| p.text.as_str()).collect();
    let mut whole = first.clone();
    whole.text = crate::report::Text::parse(&text).ok()?;
    whole.part = None;
    whole.meta.insert(
        "part_ids".into(),
        by_index
            .values()
            .map(|p| p.source_id.as_str())
            .collect::<Vec<_>>()
            .into(),
    );
    if !missing.is_empty() {
        whole.meta.insert("concat_missing".into(), missing.into());
    }
    Some(whole)
}

/// Stores what arrived of multipart messages whose parts stopped coming.
pub(super) async fn sweep_parts(
    store: Arc<dyn Store>,
    enrich: Enrich,
    rules: Arc<Alerting>,
    timeout: Duration,
) {
    let every = (timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        let cutoff = Utc::now() - chrono::Duration::from_std(timeout).unwrap_or_default();
        if let Err(e) = sweep_once(&*store, &enrich, &rules, cutoff).await {
            tracing::warn!(error = %e, "multipart sweep failed; will retry");
        }
    }
}

async fn sweep_once(
    store: &dyn Store,
    enrich: &Enrich,
    rules: &Alerting,
    cutoff: chrono::DateTime<Utc>,
) -> Result<(), StoreError> {
    for group in store.stale_part_groups(cutoff).await? {
        let parts = store.parts_of(&group).await?;
        if let Some(partial) = assemble(&parts, true) {
            tracing::info!(id = %partial.id, "storing a multipart SMS with parts missing");
            let partial = enrich.one(partial).await.map_err(StoreError::Corrupt)?;
            let inserted = store.complete_parts(&group, &partial).await?;
            super::count(rules, &[(&partial, inserted)]).await;
        }
    }
    store.purge_parts(Utc::now() - PART_MEMORY).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{MessagePart, ReportId, Source, SourceId, Text};

    fn part(index: u16, total: u16, text: &str) -> IncomingReport {
        IncomingReport {
            id: ReportId::new(),
            source: Source::new("vonage"),
            source_id: SourceId::given(&format!("msg-{index}")).unwrap(),
            sender: None,
            sender_pseudonym: None,
            recipient: None,
            text: Text::parse(text).unwrap(),
            sent_at: None,
            received_at: Utc::now(),
            location: None,
            meta: Default::default(),
            part: Some(MessagePart {
                group: "g".into(),
                index,
                total,
            }),
        }
    }

    #[test]
    fn complete_groups_join_in_part_order_under_part_ones_id() {
        let parts = [
            part(2, 3, " in Garissa"),
            part(1, 3, "Cholera"),
            part(3, 3, ", 3 dead"),
        ];
        let whole = assemble(&parts, false).unwrap();
        assert_eq!(whole.text.as_str(), "Cholera in Garissa, 3 dead");
        assert_eq!(whole.source_id.as_str(), "msg-1");
        assert_eq!(
            whole.meta["part_ids"],
            serde_json::json!(["msg-1", "msg-2", "msg-3"])
        );
        assert!(whole.part.is_none());
    }

    #[test]
    fn incomplete_groups_wait_unless_given_up_on() {
        let parts = [part(1, 3, "Cholera"), part(3, 3, " dead")];
        assert!(assemble(&parts, false).is_none());
        let partial = assemble(&parts, true).unwrap();
        assert_eq!(partial.text.as_str(), "Cholera dead");
        assert_eq!(partial.meta["concat_missing"], serde_json::json!([2]));
    }
}
