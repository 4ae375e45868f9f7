//! Notifications as the people on duty rely on them: an alert arrives by
//! email, SMS and webhook, rendered and signed, once per firing even when
//! a mail server refuses for a while or several notifiers run; what cannot
//! be delivered is dead-lettered where operators see it; every attempt is
//! on the alert; and every alert is a CAP 1.2 message in an Atom feed.

mod common;

use std::time::Duration;

use common::smtp::SmtpServer;
use common::*;
use hmac::{Hmac, Mac};
use ishara::config::{ChannelConfig, Config};
use mail_parser::MessageParser;
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CHOLERA_RULE: &str = r#"
- id: cholera-cluster
  description: Cholera cluster
  match:
    keywords:
      cholera: [cholera, kipindupindu]
  group_by: [admin1]
  window: 24h
  when:
    count: { gte: 3 }
  severity: severe
  notify: [duty_desk]
  labels: { category: Health }
"#;

const WEBHOOK_SECRET: &str = "whsec-test-0123456789";

fn write_rules(config: &Config, yaml: &str) {
    std::fs::create_dir_all(&config.rules_dir).unwrap();
    std::fs::write(config.rules_dir.join("rules.yaml"), yaml).unwrap();
}

/// Quick retries, so that a test sees several attempts in a second.
fn fast_retries(c: &mut Config) {
    c.notify.retry_initial_ms = 50;
    c.notify.retry_max_secs = 1;
    c.rules.evaluation_interval_ms = 200;
}

fn channel(email: &[&str], sms: &[&str], webhook: Option<String>) -> ChannelConfig {
    ChannelConfig {
        email: email.iter().map(|s| s.to_string()).collect(),
        sms: sms.iter().map(|s| s.to_string()).collect(),
        webhook,
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        ..ChannelConfig::default()
    }
}

/// Three cholera reports from Garissa by three senders: the rule fires.
async fn three_cholera_reports(app: &TestApp) {
    for n in 1..=3 {
        let body = json!({
            "id": format!("c{n}"),
            "text": format!("Cholera cases at Garissa market, call 0712 345 67{n}"),
            "sender": format!("+25470000000{n}"),
        });
        let reply = app
            .post_reports("application/json", &body.to_string())
            .await;
        assert!(reply.status().is_success());
    }
    app.wait_for_reports(3).await;
}

async fn the_alert(app: &TestApp) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = app.get_json("/v1/alerts").await;
        if let Some(alert) = page["alerts"].as_array().and_then(|a| a.first()) {
            return alert.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no alert fired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the alert's attempts satisfy `done`, and returns them.
async fn attempts_until(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let alert = app.get_json(&format!("/v1/alerts/{id}")).await;
        let attempts = alert["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if done(&attempts) {
            return attempts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "attempts never settled: {attempts:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A local HTTP server that answers every POST with `reply` and keeps
/// what it was sent.
async fn receiver(reply: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(reply)
        .mount(&server)
        .await;
    server
}

fn statuses(attempts: &[Value]) -> Vec<&str> {
    attempts
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_alert_email_has_its_headers_both_parts_and_the_rendered_content() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn(|c| {
        write_rules(c, CHOLERA_RULE);
        c.smtp.url = Some(format!("smtp://ishara:pw@127.0.0.1:{}", smtp.port()));
        c.smtp.from = Some("Ishara Alerts <alerts@ishara.test>".into());
        c.channels.insert(
            "duty_desk".into(),
            channel(&["duty@moh.test", "Epi Team <epi@moh.test>"], &[], None),
        );
    })
    .await;
    three_cholera_reports(&app).await;

    let mails = smtp.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 2, "one email per recipient");
    let mut recipients: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    recipients.sort();
    assert_eq!(recipients, ["duty@moh.test", "epi@moh.test"]);
    assert_eq!(mails[0].auth, Some(("ishara".into(), "pw".into())));

    let alert = the_alert(&app).await;
    let id = alert["id"].as_str().unwrap();
    let message = MessageParser::default().parse(&mails[0].data).unwrap();
    assert_eq!(
        message.from().unwrap().first().unwrap().address(),
        Some("alerts@ishara.test")
    );
    let subject = message.subject().unwrap();
    assert!(
        subject.starts_with("[SEVERE] Cholera cluster in Garissa"),
        "{subject}"
    );
    assert_eq!(
        message.header_raw("X-Ishara-Alert").map(str::trim),
        Some(id)
    );
    assert!(
        message
            .message_id()
            .unwrap()
            .starts_with(&format!("{id}.fired.ps_"))
    );
    assert_eq!(message.text_body_count(), 1);
    assert_eq!(message.html_body_count(), 1);
    let text = message.body_text(0).unwrap();
    assert!(text.contains("Condition: count >= 3 in 1day"), "{text}");
    assert!(text.contains("Reports: 3"), "{text}");
    assert!(text.contains("Cholera cases at Garissa market"), "{text}");
    assert!(text.contains(&format!("/v1/alerts/{id}")), "{text}");
    // Reporters are pseudonyms, and numbers in their texts are masked.
    assert!(text.contains("(ps_"), "{text}");
    assert!(!text.contains("+2547") && !text.contains("0712"), "{text}");
    assert!(text.contains("[phone]"), "{text}");
    let html = message.body_html(0).unwrap();
    assert!(html.contains("<pre"), "{html}");
    assert!(html.contains("Cholera cases at Garissa market"), "{html}");

    let attempts = attempts_until(&app, id, |a| a.len() == 2).await;
    assert_eq!(statuses(&attempts), ["sent", "sent"]);
    for attempt in &attempts {
        assert_eq!(attempt["channel"], "duty_desk");
        assert_eq!(attempt["kind"], "email");
        assert_eq!(attempt["transition"], "fired");
        let recipient = attempt["recipient"].as_str().unwrap();
        assert!(
            recipient.starts_with("ps_"),
            "addresses are never shown: {recipient}"
        );
    }
}

#[tokio::test]
async fn a_mail_server_that_refuses_then_recovers_gets_the_alert_once() {
    let smtp = SmtpServer::start().await;
    smtp.refuse_next(2);
    let app = TestApp::spawn(|c| {
        write_rules(c, CHOLERA_RULE);
        fast_retries(c);
        c.smtp.url = Some(smtp.url());
        c.smtp.from = Some("alerts@ishara.test".into());
        c.channels
            .insert("duty_desk".into(), channel(&["duty@moh.test"], &[], None));
    })
    .await;
    three_cholera_reports(&app).await;
    let id = the_alert(&app).await["id"].as_str().unwrap().to_owned();

    let attempts = attempts_until(&app, &id, |a| a.len() == 3).await;
    assert_eq!(statuses(&attempts), ["failed", "failed", "sent"]);
    assert!(
        attempts[0]["error"].as_str().unwrap().contains("451"),
        "{attempts:#?}"
    );
    assert_eq!(smtp.refused(), 2);
    // Time for any second copy to show up: there must be none.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.received().len(), 1);
}

#[tokio::test]
async fn a_mail_server_that_hangs_is_given_up_on_and_the_alert_sent_once_it_answers() {
    let smtp = SmtpServer::start().await;
    smtp.hang_next(1);
    let app = TestApp::spawn(|c| {
        write_rules(c, CHOLERA_RULE);
        fast_retries(c);
        c.smtp.url = Some(smtp.url());
        c.smtp.from = Some("alerts@ishara.test".into());
        c.smtp.timeout_secs = 1;
        c.channels
            .insert("duty_desk".into(), channel(&["duty@moh.test"], &[], None));
    })
    .await;
    three_cholera_reports(&app).await;
    let id = the_alert(&app).await["id"].as_str().unwrap().to_owned();
    let attempts = attempts_until(&app, &id, |a| a.len() == 2).await;
    assert_eq!(statuses(&attempts), ["failed", "sent"], "{attempts:#?}");
    let mails = smtp.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(smtp.refused(), 1);
}

#[tokio::test]
async fn a_permanent_smtp_rejection_is_not_retried_and_the_webhook_still_goes() {
    let smtp = SmtpServer::start().await;
    smtp.reject_next(1000);
    let hook = receiver(ResponseTemplate::new(200)).await;
    let app = TestApp::spawn(|c| {
        write_rules(c, CHOLERA_RULE);
        fast_retries(c);
        c.smtp.url = Some(smtp.url());
        c.smtp.from = Some("alerts@ishara.test".into());
        c.channels.insert(
            "duty_desk".into(),
            channel(&["duty@moh.test"], &[], Some(hook.uri())),
        );
    })
    .await;
    three_cholera_reports(&app).await;
    let id = the_alert(&app).await["id"].as_str().unwrap().to_owned();
    let attempts = attempts_until(&app, &id, |a| {
        let sent_hook = a
            .iter()
            .any(|a| a["kind"] == "webhook" && a["status"] == "sent");
        let email_settled = a
            .iter()
            .any(|a| a["kind"] == "email" && a["status"] == "dead");
        sent_hook && email_settled
    })
    .await;
    let email: Vec<&Value> = attempts.iter().filter(|a| a["kind"] == "email").collect();
    assert_eq!(email.len(), 1, "a 5xx is final, tried once: {attempts:#?}");
    assert!(
        email[0]["error"].as_str().unwrap().contains("554"),
        "{attempts:#?}"
    );
    assert_eq!(smtp.refused(), 1);
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn a_refusing_mail_server_does_not_hold_back_the_webhook_of_the_same_channel() {
    let smtp = SmtpServer::start().await;
    smtp.refuse_next(1000);
    let hook = receiver(ResponseTemplate::new(200)).await;
    let app = TestApp::spawn(|c| {
        write_rules(c, CHOLERA_RULE);
        // Slow retries: the email is still being retried when we look.
        c.notify.retry_initial_ms = 5_000;
        c.smtp.url = Some(smtp.url());
        c.smtp.from = Some("alerts@ishara.test".into());
        c.channels.insert(
            "duty_desk".into(),
            channel(&["duty@moh.test"], &[], Some(hook.uri())),
        );
    })
    .await;
    three_cholera_reports(&app).await;
    let id = the_alert(&app).await["id"].as_str().unwrap().to_owned();
    let attempts = attempts_until(&app, &id, |a| {
        a.iter()
            .any(|a| a["kind"] == "webhook" && a["status"] == "sent")
    })
    .await;
    let email: Vec<&Value> = attempts.iter().filter(|a| a["kind"] == "email").collect();
    assert_eq!(email.len(), 1, "{attempts:#?}");
    assert_eq!(email[0]["status"], "failed");
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn an_alert_sms_goes_through_twilios_send_api_within_the_segment_budget() {
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2010-04-01/Accounts/AC0123/Messages.json"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": "SM0001", "status": "queued", "error_code": null
        })))
        .mount(&twilio)
        .await;
    let app = TestApp::spawn(|c| {
        write_rules(c, CHOLERA_RULE);
        c.sms.provider = Some("twilio".into());
        c.sms.max_segments = 1;
        c.sms.twilio = Some(ishara::config::sms::TwilioSend {
            account_sid: "AC0123".into(),
            auth_token: "twilio-send-token".into(),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
            base_url: twilio.uri(),
        });
        c.channels
            .insert("duty_desk".into(), channel(&[], &["+254711000111"], None));
    })
    .await;
    three_cholera_reports(&app).await;
    let id = the_alert(&app).await["id"].as_str().unwrap().to_owned();
    let attempts = attempts_until(&app, &id, |a| !a.is_empty()).await;
    assert_eq!(statuses(&attempts), ["sent"]);
    assert_eq!(attempts[0]["provider_id"], "SM0001");

    let requests = twilio.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let auth = request
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "AC0123:twilio-send-token"
        )
    );
    assert_eq!(auth, expected);
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&request.body).into_owned().collect();
    assert_eq!(form["To"], "+254711000111");
    assert_eq!(form["From"], "+15005550006");
    let body = &form["Body"];
    assert!(
        body.starts_with("SEVERE: Cholera cluster, Garissa"),
        "{body}"
    );
    assert!(body.contains(&format!("/v1/alerts/{id}")), "{body}");
    let segments = ishara::notify::sms::segments::count(body);
    assert_eq!(segments.parts.len(), 1, "{body:?} is {segments:?}");
}

#[tokio::test]
async fn a_webhook_is_signed_json_with_slack_text_for_firing_and_resolving() {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    // A window of two seconds: the alert resolves soon after it fires.
    let rule = CHOLERA_RULE.replace("window: 24h", "window: 2s");
    let app = TestApp::spawn(|c| {
        write_rules(c, &rule);
        fast_retries(c);
        c.channels.insert(
            "duty_desk".into(),
            channel(&[], &[], Some(format!("{}/hook", hook.uri()))),
        );
    })
    .await;
    three_cholera_reports(&app).await;
    let id = the_alert(&app).await["id"].as_str().unwrap().to_owned();
    let attempts = attempts_until(&app, &id, |a| a.len() == 2).await;
    assert_eq!(statuses(&attempts), ["sent", "sent"]);

    let requests = hook.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one for firing, one for resolving");
    let events: Vec<Value> = requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "fired");
    assert_eq!(events[1]["event"], "resolved");
    for (request, event) in requests.iter().zip(&events) {
        assert_eq!(
            request.headers.get("content-type").unwrap(),
            "application/json"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(&request.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            request.headers.get("x-ishara-signature").unwrap(),
            expected.as_str()
        );
        assert_eq!(event["alert"]["id"], id);
        assert_eq!(event["alert"]["rule"], "cholera-cluster");
    }
    let fired_text = events[0]["text"].as_str().unwrap();
    assert!(
        fired_text.starts_with("[SEVERE] Cholera cluster in Garissa"),
        "{fired_text}"
    );
    assert!(fired_text.ends_with("|details>"), "{fired_text}");
    assert!(
        events[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("[RESOLVED]")
    );
}

#[tokio::test]
async fn after_the_last_retry_a_notification_is_dead_lettered_and_visible() {
    let hook = receiver(ResponseTemplate::new(503).set_body_string("down for maintenance")).await;
    let app = TestApp::spawn(|c| {
        write_rules(c, CHOLERA_RULE);
        fast_retries(c);
        c.notify.max_attempts = 3;
        c.channels
            .insert("duty_desk".into(), channel(&[], &[], Some(hook.uri())));
    })
    .await;
    three_cholera_reports(&app).await;
    let id = the_alert(&app).await["id"].as_str().unwrap().to_owned();
    let attempts = attempts_until(&app, &id, |a| a.len() == 3).await;
    assert_eq!(statuses(&attempts), ["failed", "failed", "dead"]);
    assert!(attempts[2]["error"].as_str().unwrap().contains("503"));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let letters = loop {
        let page = app.get_json("/v1/dead-letters?queue=alerts").await;
        let letters = page["dead_letters"].as_array().cloned().unwrap_or_default();
        if !letters.is_empty() || tokio::time::Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert_eq!(letters[0]["payload"]["alert_id"], id.as_str());
    assert_eq!(letters[0]["payload"]["channel"], "duty_desk");
    assert!(
        letters[0]["reason"].as_str().unwrap().contains("503"),
        "{letters:#?}"
    );
    // The reports queue has no dead letter of it.
    let reports = app.get_json("/v1/dead-letters").await;
    assert_eq!(reports["dead_letters"], json!([]));
    assert_eq!(hook.received_requests().await.unwrap().len(), 3);
}

/// An alert as a worker that died before publishing it left it: stored a
/// minute ago, never published.
async fn store_unpublished_alert(app: &TestApp, admin1: &str) -> ishara::alert::Alert {
    let url = ishara::app::database_url(&app.config);
    let store = ishara::store::open(&url, 1).await.unwrap();
    let alert = ishara::alert::Alert {
        id: ishara::alert::AlertId::new(),
        rule: ishara::alert::RuleId::parse("cholera-cluster").expect("a rule id"),
        group: format!("admin1={admin1}"),
        state: ishara::alert::AlertState::Firing,
        severity: ishara::alert::Severity::Severe,
        fired_at: chrono::Utc::now() - chrono::Duration::minutes(1),
        resolved_at: None,
        value: 3.0,
        evidence: vec![],
        resolved_evidence: None,
        details: ishara::alert::AlertDetails {
            notify: vec!["duty_desk".into()],
            group: [("admin1".to_owned(), admin1.to_owned())].into(),
            ..Default::default()
        },
    };
    store.insert_alert(&alert).await.unwrap();
    alert
}

#[tokio::test]
async fn a_channel_sends_no_faster_than_its_rate_limit() {
    let hook = receiver(ResponseTemplate::new(200)).await;
    let app = TestApp::spawn(|c| {
        write_rules(c, CHOLERA_RULE);
        fast_retries(c);
        let mut desk = channel(&[], &[], Some(hook.uri()));
        // A burst of two, then one every thirty seconds.
        desk.rate_per_minute = Some(2);
        c.channels.insert("duty_desk".into(), desk);
    })
    .await;
    for admin1 in ["KE.01", "KE.02", "KE.03", "KE.04"] {
        store_unpublished_alert(&app, admin1).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while hook.received_requests().await.unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "nothing was sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Four firings (and their resolutions) are owed; the limit holds the
    // rest back rather than dropping them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.received_requests().await.unwrap().len(), 2);
    assert_eq!(
        app.get_json("/v1/dead-letters?queue=alerts").await["dead_letters"],
        json!([])
    );
}

#[tokio::test]
async fn an_alert_stored_but_never_published_is_notified_by_the_sweep() {
    let hook = receiver(ResponseTemplate::new(200)).await;
    let app = TestApp::spawn(|c| {
        write_rules(c, CHOLERA_RULE);
        fast_retries(c);
        c.channels
            .insert("duty_desk".into(), channel(&[], &[], Some(hook.uri())));
    })
    .await;
    // A worker stored this alert a minute ago and died before publishing.
    let alert = store_unpublished_alert(&app, "KE.07").await;

    // Its window is empty, so it also resolves: fired first, then resolved,
    // each once.
    let attempts = attempts_until(&app, alert.id.as_str(), |a| a.len() == 2).await;
    let transitions: Vec<&str> = attempts
        .iter()
        .map(|a| a["transition"].as_str().unwrap())
        .collect();
    assert_eq!(transitions, ["fired", "resolved"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn dead_letters_of_an_unknown_queue_are_refused_by_name() {
    let app = TestApp::embedded().await;
    let reply = app.get("/v1/dead-letters?queue=bogus").await;
    assert_eq!(reply.status(), 400);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["field"], "queue", "{body}");
}

#[tokio::test]
async fn with_several_notifiers_each_firing_is_sent_once() {
    let db = TestDatabase::create().await;
    let (amqp, redis) = (amqp_url(), redis_url());
    let prefix = unique("notify");
    let hook = receiver(ResponseTemplate::new(200)).await;
    let hook_url = hook.uri();
    let config = |c: &mut Config| {
        write_rules(c, CHOLERA_RULE);
        c.amqp.url = Some(amqp.clone());
        c.amqp.prefix = prefix.clone();
        c.database.url = Some(db.url.clone());
        c.redis.url = Some(redis.clone());
        c.redis.prefix = format!("{prefix}:");
        c.privacy.pseudonym_key = Some("shared-pseudonym-key".into());
        c.channels.insert(
            "duty_desk".into(),
            channel(&[], &[], Some(hook_url.clone())),
        );
    };
    let first = TestApp::spawn(config).await;
    let second = TestApp::spawn(config).await;
    three_cholera_reports(&first).await;
    let id = the_alert(&first).await["id"].as_str().unwrap().to_owned();
    // The outbox may publish a firing twice (a crash between publishing
    // and marking it): copies go to both notifiers.
    let alerts = ishara::queue::amqp::AmqpQueue::new(
        &amqp,
        ishara::queue::amqp::Names::new(&prefix, "alerts"),
    );
    let copy = json!({"alert_id": id, "transition": "fired", "channel": "duty_desk"});
    for _ in 0..4 {
        use ishara::queue::MessageQueue;
        alerts
            .publish(copy.to_string().as_bytes())
            .await
            .expect("published");
    }
    let attempts = attempts_until(&second, &id, |a| !a.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.received_requests().await.unwrap().len(), 1);
    assert_eq!(statuses(&attempts), ["sent"]);
    let attempts = attempts_until(&first, &id, |a| !a.is_empty()).await;
    assert_eq!(attempts.len(), 1, "{attempts:#?}");

    // What is not a notification, or names no stored alert, is set aside
    // with its reason and sends nothing.
    {
        use ishara::queue::MessageQueue;
        alerts.publish(b"not json").await.expect("published");
        let no_such_alert = ishara::alert::AlertId::new().to_string();
        let unknown =
            json!({"alert_id": no_such_alert, "transition": "fired", "channel": "duty_desk"});
        alerts
            .publish(unknown.to_string().as_bytes())
            .await
            .expect("published");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let letters = loop {
        let page = first.get_json("/v1/dead-letters?queue=alerts").await;
        let letters = page["dead_letters"].as_array().cloned().unwrap_or_default();
        if letters.len() >= 2 || tokio::time::Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reasons: Vec<&str> = letters
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{letters:#?}");
    assert!(
        reasons.iter().any(|r| r.starts_with("not a notification")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("is not stored")),
        "{reasons:?}"
    );
    assert_eq!(hook.received_requests().await.unwrap().len(), 1);
    delete_amqp(&amqp, &prefix).await;
    clear_redis(&redis, &format!("{prefix}:")).await;
}

fn cap(name: &str) -> (&'static str, &str) {
    ("urn:oasis:names:tc:emergency:cap:1.2", name)
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
    node.children()
        .find(|n| n.has_tag_name(cap(name)))
        .unwrap_or_else(|| panic!("no <{name}> in <{}>", node.tag_name().name()))
}

fn text_of<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    child(node, name).text().unwrap_or_default()
}

#[tokio::test]
async fn every_alert_is_a_cap_message_and_the_feed_lists_them() {
    let app = TestApp::spawn(|c| {
        let rule = CHOLERA_RULE.replace("notify: [duty_desk]", "notify: [log]");
        write_rules(c, &rule);
        c.notify.cap_sender = Some("ishara@moh.test".into());
    })
    .await;
    three_cholera_reports(&app).await;
    let id = the_alert(&app).await["id"].as_str().unwrap().to_owned();

    let reply = app.get(&format!("/v1/alerts/{id}/cap")).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"].to_str().unwrap(),
        "application/cap+xml"
    );
    let xml = reply.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let alert = doc.root_element();
    assert!(alert.has_tag_name(cap("alert")), "{xml}");
    assert_eq!(text_of(alert, "identifier"), id);
    assert_eq!(text_of(alert, "sender"), "ishara@moh.test");
    let sent = text_of(alert, "sent");
    assert!(
        chrono::DateTime::parse_from_rfc3339(sent).is_ok() && !sent.ends_with('Z'),
        "{sent}"
    );
    assert_eq!(text_of(alert, "status"), "Actual");
    assert_eq!(text_of(alert, "msgType"), "Alert");
    assert_eq!(text_of(alert, "scope"), "Public");
    let info = child(alert, "info");
    assert_eq!(text_of(info, "category"), "Health");
    assert_eq!(text_of(info, "event"), "Cholera cluster");
    assert_eq!(text_of(info, "urgency"), "Immediate");
    assert_eq!(text_of(info, "severity"), "Severe");
    assert_eq!(text_of(info, "certainty"), "Observed");
    let headline = text_of(info, "headline");
    assert!(headline.contains("Garissa"), "{headline}");
    assert!(
        !xml.contains("0712") && !xml.contains("+2547") && !xml.contains("market"),
        "CAP carries no report text or number: {xml}"
    );
    let area = child(info, "area");
    assert!(text_of(area, "areaDesc").starts_with("Garissa"));
    let circle = text_of(area, "circle");
    let (centre, radius) = circle.split_once(' ').unwrap();
    let (lat, lon) = centre.split_once(',').unwrap();
    let (lat, lon, radius): (f64, f64, f64) = (
        lat.parse().unwrap(),
        lon.parse().unwrap(),
        radius.parse().unwrap(),
    );
    // Garissa town is at about 0.46 S, 39.66 E.
    assert!(
        (lat + 0.46).abs() < 0.5 && (lon - 39.66).abs() < 0.5,
        "{circle}"
    );
    assert!(radius > 0.0);

    let feed = app.get("/v1/alerts/cap").await;
    assert_eq!(feed.status(), 200);
    let feed = feed.text().await.unwrap();
    let doc = roxmltree::Document::parse(&feed).unwrap();
    let atom = "http://www.w3.org/2005/Atom";
    let entries: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name((atom, "entry")))
        .collect();
    assert_eq!(entries.len(), 1);
    let embedded = entries[0]
        .descendants()
        .find(|n| n.has_tag_name(cap("alert")))
        .expect("the CAP message inside the entry");
    assert_eq!(text_of(embedded, "identifier"), id);

    // Not public unless configured so.
    let anonymous = app
        .client
        .get(app.url("/v1/alerts/cap"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}
