//! The deployed shape: RabbitMQ between the API and the worker, PostgreSQL
//! behind. What users hold us to: a success reply means durable, a broker
//! outage loses nothing, retries and redeliveries are stored once.

mod common;

use std::time::Duration;

use common::*;

struct Deployed {
    app: TestApp,
    amqp: String,
    prefix: String,
    db: TestDatabase,
}

impl Deployed {
    async fn start(amqp: Option<String>) -> Self {
        Self::start_with(amqp, 64).await
    }

    async fn start_with(amqp: Option<String>, prefetch: u16) -> Self {
        Self::start_confirming(amqp, prefetch, Duration::from_secs(5)).await
    }

    async fn start_confirming(
        amqp: Option<String>,
        prefetch: u16,
        confirm_timeout: Duration,
    ) -> Self {
        let db = TestDatabase::create().await;
        let real = amqp_url();
        let amqp = amqp.unwrap_or(real);
        let prefix = unique("test");
        let (url, db_url, p) = (amqp.clone(), db.url.clone(), prefix.clone());
        let app = TestApp::spawn(move |c| {
            c.amqp.url = Some(url);
            c.amqp.prefix = p;
            c.amqp.prefetch = prefetch;
            c.amqp.confirm_timeout_ms = confirm_timeout.as_millis() as u64;
            c.database.url = Some(db_url);
        })
        .await;
        Self {
            app,
            amqp,
            prefix,
            db,
        }
    }

    async fn stop(self) {
        let prefix = self.prefix.clone();
        drop(self.app);
        // Let the stopped worker's consumer close before its queues go, or
        // it would declare them again.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        delete_amqp(&amqp_url(), &prefix).await;
    }
}

fn twilio_form(sid: &str, text: &str) -> String {
    form(&[
        ("MessageSid", sid),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "+254712345678"),
        ("To", "+254700000000"),
        ("Body", text),
    ])
}

async fn post_twilio(app: &TestApp, sid: &str, text: &str) -> reqwest::Response {
    let body = twilio_form(sid, text);
    let url = app.url("/v1/inbound/twilio");
    let signature = twilio_signature(TWILIO_TOKEN, &url, &body);
    app.client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_flow_through_rabbitmq_into_postgres_once() {
    let d = Deployed::start(None).await;
    for text in ["Cholera cases in Garissa", "Cholera cases in Garissa"] {
        let res = post_twilio(&d.app, "SM00000000000000000000000000000001", text).await;
        assert_eq!(res.status(), 200);
    }
    let res = post_twilio(
        &d.app,
        "SM00000000000000000000000000000002",
        "Mafuriko Tana River",
    )
    .await;
    assert_eq!(res.status(), 200);
    let reports = d.app.wait_for_reports(2).await;
    assert_eq!(reports.len(), 2, "{reports:#?}");
    assert_eq!(reports[0]["text"], "Mafuriko Tana River");
    assert_eq!(
        reports[1]["source_id"],
        "SM00000000000000000000000000000001"
    );
    d.stop().await;
}

/// Requests that arrive together share broker messages; each still gets
/// its 200 only on its message's confirm, and each is stored once, retries
/// included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_at_once_are_each_stored_once() {
    let d = Deployed::start(None).await;
    let sids: Vec<String> = (0..40).map(|i| format!("SM{i:032}")).collect();
    let posts = sids
        .iter()
        .chain(&sids[..10])
        .map(|sid| post_twilio(&d.app, sid, "Cholera cases in Garissa"));
    for res in futures_util::future::join_all(posts).await {
        assert_eq!(res.status(), 200);
    }
    let reports = d.app.wait_for_reports(40).await;
    assert_eq!(sorted_source_ids(&reports), sids, "each report once");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_redelivered_by_the_broker_is_stored_once() {
    let d = Deployed::start(None).await;
    assert_eq!(
        post_twilio(&d.app, "SM000000000000000000000000000000aa", "Flood")
            .await
            .status(),
        200
    );
    let first = d.app.wait_for_reports(1).await;
    // The same message published again, as a redelivery after a lost ack would.
    let stored = &first[0];
    let again = serde_json::json!({
        "id": ishara::report::ReportId::new().to_string(),
        "source": "twilio",
        "source_id": stored["source_id"],
        "sender": null,
        "sender_pseudonym": null,
        "recipient": null,
        "text": "Flood",
        "sent_at": null,
        "received_at": chrono::Utc::now(),
        "location": null,
        "meta": {},
    });
    // With a control in the same grouped message: one batch stores both,
    // so once the control is stored the copy has been judged too.
    let mut control = again.clone();
    control["id"] = ishara::report::ReportId::new().to_string().into();
    control["source_id"] = "control-1".into();
    let (again, control) = (again.to_string(), control.to_string());
    publish_grouped(&d.amqp, &d.prefix, &[again.as_bytes(), control.as_bytes()]).await;
    let stored = d.app.wait_for_reports(2).await;
    assert_eq!(
        sorted_source_ids(&stored),
        ["SM000000000000000000000000000000aa", "control-1"],
        "the copy is not stored again"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_with_its_reason() {
    let d = Deployed::start(None).await;
    publish_raw(&d.amqp, &d.prefix, &[b"{\"not\": \"a report\"}"]).await;
    let letters = d.app.wait_for_dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].payload, b"{\"not\": \"a report\"}");
    assert!(
        letters[0].reason.contains("not a report"),
        "{}",
        letters[0].reason
    );
    // Good reports still flow behind it.
    assert_eq!(
        post_twilio(&d.app, "SM000000000000000000000000000000bb", "Flood")
            .await
            .status(),
        200
    );
    assert_eq!(d.app.wait_for_reports(1).await.len(), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_spools_to_disk_and_drains_in_order_once_back() {
    let proxy = Proxy::start(amqp_target(&amqp_url())).await;
    // One delivery at a time, so the store's order is the queue's order.
    let d = Deployed::start_with(Some(proxy.amqp_url(&amqp_url())), 1).await;
    assert_eq!(
        post_twilio(&d.app, "SM10000000000000000000000000000000", "before")
            .await
            .status(),
        200
    );
    d.app.wait_for_reports(1).await;

    proxy.cut();
    let mut sids = Vec::new();
    for i in 0..20 {
        let sid = format!("SM2{i:031}");
        let res = post_twilio(&d.app, &sid, &format!("during outage {i}")).await;
        assert_eq!(res.status(), 200, "accepted while the broker is down");
        sids.push(sid);
    }
    // A gateway retry during the outage: acknowledged again, stored once.
    assert_eq!(
        post_twilio(&d.app, &sids[3], "during outage 3")
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        d.app.reports().await.len(),
        1,
        "nothing reaches the store while cut off"
    );
    let spool = d.app.config.data_dir.join("spool");
    assert!(
        std::fs::read_dir(&spool).unwrap().count() > 0,
        "spooled on disk"
    );

    proxy.restore();
    let reports = d.app.wait_for_reports(21).await;
    assert_eq!(reports.len(), 21, "every accepted report stored once");
    let mut by_storage = reports.clone();
    by_storage.sort_by_key(|r| r["stored_at"].as_str().unwrap().to_owned());
    let texts: Vec<String> = by_storage
        .iter()
        .skip(1)
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("during outage {i}")).collect();
    assert_eq!(texts, expected, "drained in the order accepted");
    assert_eq!(
        post_twilio(&d.app, "SM30000000000000000000000000000000", "after")
            .await
            .status(),
        200
    );
    assert_eq!(d.app.wait_for_reports(22).await.len(), 22);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_the_broker_store_each_report_once() {
    let first = Deployed::start(None).await;
    let (amqp, prefix, db_url) = (
        first.amqp.clone(),
        first.prefix.clone(),
        first.db.url.clone(),
    );
    let second = TestApp::spawn(move |c| {
        c.amqp.url = Some(amqp);
        c.amqp.prefix = prefix;
        c.database.url = Some(db_url);
    })
    .await;
    // Every report reaches both instances, as a gateway retrying against a
    // load balancer would; each instance's worker takes what it is given.
    for i in 0..30 {
        let sid = format!("SM4{i:031}");
        for app in [&first.app, &second] {
            let res = post_twilio(app, &sid, &format!("report {i}")).await;
            assert_eq!(res.status(), 200);
        }
    }
    let reports = first.app.wait_for_reports(30).await;
    assert_eq!(reports.len(), 30);
    assert_eq!(second.reports().await.len(), 30);
    drop(second);
    first.stop().await;
}

/// Short, to keep the tests quick; the guarantee is the same at 5 s.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(1);
/// What a reply may take beyond the confirm timeout: an fsync, and HTTP.
const REPLY_MARGIN: Duration = Duration::from_millis(500);
/// How soon after the broker answers again every spooled report must be
/// stored: a reconnection, the drain, and the worker's store.
const DRAINED_WITHIN: Duration = Duration::from_secs(2);

/// Sends a report and times its reply from the moment it is sent.
async fn timed_post(app: &TestApp, sid: &str, text: &str) -> (reqwest::StatusCode, Duration) {
    let sent = tokio::time::Instant::now();
    let status = post_twilio(app, sid, text).await.status();
    (status, sent.elapsed())
}

/// Waits (up to `within`) for `n` stored reports; how long that took.
async fn time_to_store(app: &TestApp, n: usize, within: Duration) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        let stored = app.reports().await.len();
        if stored >= n {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{stored} of {n} reports stored {within:?} after the broker came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// RabbitMQ keeps the socket open but stops confirming: requests arriving
/// while another waits for its confirm must not wait for that one's
/// timeout and then their own; each is spooled within the confirm timeout
/// of its own arrival, and all are stored once the broker answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_broker_holds_no_reply_past_the_confirm_timeout() {
    let proxy = Proxy::start(amqp_target(&amqp_url())).await;
    let d =
        Deployed::start_confirming(Some(proxy.amqp_url(&amqp_url())), 64, CONFIRM_TIMEOUT).await;
    assert_eq!(
        post_twilio(&d.app, "SM50000000000000000000000000000000", "before")
            .await
            .status(),
        200
    );
    d.app.wait_for_reports(1).await;

    proxy.stall();
    // Staggered: each later request arrives while earlier ones wait for a
    // confirm that is not coming.
    let sids: Vec<String> = (0..8).map(|i| format!("SM6{i:031}")).collect();
    let posts = sids.iter().enumerate().map(|(i, sid)| {
        let app = &d.app;
        async move {
            tokio::time::sleep(Duration::from_millis(150) * i as u32).await;
            timed_post(app, sid, &format!("while stalled {i}")).await
        }
    });
    for (i, (status, took)) in futures_util::future::join_all(posts)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(status, 200, "request {i} accepted");
        assert!(
            took < CONFIRM_TIMEOUT + REPLY_MARGIN,
            "request {i} answered {took:?} after it arrived"
        );
    }

    proxy.resume();
    let took = time_to_store(&d.app, 1 + sids.len(), DRAINED_WITHIN).await;
    eprintln!("stored {took:?} after the broker resumed");
    let reports = d.app.wait_for_reports(1 + sids.len()).await;
    let mut expected: Vec<&str> = sids.iter().map(String::as_str).collect();
    expected.push("SM50000000000000000000000000000000");
    expected.sort();
    assert_eq!(sorted_source_ids(&reports), expected, "each report once");
    d.stop().await;
}

/// After an outage long enough for the reconnection back-off to grow, the
/// spool still drains as soon as the broker is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_long_outage_the_spool_drains_as_soon_as_the_broker_returns() {
    let proxy = Proxy::start(amqp_target(&amqp_url())).await;
    let d =
        Deployed::start_confirming(Some(proxy.amqp_url(&amqp_url())), 64, CONFIRM_TIMEOUT).await;
    assert_eq!(
        post_twilio(&d.app, "SM70000000000000000000000000000000", "before")
            .await
            .status(),
        200
    );
    d.app.wait_for_reports(1).await;

    proxy.cut();
    // Reports trickle in over an outage of 8 s, long enough for a back-off
    // that doubles from 250 ms to pass 4 s.
    let outage = tokio::time::Instant::now();
    let sids: Vec<String> = (0..8).map(|i| format!("SM8{i:031}")).collect();
    for (i, sid) in sids.iter().enumerate() {
        let (status, took) = timed_post(&d.app, sid, &format!("during outage {i}")).await;
        assert_eq!(status, 200, "request {i} accepted");
        assert!(
            took < CONFIRM_TIMEOUT + REPLY_MARGIN,
            "request {i}: {took:?}"
        );
        tokio::time::sleep_until(outage + Duration::from_secs(1) * (i as u32 + 1)).await;
    }
    assert_eq!(
        d.app.reports().await.len(),
        1,
        "nothing stored while cut off"
    );

    proxy.restore();
    let took = time_to_store(&d.app, 1 + sids.len(), DRAINED_WITHIN).await;
    eprintln!("stored {took:?} after the broker came back");
    let reports = d.app.wait_for_reports(1 + sids.len()).await;
    assert_eq!(reports.len(), 1 + sids.len(), "each report once");
    d.stop().await;
}
