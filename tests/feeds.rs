//! `POST /v1/reports` from other systems and `GET /v1/reports`, against the
//! embedded default.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn one_json_report_is_accepted_and_listed_with_its_source_id() {
    let app = TestApp::embedded().await;
    let res = app
        .post_reports(
            "application/json",
            r#"{"id":"kobo-17","text":"Watery diarrhoea, 4 children","sender":"0712345678","sent_at":"2025-03-01T11:15:30+03:00","lat":-0.4532,"lon":39.6461,"meta":{"form":"idsr"},"source":"kobo"}"#,
        )
        .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    let reports = app.wait_for_reports(1).await;
    let r = &reports[0];
    assert_eq!(r["id"], body["id"]);
    assert_eq!(r["source"], "feed:kobo");
    assert_eq!(r["source_id"], "kobo-17");
    assert_eq!(r["sender"], "+254712345678");
    assert_eq!(r["sent_at"], "2025-03-01T08:15:30Z");
    assert_eq!(
        (r["lat"].as_f64(), r["lon"].as_f64()),
        (Some(-0.4532), Some(39.6461))
    );
    assert_eq!(r["meta"], json!({"form": "idsr"}));
}

#[tokio::test]
async fn a_batch_answers_per_item_and_keeps_the_good_ones() {
    let app = TestApp::embedded().await;
    let res = app
        .post_reports(
            "application/json",
            r#"[{"id":"a","text":"Flood at the bridge"},{"id":"b"},{"id":"c","text":"Road cut","lat":200,"lon":0}]"#,
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"], 2);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "accepted");
    assert_eq!(results[0]["source_id"], "a");
    assert_eq!(
        results[1],
        json!({"index": 1, "status": "rejected", "error": "missing field", "field": "text"})
    );
    assert_eq!(results[2]["field"], "lat");
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["source_id"], "a");
}

#[tokio::test]
async fn ndjson_lines_are_reports() {
    let app = TestApp::embedded().await;
    let body = "{\"id\":\"n1\",\"text\":\"Maji yamefika\"}\n{\"id\":\"n2\",\"text\":\"Daraja limevunjika\"}\n{broken\n";
    let res = app.post_reports("application/x-ndjson", body).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(app.wait_for_reports(2).await.len(), 2);
}

#[tokio::test]
async fn geojson_feature_collection_takes_coordinates_from_the_geometry() {
    let app = TestApp::embedded().await;
    let body = json!({
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "id": "ushahidi-9",
            "geometry": {"type": "Point", "coordinates": [40.1123, -1.4876]},
            "properties": {"text": "Mafuriko Hola", "sent_at": "2025-03-01T08:00:00Z"}
        }]
    });
    let res = app
        .post_reports("application/geo+json", &body.to_string())
        .await;
    assert_eq!(res.status(), 200);
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports[0]["source_id"], "ushahidi-9");
    assert_eq!(reports[0]["lat"].as_f64(), Some(-1.4876));
    assert_eq!(reports[0]["lon"].as_f64(), Some(40.1123));
}

#[tokio::test]
async fn the_same_source_id_sent_again_is_stored_once() {
    let app = TestApp::embedded().await;
    let report = r#"{"id":"dup-1","text":"Cholera suspected in Dadaab"}"#;
    for _ in 0..3 {
        assert_eq!(
            app.post_reports("application/json", report).await.status(),
            202
        );
    }
    let batch = format!("[{report},{report}]");
    assert_eq!(
        app.post_reports("application/json", &batch).await.status(),
        200
    );
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports.len(), 1);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let app = TestApp::spawn(|c| c.http.max_body_bytes = 256).await;
    let cases: [(&str, String, u16, Value); 5] = [
        (
            "application/json",
            r#"{"text":"x","colour":"red"}"#.into(),
            400,
            json!("colour"),
        ),
        ("application/json", "{not json".into(), 400, Value::Null),
        (
            "application/json",
            r#"{"text":"x","sent_at":"tuesday"}"#.into(),
            400,
            json!("sent_at"),
        ),
        ("text/csv", "id,text\n1,x".into(), 415, Value::Null),
        (
            "application/json",
            format!(r#"{{"text":"{}"}}"#, "x".repeat(300)),
            413,
            Value::Null,
        ),
    ];
    for (content_type, body, status, field) in cases {
        let res = app.post_reports(content_type, &body).await;
        assert_eq!(res.status(), status, "{content_type} {body}");
        let err: Value = res.json().await.unwrap();
        assert!(err["error"].is_string(), "{err}");
        assert_eq!(err.get("field").cloned().unwrap_or(Value::Null), field);
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn the_report_api_needs_the_token() {
    let app = TestApp::embedded().await;
    let post = |auth: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url("/v1/reports"))
            .header("content-type", "application/json")
            .body(r#"{"text":"x"}"#);
        if let Some(token) = auth {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(
        post(Some("wrong-token-wrong-token"))
            .await
            .unwrap()
            .status(),
        403
    );
    let res = app.client.get(app.url("/v1/reports")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn listing_pages_newest_first_with_a_cursor() {
    let app = TestApp::embedded().await;
    for i in 0..5 {
        let body = format!(r#"{{"id":"p{i}","text":"report {i}"}}"#);
        assert_eq!(
            app.post_reports("application/json", &body).await.status(),
            202
        );
    }
    app.wait_for_reports(5).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".to_owned(),
        };
        let page = reports_page(&app.client, &app.base, API_TOKEN, &query).await;
        for r in page["reports"].as_array().unwrap() {
            seen.push(r["source_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["p4", "p3", "p2", "p1", "p0"]);

    for bad in ["limit=0", "limit=100000", "limit=ten", "cursor=nope"] {
        let res = app
            .client
            .get(app.url(&format!("/v1/reports?{bad}")))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let field = bad.split('=').next().unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["field"], field);
    }
}

#[tokio::test]
async fn health_answers_once_up() {
    let app = TestApp::embedded().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// A `400` naming `field`, and nothing stored or dead-lettered.
async fn refused_naming(app: &TestApp, content_type: &str, body: &str, field: &str) {
    let res = app.post_reports(content_type, body).await;
    assert_eq!(res.status(), 400, "{body}");
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["field"], field, "{err}");
    app.assert_nothing_changed().await;
}

#[tokio::test]
async fn a_nul_in_text_is_refused_naming_text() {
    let app = TestApp::embedded().await;
    refused_naming(
        &app,
        "application/json",
        r#"{"id":"nul-1","text":"Flood\u0000 at the bridge"}"#,
        "text",
    )
    .await;
}

#[tokio::test]
async fn a_nul_in_id_is_refused_naming_id() {
    let app = TestApp::embedded().await;
    refused_naming(
        &app,
        "application/json",
        r#"{"id":"nul\u0000-2","text":"Flood at the bridge"}"#,
        "id",
    )
    .await;
}

#[tokio::test]
async fn a_nul_deep_in_meta_is_refused_naming_its_path() {
    let app = TestApp::embedded().await;
    refused_naming(
        &app,
        "application/json",
        r#"{"id":"nul-3","text":"Flood","meta":{"team":{"names":["ok","a\u0000b"]}}}"#,
        "meta.team.names[1]",
    )
    .await;
}

#[tokio::test]
async fn a_nul_in_a_meta_key_is_refused_naming_meta() {
    let app = TestApp::embedded().await;
    refused_naming(
        &app,
        "application/json",
        r#"{"id":"nul-4","text":"Flood","meta":{"te\u0000am":"a"}}"#,
        "meta",
    )
    .await;
}

#[tokio::test]
async fn a_nul_in_a_geojson_property_is_refused_naming_it() {
    let app = TestApp::embedded().await;
    let body = json!({
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": null,
                      "properties": {"text": "Mafuriko", "sender": "+2547\u{0}12345678"}}]
    });
    let res = app
        .post_reports("application/geo+json", &body.to_string())
        .await;
    assert_eq!(res.status(), 400);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["results"][0]["field"], "sender", "{answer}");
    app.assert_nothing_changed().await;
}

#[tokio::test]
async fn a_nul_is_refused_on_postgresql_too() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(|c| c.database.url = Some(db.url.clone())).await;
    refused_naming(
        &app,
        "application/json",
        r#"{"id":"nul-pg","text":"Flood\u0000"}"#,
        "text",
    )
    .await;
}

/// `400` with an error that says the batch was empty, and nothing stored.
async fn refused_as_empty(app: &TestApp, content_type: &str, body: &str) {
    let res = app.post_reports(content_type, body).await;
    assert_eq!(res.status(), 400, "{body:?}");
    let err: Value = res.json().await.unwrap();
    assert!(
        err["error"].as_str().unwrap().contains("empty batch"),
        "{err}"
    );
    app.assert_nothing_changed().await;
}

#[tokio::test]
async fn an_empty_ndjson_body_is_400() {
    let app = TestApp::embedded().await;
    refused_as_empty(&app, "application/x-ndjson", "").await;
}

#[tokio::test]
async fn an_ndjson_body_of_blank_lines_is_400() {
    let app = TestApp::embedded().await;
    refused_as_empty(&app, "application/x-ndjson", "\n  \n\r\n").await;
}

#[tokio::test]
async fn an_empty_json_array_is_400() {
    let app = TestApp::embedded().await;
    refused_as_empty(&app, "application/json", "[]").await;
}

#[tokio::test]
async fn an_empty_feature_collection_is_400() {
    let app = TestApp::embedded().await;
    refused_as_empty(
        &app,
        "application/geo+json",
        r#"{"type":"FeatureCollection","features":[]}"#,
    )
    .await;
}
