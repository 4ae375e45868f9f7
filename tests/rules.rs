//! Alert rules as users rely on them: an alert fires the moment its
//! condition holds, once, with the reports that made it; retries and
//! redeliveries count once; several workers fire once; silences fire from
//! the timer; edits reload all or nothing; restarts forget nothing.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const CHOLERA_RULE: &str = r#"
- id: cholera-cluster
  description: Cholera reports anywhere
  match:
    keywords:
      cholera: [cholera, kipindupindu, choléra]
  window: 24h
  when:
    count: { gte: 3 }
  cooldown: 6h
  severity: severe
"#;

fn write_rules(app_config: &ishara::config::Config, file: &str, yaml: &str) {
    std::fs::create_dir_all(&app_config.rules_dir).unwrap();
    std::fs::write(app_config.rules_dir.join(file), yaml).unwrap();
}

/// A config customisation that writes `yaml` as the only rule file.
fn with_rules(yaml: &'static str) -> impl FnOnce(&mut ishara::config::Config) {
    move |c| write_rules(c, "rules.yaml", yaml)
}

async fn alerts(app: &TestApp, query: &str) -> Vec<Value> {
    let page = app.get_json(&format!("/v1/alerts?{query}")).await;
    page["alerts"].as_array().cloned().unwrap_or_default()
}

/// Waits until `n` alerts match `query`, then a little longer to catch any
/// that should not be there.
async fn wait_for_alerts(app: &TestApp, query: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = alerts(app, query).await;
        if found.len() >= n {
            tokio::time::sleep(Duration::from_millis(500)).await;
            return alerts(app, query).await;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} alerts for {query:?}, have {found:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(app: &TestApp, id: &str, text: &str, sender: &str) {
    let body = json!({"id": id, "text": text, "sender": sender}).to_string();
    let reply = app.post_reports("application/json", &body).await;
    assert!(
        reply.status().is_success(),
        "{}",
        reply.text().await.unwrap()
    );
}

#[tokio::test]
async fn an_alert_fires_once_when_its_rule_holds_with_the_reports_that_made_it() {
    let app = TestApp::spawn(with_rules(CHOLERA_RULE)).await;
    post(&app, "a", "Cholera in the village", "+254700000001").await;
    post(&app, "b", "kipindupindu hapa", "+254700000002").await;
    app.wait_for_reports(2).await;
    assert!(
        alerts(&app, "").await.is_empty(),
        "two reports must not fire"
    );

    post(&app, "c", "CHOLÉRA au marché", "+254700000003").await;
    let fired = wait_for_alerts(&app, "state=firing", 1).await;
    assert_eq!(fired.len(), 1, "{fired:#?}");
    let alert = &fired[0];
    assert_eq!(alert["rule"], "cholera-cluster");
    assert_eq!(alert["severity"], "severe");
    assert_eq!(alert["value"], 3.0);
    let mut ids: Vec<String> = app
        .reports()
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut evidence: Vec<String> = alert["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    evidence.sort();
    assert_eq!(evidence, ids, "the evidence is the three stored reports");

    // More reports while it fires: still one alert.
    post(&app, "d", "cholera again", "+254700000004").await;
    app.wait_for_reports(4).await;
    assert_eq!(wait_for_alerts(&app, "", 1).await.len(), 1);

    let one = app
        .get_json(&format!("/v1/alerts/{}", alert["id"].as_str().unwrap()))
        .await;
    assert_eq!(one["id"], alert["id"]);
}

#[tokio::test]
async fn a_report_retried_by_its_gateway_counts_once() {
    let app = TestApp::spawn(with_rules(CHOLERA_RULE)).await;
    for _ in 0..3 {
        post(&app, "same-id", "Cholera in the village", "+254700000001").await;
    }
    post(&app, "other", "cholera", "+254700000002").await;
    app.wait_for_reports(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        alerts(&app, "").await.is_empty(),
        "three copies of one report and one other are two reports"
    );
    post(&app, "third", "cholera", "+254700000003").await;
    assert_eq!(wait_for_alerts(&app, "", 1).await.len(), 1);
}

const FLOOD_PAIR_RULE: &str = r#"
- id: floods
  match: { keywords: [flooding] }
  window: 24h
  when: { count: { gte: 2 } }
"#;

#[tokio::test]
async fn a_resent_report_counts_as_its_first_copy_whatever_the_copy_says() {
    let app = TestApp::spawn(|c| {
        with_rules(FLOOD_PAIR_RULE)(c);
        c.rules.allowed_lateness_secs = 3600;
    })
    .await;
    let old = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    post(&app, "quiet", "all quiet in Nyeri", "+254700000001").await;
    let late = json!({"id": "late", "text": "flooding in Nyeri", "sent_at": old}).to_string();
    assert!(
        app.post_reports("application/json", &late)
            .await
            .status()
            .is_success()
    );
    app.wait_for_reports(2).await;
    // The same ids again: now flooding, and now without the old sent time.
    post(&app, "quiet", "flooding in Nyeri", "+254700000001").await;
    post(&app, "late", "flooding in Nyeri", "+254700000002").await;
    post(&app, "f1", "flooding in Nyeri", "+254700000003").await;
    app.wait_for_reports(3).await;
    post(&app, "f2", "flooding at the bridge", "+254700000004").await;
    let fired = wait_for_alerts(&app, "", 1).await;
    assert_eq!(fired.len(), 1, "{fired:#?}");

    let reports = app.wait_for_reports(4).await;
    let id_of = |source_id: &str| {
        reports
            .iter()
            .find(|r| r["source_id"] == source_id)
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let mut expected = vec![id_of("f1"), id_of("f2")];
    expected.sort();
    let mut evidence: Vec<String> = fired[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    evidence.sort();
    assert_eq!(
        evidence, expected,
        "neither the quiet report nor the late one counts through a copy"
    );
    let quiet = reports.iter().find(|r| r["source_id"] == "quiet").unwrap();
    assert_eq!(
        quiet["text"], "all quiet in Nyeri",
        "the first copy is kept"
    );
}

#[tokio::test]
async fn a_report_later_than_the_allowed_lateness_is_stored_but_not_counted() {
    let app = TestApp::spawn(|c| {
        with_rules(CHOLERA_RULE)(c);
        c.rules.allowed_lateness_secs = 3600;
    })
    .await;
    let old = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    for id in ["a", "b", "c"] {
        let body = json!({"id": id, "text": "cholera", "sent_at": old}).to_string();
        assert!(
            app.post_reports("application/json", &body)
                .await
                .status()
                .is_success()
        );
    }
    let late: Vec<String> = app
        .wait_for_reports(3)
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    // The positive control: three reports on time fire the rule, and
    // they alone are its evidence.
    for id in ["d", "e", "f"] {
        post(&app, id, "cholera", "+254700000009").await;
    }
    let fired = wait_for_alerts(&app, "", 1).await;
    let evidence = fired[0]["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 3, "{fired:#?}");
    assert!(
        evidence
            .iter()
            .all(|id| !late.contains(&id.as_str().unwrap().to_owned())),
        "late reports are not evidence: {fired:#?}"
    );
}

#[tokio::test]
async fn bad_alert_queries_are_refused_and_need_a_token() {
    let app = TestApp::embedded().await;
    let reply = app.get("/v1/alerts?state=burning").await;
    assert_eq!(reply.status(), 400);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["field"], "state");
    let reply = app.client.get(app.url("/v1/alerts")).send().await.unwrap();
    assert_eq!(reply.status(), 401);
    let reply = app.get("/v1/alerts/01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    assert_eq!(reply.status(), 404);
}

#[tokio::test]
async fn a_silence_fires_from_the_timer_and_resolves_when_reports_come_back() {
    let app = TestApp::spawn(|c| {
        with_rules(
            r#"
- id: quiet
  when:
    absence: { baseline: 1h, silence: 2s }
"#,
        )(c);
        c.rules.evaluation_interval_ms = 200;
    })
    .await;
    post(&app, "a", "all well", "+254700000001").await;
    app.wait_for_reports(1).await;
    // No report arrives: the timer alone notices the silence.
    let fired = wait_for_alerts(&app, "state=firing", 1).await;
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0]["rule"], "quiet");

    post(&app, "b", "back again", "+254700000001").await;
    let resolved = wait_for_alerts(&app, "state=resolved", 1).await;
    assert_eq!(resolved[0]["id"], fired[0]["id"]);
    assert!(resolved[0]["resolved_at"].is_string());
}

#[tokio::test]
async fn in_memory_windows_and_cooldowns_survive_a_restart() {
    let app = TestApp::spawn(|c| {
        with_rules(CHOLERA_RULE)(c);
        // Shorter than the pause below: the rebuild must judge lateness by
        // when a report arrived, not by when the process restarted.
        c.rules.allowed_lateness_secs = 2;
    })
    .await;
    post(&app, "a", "cholera", "+254700000001").await;
    post(&app, "b", "cholera", "+254700000002").await;
    app.wait_for_reports(2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let app = app.restart().await;
    post(&app, "c", "cholera", "+254700000003").await;
    let fired = wait_for_alerts(&app, "", 1).await;
    assert_eq!(
        fired.len(),
        1,
        "the two reports before the restart still count"
    );

    // The alert is held across a restart: more reports do not fire again.
    let app = app.restart().await;
    post(&app, "d", "cholera", "+254700000004").await;
    app.wait_for_reports(4).await;
    assert_eq!(wait_for_alerts(&app, "", 1).await.len(), 1);
}

#[tokio::test]
async fn rule_edits_reload_all_or_nothing() {
    let app = TestApp::spawn(with_rules(CHOLERA_RULE)).await;
    assert_eq!(
        app.get_json("/v1/rules").await["rules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A good new file is picked up without a restart.
    write_rules(
        &app.config,
        "floods.yaml",
        "- id: flood\n  match: { keywords: [flood] }\n  window: 1h\n  when: { count: { gte: 1 } }\n",
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.get_json("/v1/rules").await["rules"]
        .as_array()
        .unwrap()
        .len()
        != 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "new rule not loaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A broken edit is refused with file:line:column, and both rules stay.
    write_rules(
        &app.config,
        "floods.yaml",
        "- id: flood\n  match: { keywords: [flood] }\n  window: soon\n  when: { count: { gte: 1 } }\n",
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = app.get_json("/v1/rules").await;
        if !status["reload"]["refused"].as_array().unwrap().is_empty() {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "broken edit not noticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let refused = status["reload"]["refused"][0].as_str().unwrap();
    assert!(refused.contains("floods.yaml:3:"), "{refused}");
    assert_eq!(status["rules"].as_array().unwrap().len(), 2);

    // The rules in force still work.
    post(&app, "f", "flood on the road", "+254700000001").await;
    let fired = wait_for_alerts(&app, "rule=flood", 1).await;
    assert_eq!(fired.len(), 1);
}

#[tokio::test]
async fn with_redis_and_two_workers_one_firing_is_one_alert() {
    let db = TestDatabase::create().await;
    let (amqp, redis) = (amqp_url(), redis_url());
    let prefix = unique("rules");
    let config = |c: &mut ishara::config::Config| {
        with_rules(CHOLERA_RULE)(c);
        c.amqp.url = Some(amqp.clone());
        c.amqp.prefix = prefix.clone();
        c.database.url = Some(db.url.clone());
        c.redis.url = Some(redis.clone());
        c.redis.prefix = format!("{prefix}:");
    };
    let first = TestApp::spawn(config).await;
    let second = TestApp::spawn(config).await;
    // Twenty reports spread over both workers: the condition holds from
    // the third one on, in whichever worker counts it.
    for n in 0..20 {
        let app = if n % 2 == 0 { &first } else { &second };
        post(
            app,
            &format!("r{n}"),
            "cholera",
            &format!("+2547000000{n:02}"),
        )
        .await;
    }
    first.wait_for_reports(20).await;
    let fired = wait_for_alerts(&first, "", 1).await;
    assert_eq!(fired.len(), 1, "{fired:#?}");
    delete_amqp(&amqp, &prefix).await;
    clear_redis(&redis, &format!("{prefix}:")).await;
}

const FLOODS_BY_COUNTY_AND_TOWN: &str = r#"
- id: floods-by-county
  match:
    keywords:
      flood: [floods, flooding, mafuriko]
  group_by: admin1
  window: 24h
  when:
    count: { gte: 3 }
- id: floods-by-town
  match:
    keywords:
      flood: [floods, flooding, mafuriko]
  group_by: place
  window: 24h
  when:
    count: { gte: 1 }
"#;

#[tokio::test]
async fn reports_naming_a_county_count_per_county_and_invent_no_town() {
    let app = TestApp::spawn(with_rules(FLOODS_BY_COUNTY_AND_TOWN)).await;
    post(
        &app,
        "r1",
        "Floods in Tana River county, roads cut",
        "+254700000011",
    )
    .await;
    post(&app, "r2", "mafuriko kaunti ya Tana River", "+254700000012").await;
    post(
        &app,
        "r3",
        "TANA RIVER COUNTY: flooding, 40 families displaced",
        "+254700000013",
    )
    .await;
    let reports = app.wait_for_reports(3).await;
    for report in &reports {
        let place = &report["place"];
        assert_eq!(place["kind"], "admin1", "{place:#}");
        assert_eq!(place["admin1_code"], "KE.48", "{place:#}");
        assert_eq!(place["admin1_name"], "Tana River");
        assert_eq!(place["place_id"], Value::Null, "no town is invented");
    }
    let fired = wait_for_alerts(&app, "state=firing", 1).await;
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0]["rule"], "floods-by-county");
    assert_eq!(fired[0]["group"], "admin1=KE.48");

    // A town named: counted per town as well.
    post(&app, "r4", "Floods in Garissa town", "+254700000014").await;
    let by_town = wait_for_alerts(&app, "rule=floods-by-town", 1).await;
    assert_eq!(by_town.len(), 1, "{by_town:#?}");
    assert_eq!(by_town[0]["group"], "place=197745");
}
