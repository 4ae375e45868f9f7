//! What the worker works out before storing: the language a report is in
//! and where it is about, shown by `GET /v1/reports`. And what it does when
//! it cannot: a report the database refuses is dead-lettered with the
//! reason, a database outage holds reports until it is back.

mod common;

use std::time::Duration;

use common::*;
use ishara::report::{IncomingReport, ReportId, Source, SourceId, Text};
use serde_json::{Value, json};

async fn post_one(app: &TestApp, report: Value) {
    let response = app
        .post_reports("application/json", &report.to_string())
        .await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
}

fn by_source_id<'a>(reports: &'a [Value], id: &str) -> &'a Value {
    reports
        .iter()
        .find(|r| r["source_id"] == id)
        .unwrap_or_else(|| panic!("no report {id} in {reports:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swahili_sms_from_a_kenyan_number_gets_its_language_and_county() {
    let app = TestApp::embedded().await;
    post_one(
        &app,
        json!({
            "id": "sw-1",
            "text": "Watu watatu wamelazwa hospitalini na kipindupindu huko garisa leo asubuhi",
            "sender": "+254712345678",
        }),
    )
    .await;
    let reports = app.wait_for_reports(1).await;
    let report = by_source_id(&reports, "sw-1");
    assert_eq!(report["language"]["code"], "sw", "{report:#}");
    assert!(report["language"]["confidence"].as_f64().unwrap() > 0.5);
    let place = &report["place"];
    assert_eq!(place["method"], "text", "{place:#}");
    assert_eq!(place["country"], "KE");
    assert_eq!(
        place["admin1_code"], "KE.16",
        "Garissa county, despite the typo"
    );
    assert_eq!(place["admin1_name"], "Garissa");
    assert_eq!(place["place_id"], 197745);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinates_from_a_feed_resolve_to_their_admin_region() {
    let app = TestApp::embedded().await;
    post_one(
        &app,
        json!({
            "id": "geo-1",
            "text": "Bridge washed away, road closed to all vehicles",
            "lat": 0.5204,
            "lon": 35.2699,
        }),
    )
    .await;
    let reports = app.wait_for_reports(1).await;
    let report = by_source_id(&reports, "geo-1");
    assert_eq!(report["language"]["code"], "en");
    let place = &report["place"];
    assert_eq!(place["method"], "coordinates", "{place:#}");
    assert_eq!(place["admin1_code"], "KE.52", "Eldoret is in Uasin Gishu");
    assert_eq!(place["country"], "KE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_with_too_little_language_is_und_and_no_place_is_none() {
    let app = TestApp::embedded().await;
    post_one(&app, json!({"id": "und-1", "text": "OK 3 https://x.co/a1"})).await;
    let reports = app.wait_for_reports(1).await;
    let report = by_source_id(&reports, "und-1");
    assert_eq!(report["language"]["code"], "und", "{report:#}");
    assert_eq!(report["language"]["confidence"], 0.0);
    assert_eq!(report["place"]["method"], "none");
    assert_eq!(report["place"]["admin1_code"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_configured_languages_are_detected() {
    // French is not configured: a French report cannot come out as `fr`.
    let app = TestApp::spawn(|c| c.language.languages = vec!["en".into(), "sw".into()]).await;
    post_one(
        &app,
        json!({
            "id": "fr-1",
            "text": "Trois personnes sont malades du choléra au village depuis hier soir",
        }),
    )
    .await;
    let reports = app.wait_for_reports(1).await;
    let code = &by_source_id(&reports, "fr-1")["language"]["code"];
    assert_ne!(code, "fr");
    assert!(
        ["en", "sw", "und"].contains(&code.as_str().unwrap()),
        "{code}"
    );
}

// ------------------------------------------------- RabbitMQ and PostgreSQL

struct Deployed {
    app: TestApp,
    prefix: String,
    _db: TestDatabase,
}

impl Deployed {
    async fn start(database_url: Option<String>) -> (Self, String) {
        let db = TestDatabase::create().await;
        let prefix = unique("test");
        let db_url = database_url.unwrap_or_else(|| db.url.clone());
        let (p, url) = (prefix.clone(), db_url);
        let app = TestApp::spawn(move |c| {
            c.amqp.url = Some(amqp_url());
            c.amqp.prefix = p;
            c.database.url = Some(url);
        })
        .await;
        let real_db = db.url.clone();
        (
            Self {
                app,
                prefix,
                _db: db,
            },
            real_db,
        )
    }

    async fn stop(self) {
        let prefix = self.prefix.clone();
        drop(self.app);
        tokio::time::sleep(Duration::from_millis(300)).await;
        delete_amqp(&amqp_url(), &prefix).await;
    }
}

fn queued(source_id: &str, text: &str) -> Vec<u8> {
    queued_with(source_id, "text", text)
}

/// A report with one field set as raw JSON: the API refuses a NUL, but
/// another producer on the queue may still send one, and the worker must
/// set it aside.
fn queued_with(source_id: &str, field: &str, value: &str) -> Vec<u8> {
    let report = IncomingReport {
        id: ReportId::new(),
        source: Source::new("generic"),
        source_id: SourceId::given(source_id).unwrap(),
        sender: None,
        sender_pseudonym: None,
        recipient: None,
        text: Text::parse("Flood at the river").unwrap(),
        sent_at: None,
        received_at: chrono::Utc::now(),
        location: None,
        meta: Default::default(),
        part: None,
    };
    let mut json = serde_json::to_value(&report).unwrap();
    json[field] = serde_json::Value::String(value.to_owned());
    serde_json::to_vec(&json).unwrap()
}

async fn publish_all(prefix: &str, payloads: &[Vec<u8>]) {
    let payloads: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    publish_raw(&amqp_url(), prefix, &payloads).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_the_database_refuses_is_dead_lettered_and_the_rest_stored() {
    let (d, _) = Deployed::start(None).await;
    // PostgreSQL text cannot hold a NUL character. The queue codec checks
    // what the core reads (text, ids, source, place); the database is the
    // last line for the rest.
    let refused = queued_with("nul-1", "recipient", "+2547\u{0}00");
    publish_all(
        &d.prefix,
        &[
            queued("ok-1", "Flood at the river"),
            refused.clone(),
            queued("ok-2", "Road closed at the bridge"),
        ],
    )
    .await;
    let stored = d.app.wait_for_reports(2).await;
    assert_eq!(sorted_source_ids(&stored), ["ok-1", "ok-2"]);
    let letters = d.app.wait_for_dead_letters().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].payload, refused);
    assert!(
        letters[0].reason.contains("database refused"),
        "{}",
        letters[0].reason
    );
    // Operators see it over HTTP too, with the report and the reason.
    let page = d.app.get_json("/v1/dead-letters").await;
    let letter = &page["dead_letters"][0];
    assert_eq!(letter["payload"]["source_id"], "nul-1", "{page:#}");
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("database refused")
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_report_in_a_grouped_message_is_dead_lettered_alone_and_the_rest_stored() {
    let (d, _) = Deployed::start(None).await;
    let garbage = b"not a report".to_vec();
    let nul_text = queued("nul-text", "Flood at the river\u{0} bank");
    let refused = queued_with("nul-2", "recipient", "+2547\u{0}00");
    let group = [
        queued("grouped-1", "Flood at the river"),
        garbage.clone(),
        nul_text.clone(),
        refused.clone(),
        queued("grouped-2", "Road closed at the bridge"),
    ];
    let payloads: Vec<&[u8]> = group.iter().map(Vec::as_slice).collect();
    publish_grouped(&amqp_url(), &d.prefix, &payloads).await;
    let stored = d.app.wait_for_reports(2).await;
    assert_eq!(sorted_source_ids(&stored), ["grouped-1", "grouped-2"]);
    let letters = d.app.wait_for_dead_letters_n(3).await;
    assert_eq!(letters.len(), 3, "{letters:?}");
    assert_eq!(letters[0].payload, garbage, "each bad report alone");
    assert!(
        letters[0].reason.starts_with("not a report"),
        "{}",
        letters[0].reason
    );
    // Text the API would have refused is refused on the way out of the
    // queue too, naming why, and never reaches the database.
    assert_eq!(letters[1].payload, nul_text);
    assert!(
        letters[1].reason.starts_with("not a report") && letters[1].reason.contains("NUL"),
        "{}",
        letters[1].reason
    );
    assert_eq!(letters[2].payload, refused);
    assert!(
        letters[2].reason.contains("database refused"),
        "{}",
        letters[2].reason
    );

    // The grouped message was acknowledged: once its consumer is gone
    // nothing comes back to the queue.
    let prefix = d.prefix.clone();
    drop(d.app);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        ready_reports(&prefix).await,
        0,
        "the grouped message was settled"
    );
    delete_amqp(&amqp_url(), &prefix).await;
}

async fn ready_reports(prefix: &str) -> u32 {
    let names = ishara::queue::amqp::Names::new(prefix, "reports");
    let conn = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare(&names.queue, passive, Default::default())
        .await
        .unwrap();
    conn.close(200, "counted").await.unwrap();
    queue.message_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_holds_reports_until_it_is_back_and_stores_each_once() {
    let db = TestDatabase::create().await;
    let proxy = Proxy::start(amqp_target(&db.url)).await;
    let through_proxy = db
        .url
        .replace(&amqp_target(&db.url), &proxy.addr.to_string());
    let (d, _) = Deployed::start(Some(through_proxy)).await;
    // Migrated and listening; now the database goes away.
    proxy.cut();
    let payloads: Vec<Vec<u8>> = (0..5)
        .map(|i| queued(&format!("outage-{i}"), "Flood at the river"))
        .collect();
    publish_all(&d.prefix, &payloads).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    let stored = d.app.wait_for_reports(5).await;
    assert_eq!(stored.len(), 5, "{stored:#?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(d.app.reports().await.len(), 5, "each stored once");
    assert!(
        d.app.app_queue.dead_letters(10).await.unwrap().is_empty(),
        "an outage is not a reason to dead-letter"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_need_the_admin_token_and_a_sane_limit() {
    let app = TestApp::embedded().await;
    let url = app.url("/v1/dead-letters");
    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let bad_limit = app
        .client
        .get(format!("{url}?limit=0"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_limit.status(), 400);
    let body: Value = bad_limit.json().await.unwrap();
    assert_eq!(body["field"], "limit");
    let empty: Value = app
        .client
        .get(&url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(empty, json!({"dead_letters": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn place_names_do_not_decide_the_language_of_a_short_sms() {
    let app = TestApp::embedded().await;
    // Judged whole, each of these is Tagalog or Somali to lingua.
    let sms = [
        (
            "ph-1",
            "no rescue yet in Bagumbayan and Malabon",
            "+639171234567",
        ),
        (
            "so-1",
            "flooding near Baardheere and Luuq today",
            "+252612345678",
        ),
    ];
    for (id, text, sender) in sms {
        post_one(&app, json!({"id": id, "text": text, "sender": sender})).await;
    }
    let reports = app.wait_for_reports(2).await;
    for (id, text, _) in sms {
        let report = by_source_id(&reports, id);
        assert_eq!(report["language"]["code"], "en", "{report:#}");
        assert_eq!(report["text"], text, "the text is stored as sent");
        assert_eq!(report["place"]["kind"], "place", "{report:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_naming_a_county_gets_the_county_and_no_town() {
    let app = TestApp::embedded().await;
    post_one(
        &app,
        json!({
            "id": "county-1",
            "text": "Cholera outbreak in Tana River county, 12 cases",
            "sender": "+254712345678",
        }),
    )
    .await;
    let reports = app.wait_for_reports(1).await;
    let place = &by_source_id(&reports, "county-1")["place"];
    assert_eq!(place["method"], "text", "{place:#}");
    assert_eq!(place["kind"], "admin1");
    assert_eq!(place["admin1_code"], "KE.48");
    assert_eq!(place["admin1_name"], "Tana River");
    assert_eq!(place["country"], "KE");
    assert_eq!(place["place_id"], Value::Null);
    assert_eq!(place["name"], Value::Null);
}
