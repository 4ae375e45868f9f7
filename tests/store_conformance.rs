//! The conformance suite of [`Store`] (its report, alert and delivery
//! stores, every method of each): every case is one generic function,
//! run against PostgreSQL (`PgStore` on a fresh database, dropped at the
//! end) and against SQLite (`SqliteStore` on a file in a temporary
//! directory), both migrated first. Both must pass all of it.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use ishara::alert::delivery::{
    Attempt, AttemptStatus, NotificationClaim, NotificationKey, Transition,
};
use ishara::alert::{Alert, AlertDetails, AlertId, AlertState, RuleId, Severity};
use ishara::enrich::language::{LanguageCode, LanguageGuess};
use ishara::enrich::locate::{PlaceGuess, PlaceKind, PlaceMethod};
use ishara::enrich::{EnrichedReport, Enrichment};
use ishara::phone::{PhoneNormalizer, SenderKind};
use ishara::report::{Coordinates, IncomingReport, MessagePart, ReportId, Source, SourceId, Text};
use ishara::store::{AlertQuery, Inserted, ListQuery, PgStore, SqliteStore, Store, StoredReport};
use ishara::worker::assemble;
use serde_json::json;
use tokio::time::timeout;

/// A whole case, so that no test can hang.
const CASE_LIMIT: Duration = Duration::from_secs(60);

// ----------------------------------------------------------------- helpers

/// Now, to the millisecond: what both databases keep exactly.
fn now() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis())
        .single()
        .expect("a valid time")
}

fn hours(n: i64) -> chrono::Duration {
    chrono::Duration::hours(n)
}

/// A report with every field set.
fn report(source: &str, source_id: &str, text: &str) -> IncomingReport {
    let sender = PhoneNormalizer::new(Some("KE"))
        .expect("KE is known")
        .normalize("0712345678");
    IncomingReport {
        id: ReportId::new(),
        source: Source::new(source),
        source_id: SourceId::given(source_id).expect("a source id"),
        sender: Some(sender),
        sender_pseudonym: Some("p-7f3a9c1e".into()),
        recipient: Some("22384".into()),
        text: Text::parse(text).expect("text"),
        sent_at: Some("2025-03-01T08:15:01.250Z".parse().expect("a time")),
        received_at: now(),
        location: Some(Coordinates::new(-0.4532, 39.6461).expect("coordinates")),
        meta: json!({
            "gateway": "twilio",
            "segments": 2,
            "tags": ["cholera", "flood"],
            "nested": {"ok": true, "note": null},
        })
        .as_object()
        .cloned()
        .and_then(|m| ishara::report::Meta::parse(m).ok())
        .expect("an object"),
        part: None,
    }
}

/// What the worker would add: Swahili, Garissa found in the text; nothing
/// for a report without a sender.
fn enriched(report: &IncomingReport) -> EnrichedReport {
    let enrichment = if report.sender.is_none() {
        Enrichment::nothing()
    } else {
        Enrichment {
            language: garissa_language(),
            place: garissa_place(),
        }
    };
    EnrichedReport {
        report: report.clone(),
        enrichment,
    }
}

fn garissa_language() -> LanguageGuess {
    LanguageGuess {
        code: LanguageCode::from_stored("sw".into()),
        confidence: 0.875,
    }
}

fn garissa_place() -> PlaceGuess {
    PlaceGuess {
        method: PlaceMethod::Text,
        kind: PlaceKind::Place,
        place_id: Some(197745),
        name: Some("Garissa".into()),
        country: Some("KE".into()),
        admin1_code: Some("KE.06".into()),
        admin1_name: Some("Garissa".into()),
        lat: Some(-0.45275),
        lon: Some(39.64601),
        confidence: 0.75,
    }
}

/// Part `index` of `total` of a multipart message in `group`.
fn part(
    group: &str,
    index: u16,
    total: u16,
    text: &str,
    received_at: DateTime<Utc>,
) -> IncomingReport {
    let mut part = report("vonage", &format!("{group}-part-{index}"), text);
    part.received_at = received_at;
    part.part = Some(MessagePart {
        group: group.into(),
        index,
        total,
    });
    part
}

/// The same part again, as a gateway retry or a queue redelivery brings
/// it: same dedup key, new id of ours.
fn again(report: &IncomingReport) -> IncomingReport {
    let mut copy = report.clone();
    copy.id = ReportId::new();
    copy
}

fn by_index(mut parts: Vec<IncomingReport>) -> Vec<IncomingReport> {
    parts.sort_by_key(|p| p.part.as_ref().map(|p| p.index));
    parts
}

async fn list(store: &dyn Store, limit: u32, before: Option<&str>) -> Vec<StoredReport> {
    store
        .list_reports(&ListQuery {
            limit,
            before: before.map(|id| id.parse().expect("a report id")),
        })
        .await
        .expect("list reports")
}

fn ids(reports: &[StoredReport]) -> Vec<String> {
    reports.iter().map(|r| r.id.clone()).collect()
}

async fn stale(store: &dyn Store, before: DateTime<Utc>) -> Vec<String> {
    let mut groups = store
        .stale_part_groups(before)
        .await
        .expect("stale part groups");
    groups.sort();
    groups
}

// ------------------------------------------------------------------- cases

/// A report is stored once per dedup key (source and source id), whatever
/// our id of it, and reads back with every field intact.
async fn insert_is_once_per_dedup_key(store: &dyn Store) {
    let first = report(
        "twilio",
        "SM0001",
        "Mafuriko Garissa — watu 3, chole\u{301}ra",
    );
    let start = Utc::now() - chrono::Duration::seconds(1);
    assert_eq!(
        store
            .insert_report(&enriched(&first))
            .await
            .expect("insert"),
        Inserted::New
    );
    let end = Utc::now() + chrono::Duration::seconds(1);

    let mut retry = again(&first);
    retry.text = Text::parse("the same message, retried").expect("text");
    assert_eq!(
        store
            .insert_report(&enriched(&retry))
            .await
            .expect("insert"),
        Inserted::Duplicate,
        "same source and source id, another id of ours"
    );
    assert_eq!(
        store
            .insert_report(&enriched(&first))
            .await
            .expect("insert"),
        Inserted::Duplicate,
        "the very same report again"
    );

    let listed = list(store, 10, None).await;
    assert_eq!(listed.len(), 1, "stored once: {listed:#?}");
    let stored = &listed[0];
    assert_eq!(
        stored,
        &StoredReport {
            id: first.id.to_string(),
            source: "twilio".into(),
            source_id: "SM0001".into(),
            sender: Some("+254712345678".into()),
            sender_kind: Some("e164".into()),
            sender_pseudonym: Some("p-7f3a9c1e".into()),
            recipient: Some("22384".into()),
            text: "Mafuriko Garissa — watu 3, choléra".into(),
            sent_at: Some("2025-03-01T08:15:01.250Z".parse().expect("a time")),
            received_at: first.received_at,
            stored_at: stored.stored_at,
            lat: Some(-0.4532),
            lon: Some(39.6461),
            meta: serde_json::Value::Object(first.meta.clone().into()),
            language: Some(garissa_language()),
            place: Some(garissa_place()),
        }
    );
    assert!(
        (start..=end).contains(&stored.stored_at),
        "stored_at {} is the time of the insert",
        stored.stored_at
    );
    assert_eq!(
        first.sender.as_ref().map(|s| s.kind),
        Some(SenderKind::E164)
    );

    // The source is part of the key: the same id from another source is
    // another message.
    let other_source = report("vonage", "SM0001", "Another gateway's SM0001");
    assert_eq!(
        store
            .insert_report(&enriched(&other_source))
            .await
            .expect("insert"),
        Inserted::New
    );

    // A report with nothing optional reads back with nothing.
    let mut bare = report("generic", "g-1", "Bridge down at Madogo");
    bare.sender = None;
    bare.sender_pseudonym = None;
    bare.recipient = None;
    bare.sent_at = None;
    bare.location = None;
    bare.meta.clear();
    assert_eq!(
        store.insert_report(&enriched(&bare)).await.expect("insert"),
        Inserted::New
    );
    let listed = list(store, 10, None).await;
    assert_eq!(
        ids(&listed),
        [bare.id, other_source.id, first.id].map(|id| id.to_string())
    );
    let stored = &listed[0];
    assert_eq!(
        (
            &stored.sender,
            &stored.sender_kind,
            &stored.sender_pseudonym,
            &stored.recipient,
            stored.sent_at,
            stored.lat,
            stored.lon,
            &stored.meta,
        ),
        (&None, &None, &None, &None, None, None, None, &json!({}))
    );
    assert_eq!(
        (&stored.language, &stored.place),
        (
            &Some(LanguageGuess::undetermined()),
            &Some(PlaceGuess::none())
        ),
        "nothing worked out is stored as und and none, not as missing"
    );
    assert_eq!(stored.text, "Bridge down at Madogo");
}

/// A batch is stored in one go, each report once: duplicates of stored
/// reports and repeats inside the batch come back as duplicates, in order.
async fn batch_insert_answers_per_report_in_order(store: &dyn Store) {
    let stored_before = report("twilio", "SM-batch-0", "already here");
    assert_eq!(
        store
            .insert_report(&enriched(&stored_before))
            .await
            .expect("insert"),
        Inserted::New
    );
    let fresh = report("twilio", "SM-batch-1", "new one");
    let repeat = again(&fresh);
    let other = report("twilio", "SM-batch-2", "another new one");
    let batch: Vec<EnrichedReport> = [&again(&stored_before), &fresh, &repeat, &other]
        .into_iter()
        .map(enriched)
        .collect();
    assert_eq!(
        store.insert_reports(&batch).await.expect("insert batch"),
        [
            Inserted::Duplicate,
            Inserted::New,
            Inserted::Duplicate,
            Inserted::New
        ]
    );
    assert_eq!(store.insert_reports(&[]).await.expect("empty batch"), []);
    let listed = list(store, 10, None).await;
    assert_eq!(
        ids(&listed),
        [other.id, fresh.id, stored_before.id].map(|id| id.to_string()),
        "each dedup key once, under the id of its first copy"
    );
}

/// A worker's batch can hold thousands of reports (grouped messages):
/// more values than one SQL statement may bind. All are stored, once.
async fn a_batch_too_big_for_one_statement_is_stored_whole(store: &dyn Store) {
    let batch: Vec<EnrichedReport> = (0..2600)
        .map(|i| {
            enriched(&report(
                "twilio",
                &format!("SM-big-{i}"),
                "Flood at the bridge",
            ))
        })
        .collect();
    let first = store.insert_reports(&batch).await.expect("insert");
    assert!(first.iter().all(|o| *o == Inserted::New), "all new");
    let again: Vec<EnrichedReport> = batch.iter().map(|e| enriched(&again(&e.report))).collect();
    let second = store.insert_reports(&again).await.expect("insert again");
    assert_eq!(second.len(), 2600);
    assert!(
        second.iter().all(|o| *o == Inserted::Duplicate),
        "every one was stored the first time"
    );
}

/// Reports list newest first by id, whatever order they were stored in,
/// and pages by `before` without overlap or gap.
async fn list_is_newest_first_and_pages_without_gaps(store: &dyn Store) {
    let reports: Vec<IncomingReport> = (0..7)
        .map(|i| report("twilio", &format!("SM-page-{i}"), &format!("report {i}")))
        .collect();
    for i in [3, 0, 6, 1, 5, 2, 4] {
        assert_eq!(
            store
                .insert_report(&enriched(&reports[i]))
                .await
                .expect("insert"),
            Inserted::New
        );
    }
    let newest_first: Vec<String> = reports.iter().rev().map(|r| r.id.to_string()).collect();

    let all = list(store, 100, None).await;
    assert_eq!(ids(&all), newest_first);
    assert_eq!(
        all.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
        (0..7)
            .rev()
            .map(|i| format!("report {i}"))
            .collect::<Vec<_>>()
    );

    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = ids(&list(store, 3, before.as_deref()).await);
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3, "a page holds at most the limit");
        before = page.last().cloned();
        pages.push(page);
        assert!(pages.len() <= 7, "paging does not end: {pages:?}");
    }
    assert_eq!(
        pages,
        [
            newest_first[0..3].to_vec(),
            newest_first[3..6].to_vec(),
            newest_first[6..7].to_vec(),
        ]
    );
    assert_eq!(
        ids(&list(store, 2, Some(&newest_first[1])).await),
        newest_first[2..4],
        "`before` excludes the report it names"
    );
}

/// `add_part` keeps each part once and returns what its group holds.
async fn add_part_keeps_each_part_once(store: &dyn Store) {
    let first = part("g1", 1, 2, "Cholera cases ", now());
    assert_eq!(
        store.add_part(&first).await.expect("add part"),
        std::slice::from_ref(&first)
    );
    assert_eq!(
        store.add_part(&first).await.expect("add part"),
        std::slice::from_ref(&first),
        "the same part twice"
    );
    assert_eq!(
        store.add_part(&again(&first)).await.expect("add part"),
        std::slice::from_ref(&first),
        "a redelivery keeps the part first held"
    );

    let elsewhere = part("g2", 1, 2, "Another message", now());
    assert_eq!(
        store.add_part(&elsewhere).await.expect("add part"),
        std::slice::from_ref(&elsewhere),
        "groups are apart"
    );

    let second = part("g1", 2, 2, "in Garissa", now());
    assert_eq!(
        by_index(store.add_part(&second).await.expect("add part")),
        [first.clone(), second.clone()]
    );
    assert_eq!(
        by_index(store.parts_of("g1").await.expect("parts of")),
        [first, second]
    );
    assert_eq!(store.parts_of("g2").await.expect("parts of"), [elsewhere]);
    assert_eq!(store.parts_of("nothing").await.expect("parts of"), []);
    assert_eq!(list(store, 10, None).await, [], "parts are not reports");
}

/// `complete_parts` stores the assembled message once and the group's
/// parts are then remembered as done: a redelivered part does not start
/// the group again.
async fn complete_parts_stores_once_and_remembers_the_parts(store: &dyn Store) {
    let first = part("g1", 1, 2, "Cholera cases ", now());
    let second = part("g1", 2, 2, "in Garissa", now());
    store.add_part(&first).await.expect("add part");
    let parts = store.add_part(&second).await.expect("add part");
    let whole = assemble(&parts, false).expect("a complete group");
    assert_eq!(
        store
            .complete_parts("g1", &enriched(&whole))
            .await
            .expect("complete"),
        Inserted::New
    );
    assert_eq!(
        store.parts_of("g1").await.expect("parts of"),
        [],
        "nothing left to assemble"
    );

    let listed = list(store, 10, None).await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0].id, first.id.to_string());
    assert_eq!(listed[0].text, "Cholera cases in Garissa");
    assert_eq!(
        listed[0].meta["part_ids"],
        json!(["g1-part-1", "g1-part-2"])
    );

    for redelivered in [again(&second), again(&first), second.clone()] {
        assert_eq!(
            store.add_part(&redelivered).await.expect("add part"),
            [],
            "a part of an assembled group is not held again"
        );
    }
    assert_eq!(store.parts_of("g1").await.expect("parts of"), []);
    assert_eq!(
        store
            .complete_parts("g1", &enriched(&whole))
            .await
            .expect("complete"),
        Inserted::Duplicate,
        "completing again stores nothing"
    );
    assert_eq!(ids(&list(store, 10, None).await), [first.id.to_string()]);
}

/// `stale_part_groups(before)` finds the groups still waiting with a part
/// received before the cutoff, and no others.
async fn stale_part_groups_finds_groups_waiting_too_long(store: &dyn Store) {
    let now = now();
    let old = now - hours(2);
    store
        .add_part(&part("old", 1, 3, "one", old))
        .await
        .expect("add part");
    store
        .add_part(&part("old", 3, 3, "three", old))
        .await
        .expect("add part");
    store
        .add_part(&part("mixed", 1, 3, "one", old))
        .await
        .expect("add part");
    store
        .add_part(&part("mixed", 2, 3, "two", now))
        .await
        .expect("add part");
    store
        .add_part(&part("fresh", 1, 2, "one", now))
        .await
        .expect("add part");
    let done = part("done", 1, 1, "all of it", old);
    let parts = store.add_part(&done).await.expect("add part");
    let whole = assemble(&parts, false).expect("a complete group");
    store
        .complete_parts("done", &enriched(&whole))
        .await
        .expect("complete");

    assert_eq!(stale(store, now - hours(1)).await, ["mixed", "old"]);
    assert_eq!(stale(store, now - hours(3)).await, Vec::<String>::new());
    assert_eq!(
        stale(store, now + hours(1)).await,
        ["fresh", "mixed", "old"],
        "assembled groups are never stale"
    );
}

/// `purge_parts(before)` forgets assembled parts received before the
/// cutoff, and only those; a forgotten part is held again if it comes.
async fn purge_parts_forgets_old_assembled_parts(store: &dyn Store) {
    let now = now();
    let old = now - hours(48);
    let a1 = part("a", 1, 2, "old and ", old);
    let a2 = part("a", 2, 2, "assembled", old);
    store.add_part(&a1).await.expect("add part");
    let parts = store.add_part(&a2).await.expect("add part");
    let whole = assemble(&parts, false).expect("a complete group");
    store
        .complete_parts("a", &enriched(&whole))
        .await
        .expect("complete");

    let b1 = part("b", 1, 1, "recent and assembled", now);
    let parts = store.add_part(&b1).await.expect("add part");
    let whole = assemble(&parts, false).expect("a complete group");
    store
        .complete_parts("b", &enriched(&whole))
        .await
        .expect("complete");

    let c1 = part("c", 1, 2, "old and waiting", old);
    store.add_part(&c1).await.expect("add part");

    assert_eq!(
        store.purge_parts(now - hours(24)).await.expect("purge"),
        2,
        "the two old assembled parts"
    );
    assert_eq!(
        store.purge_parts(now - hours(24)).await.expect("purge"),
        0,
        "purging again"
    );
    assert_eq!(
        store.parts_of("c").await.expect("parts of"),
        [c1],
        "parts still waiting are kept"
    );
    assert_eq!(
        store.add_part(&again(&b1)).await.expect("add part"),
        [],
        "recent assembled parts are still remembered"
    );
    let a1_again = again(&a1);
    assert_eq!(
        store.add_part(&a1_again).await.expect("add part"),
        [a1_again],
        "a purged part is forgotten"
    );
    assert_eq!(list(store, 10, None).await.len(), 2, "reports are kept");
}

fn firing_alert(rule: &str, fired_at: DateTime<Utc>) -> Alert {
    Alert {
        id: AlertId::new(),
        rule: RuleId::parse(rule).expect("a rule id"),
        group: "admin1=KE.16".into(),
        state: AlertState::Firing,
        severity: Severity::Severe,
        fired_at,
        resolved_at: None,
        value: 3.0,
        evidence: vec!["r1".into()],
        resolved_evidence: None,
        details: AlertDetails {
            notify: vec!["duty_desk".into()],
            ..AlertDetails::default()
        },
    }
}

async fn owed(store: &dyn Store, before: DateTime<Utc>) -> Vec<(AlertId, Transition)> {
    store
        .unpublished(before, 100)
        .await
        .expect("unpublished")
        .into_iter()
        .map(|(alert, transition)| (alert.id, transition))
        .collect()
}

async fn firings_and_resolutions_wait_until_published(store: &dyn Store) {
    let fired_at = now() - hours(1);
    let alert = firing_alert("cholera", fired_at);
    store.insert_alert(&alert).await.expect("insert alert");
    assert_eq!(
        owed(store, fired_at - hours(1)).await,
        [],
        "younger than asked for"
    );
    assert_eq!(
        owed(store, now()).await,
        [(alert.id.clone(), Transition::Fired)]
    );
    store
        .mark_published(&alert.id, Transition::Fired)
        .await
        .expect("mark");
    assert_eq!(owed(store, now()).await, []);

    let resolved_at = now();
    assert!(
        store
            .resolve_alert(&alert.id, resolved_at, &[])
            .await
            .expect("resolve")
    );
    assert_eq!(
        owed(store, resolved_at).await,
        [(alert.id.clone(), Transition::Resolved)]
    );
    store
        .mark_published(&alert.id, Transition::Resolved)
        .await
        .expect("mark");
    assert_eq!(owed(store, resolved_at).await, []);
}

fn attempt(key: &NotificationKey, n: u32, status: AttemptStatus, at: DateTime<Utc>) -> Attempt {
    Attempt {
        transition: key.transition,
        channel: key.channel.clone(),
        kind: "email".into(),
        recipient: key.recipient.clone(),
        attempt: n,
        status,
        error: (status != AttemptStatus::Sent).then(|| "451 try later".to_owned()),
        provider_id: (status == AttemptStatus::Sent).then(|| "250 ok".to_owned()),
        at,
    }
}

async fn a_notification_is_one_notifiers_until_its_lease_runs_out(store: &dyn Store) {
    let key = NotificationKey {
        alert_id: AlertId::new(),
        transition: Transition::Fired,
        channel: "duty_desk".into(),
        recipient: "ps_0123456789abcdef0123".into(),
    };
    let t0 = now();
    let lease = t0 + chrono::Duration::seconds(120);
    assert_eq!(
        store
            .claim_notification(&key, t0, lease)
            .await
            .expect("claim"),
        NotificationClaim::Claimed { attempts: 0 }
    );
    assert_eq!(
        store
            .claim_notification(&key, t0, lease)
            .await
            .expect("claim"),
        NotificationClaim::Busy { until: lease },
        "held by the first claimant"
    );
    let other = NotificationKey {
        recipient: "ps_ffffffffffffffffffff".into(),
        ..key.clone()
    };
    assert_eq!(
        store
            .claim_notification(&other, t0, lease)
            .await
            .expect("claim"),
        NotificationClaim::Claimed { attempts: 0 },
        "each recipient is claimed apart"
    );

    // A notifier waiting its turn keeps its claim.
    let renewed = t0 + chrono::Duration::seconds(300);
    store
        .renew_notification(&key, renewed)
        .await
        .expect("renew");
    let after_first_lease = lease + chrono::Duration::seconds(1);
    assert_eq!(
        store
            .claim_notification(&key, after_first_lease, after_first_lease)
            .await
            .expect("claim"),
        NotificationClaim::Busy { until: renewed },
        "the renewed lease holds"
    );

    // A failed attempt renews the lease; once it runs out (the notifier
    // died), the next claimant resumes the count.
    let retry_lease = t0 + chrono::Duration::seconds(10);
    store
        .record_attempt(
            &key,
            &attempt(&key, 1, AttemptStatus::Failed, t0),
            retry_lease,
        )
        .await
        .expect("record");
    let later = retry_lease + chrono::Duration::seconds(1);
    assert_eq!(
        store
            .claim_notification(&key, later, later + chrono::Duration::seconds(120))
            .await
            .expect("claim"),
        NotificationClaim::Claimed { attempts: 1 }
    );
    store
        .record_attempt(&key, &attempt(&key, 2, AttemptStatus::Sent, later), later)
        .await
        .expect("record");
    let much_later = later + hours(1);
    assert_eq!(
        store
            .claim_notification(&key, much_later, much_later)
            .await
            .expect("claim"),
        NotificationClaim::Done,
        "sent is sent"
    );

    let attempts = store.attempts(&key.alert_id).await.expect("attempts");
    assert_eq!(
        attempts,
        [
            attempt(&key, 1, AttemptStatus::Failed, t0),
            attempt(&key, 2, AttemptStatus::Sent, later)
        ]
    );
    assert_eq!(store.attempts(&AlertId::new()).await.expect("attempts"), []);
}

async fn reports_by_ids_finds_those_asked_for(store: &dyn Store) {
    let batch: Vec<EnrichedReport> = ["one", "two", "three"]
        .iter()
        .map(|id| enriched(&report("generic", id, "cholera")))
        .collect();
    store.insert_reports(&batch).await.expect("insert");
    let wanted = vec![
        batch[0].report.id.to_string(),
        batch[2].report.id.to_string(),
        ReportId::new().to_string(),
    ];
    let mut found = ids(&store.reports_by_ids(&wanted).await.expect("by ids"));
    found.sort();
    let mut expected = wanted[..2].to_vec();
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(store.reports_by_ids(&[]).await.expect("by ids"), []);
}

async fn alert_ids(store: &dyn Store, query: AlertQuery) -> Vec<AlertId> {
    let alerts = store.list_alerts(&query).await.expect("list alerts");
    alerts.into_iter().map(|a| a.id).collect()
}

fn alerts_query(limit: u32) -> AlertQuery {
    AlertQuery {
        limit,
        before: None,
        state: None,
        rule: None,
    }
}

async fn alerts_list_newest_first_filter_and_page(store: &dyn Store) {
    let at = now() - hours(3);
    let cholera = firing_alert("cholera", at);
    let flood = firing_alert("flood", at + hours(1));
    let resolved = firing_alert("cholera", at + hours(2));
    for alert in [&cholera, &flood, &resolved] {
        assert_eq!(
            store.insert_alert(alert).await.expect("insert"),
            Inserted::New
        );
    }
    assert_eq!(
        store.insert_alert(&cholera).await.expect("insert again"),
        Inserted::Duplicate
    );
    assert!(
        store
            .resolve_alert(&resolved.id, now(), &["r1".into()])
            .await
            .expect("resolve")
    );
    assert!(
        !store
            .resolve_alert(&resolved.id, now(), &[])
            .await
            .expect("resolve again"),
        "resolved once"
    );

    let newest_first = [resolved.id.clone(), flood.id.clone(), cholera.id.clone()];
    assert_eq!(alert_ids(store, alerts_query(10)).await, newest_first);
    assert_eq!(alert_ids(store, alerts_query(1)).await, newest_first[..1]);
    let after_first = AlertQuery {
        before: Some(resolved.id.to_string()),
        ..alerts_query(10)
    };
    assert_eq!(alert_ids(store, after_first).await, newest_first[1..]);
    let firing = AlertQuery {
        state: Some(AlertState::Firing),
        ..alerts_query(10)
    };
    assert_eq!(
        alert_ids(store, firing).await,
        [flood.id.clone(), cholera.id.clone()]
    );
    let of_rule = AlertQuery {
        rule: Some("cholera".into()),
        ..alerts_query(10)
    };
    assert_eq!(
        alert_ids(store, of_rule).await,
        [resolved.id.clone(), cholera.id.clone()]
    );

    // One alert, read back whole.
    let read = store
        .alert(&flood.id)
        .await
        .expect("alert")
        .expect("stored");
    assert_eq!(read, flood);
    let read = store
        .alert(&resolved.id)
        .await
        .expect("alert")
        .expect("stored");
    assert_eq!(read.state, AlertState::Resolved);
    assert_eq!(read.resolved_evidence, Some(vec!["r1".to_string()]));
    assert!(read.resolved_at.is_some());
    assert_eq!(store.alert(&AlertId::new()).await.expect("alert"), None);
}

async fn alerts_to_restore_are_the_firing_and_the_recently_resolved(store: &dyn Store) {
    let at = now() - hours(10);
    let long_resolved = firing_alert("cholera", at);
    let firing = firing_alert("cholera", at + hours(1));
    let lately_resolved = firing_alert("flood", at + hours(8));
    for alert in [&long_resolved, &firing, &lately_resolved] {
        store.insert_alert(alert).await.expect("insert");
    }
    for alert in [&long_resolved, &lately_resolved] {
        assert!(
            store
                .resolve_alert(&alert.id, now(), &[])
                .await
                .expect("resolve")
        );
    }
    let mut restored: Vec<AlertId> = store
        .alerts_to_restore(at + hours(5))
        .await
        .expect("to restore")
        .into_iter()
        .map(|a| a.id)
        .collect();
    restored.sort();
    assert_eq!(restored, [firing.id, lately_resolved.id]);
    let everything = store
        .alerts_to_restore(at - hours(1))
        .await
        .expect("to restore");
    assert_eq!(everything.len(), 3);
}

async fn report_ids_map_dedup_keys_to_our_ids(store: &dyn Store) {
    let batch: Vec<EnrichedReport> = ["a", "b"]
        .iter()
        .map(|id| enriched(&report("generic", id, "cholera")))
        .collect();
    store.insert_reports(&batch).await.expect("insert");
    let keys = vec![
        batch[0].report.dedup_key(),
        batch[1].report.dedup_key(),
        "generic:never-sent".to_string(),
    ];
    let found = store.report_ids(&keys).await.expect("report ids");
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[&keys[0]], batch[0].report.id.to_string());
    assert_eq!(found[&keys[1]], batch[1].report.id.to_string());
    assert!(store.report_ids(&[]).await.expect("report ids").is_empty());
}

async fn reports_received_since_come_oldest_first_in_pages(store: &dyn Store) {
    let mut batch: Vec<EnrichedReport> = ["old", "one", "two", "three"]
        .iter()
        .map(|id| enriched(&report("generic", id, "cholera")))
        .collect();
    batch[0].report.received_at = now() - hours(48);
    store.insert_reports(&batch).await.expect("insert");
    let since = now() - hours(1);
    let page = |after: Option<String>, limit: u32| async move {
        let reports = store
            .reports_received_since(since, after.as_deref(), limit)
            .await
            .expect("received since");
        ids(&reports)
    };
    let recent: Vec<String> = batch[1..].iter().map(|e| e.report.id.to_string()).collect();
    assert_eq!(
        page(None, 10).await,
        recent,
        "oldest first, the old one left out"
    );
    assert_eq!(page(None, 2).await, recent[..2]);
    assert_eq!(page(Some(recent[1].clone()), 10).await, recent[2..]);
    let later = store
        .reports_received_since(now() + hours(1), None, 10)
        .await
        .expect("received since");
    assert_eq!(later, []);
}

// ------------------------------------------------------------------- tests

macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = common::TestDatabase::create().await;
                let store = PgStore::connect(&db.url, 4).await.expect("PostgreSQL");
                store.migrate().await.expect("migrations");
                timeout(CASE_LIMIT, super::$case(&store))
                    .await
                    .expect("the case finishes in time");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("ishara.sqlite").display());
                let store = SqliteStore::connect(&url, 4).await.expect("SQLite");
                store.migrate().await.expect("migrations");
                timeout(CASE_LIMIT, super::$case(&store))
                    .await
                    .expect("the case finishes in time");
            }
        }
    )+};
}

conformance!(
    insert_is_once_per_dedup_key,
    list_is_newest_first_and_pages_without_gaps,
    add_part_keeps_each_part_once,
    complete_parts_stores_once_and_remembers_the_parts,
    batch_insert_answers_per_report_in_order,
    a_batch_too_big_for_one_statement_is_stored_whole,
    stale_part_groups_finds_groups_waiting_too_long,
    purge_parts_forgets_old_assembled_parts,
    firings_and_resolutions_wait_until_published,
    a_notification_is_one_notifiers_until_its_lease_runs_out,
    reports_by_ids_finds_those_asked_for,
    alerts_list_newest_first_filter_and_page,
    alerts_to_restore_are_the_firing_and_the_recently_resolved,
    report_ids_map_dedup_keys_to_our_ids,
    reports_received_since_come_oldest_first_in_pages,
);
