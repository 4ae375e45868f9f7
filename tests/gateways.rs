//! Each SMS gateway, spoken to in its own wire format, against the
//! embedded default (local queue, SQLite). Payloads and secrets are the
//! worked examples of `docs/gateways.md` ("Signatures, step by step").

mod common;

use common::*;
use serde_json::{Value, json};

const TWILIO_B: &str = "MessageSid=SM0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B254712345678&To=%2B254700000000&Body=Cholera+cases+in+Garissa&NumMedia=0&FromCity=";
/// Example B's body signed over our URL, computed with Python's `hmac`
/// (not with our code): `https://alerts.example.org/v1/inbound/twilio?site=7`.
const TWILIO_B_SIGNATURE: &str = "GDxYOSrglwCauMK7JKG3IJtU1mE=";
/// The same over the `:443` URL; Twilio's SDK accepts either.
const TWILIO_B_SIGNATURE_443: &str = "Nd8f8LxwItP7sKsEbzELWKcyguo=";

async fn twilio_app() -> TestApp {
    TestApp::spawn(|c| c.http.public_url = Some("https://alerts.example.org".into())).await
}

async fn post_twilio(app: &TestApp, body: &str, signature: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/v1/inbound/twilio?site=7"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header("X-Twilio-Signature", sig);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn twilio_documented_example_is_accepted_with_twiml_and_stored_once() {
    let app = twilio_app().await;
    for signature in [
        TWILIO_B_SIGNATURE,
        TWILIO_B_SIGNATURE_443,
        TWILIO_B_SIGNATURE,
    ] {
        let res = post_twilio(&app, TWILIO_B, Some(signature)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/xml");
        assert_eq!(
            res.text().await.unwrap(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
    }
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports.len(), 1, "a retried MessageSid is stored once");
    let r = &reports[0];
    assert_eq!(r["source"], "twilio");
    assert_eq!(r["source_id"], "SM0123456789abcdef0123456789abcdef");
    assert_eq!(r["sender"], "+254712345678");
    assert_eq!(r["sender_kind"], "e164");
    assert_eq!(r["recipient"], "+254700000000");
    assert_eq!(r["text"], "Cholera cases in Garissa");
    assert_eq!(r["meta"]["FromCity"], "");
    assert!(r["sender_pseudonym"].as_str().unwrap().starts_with("ps_"));
}

#[tokio::test]
async fn twilio_refuses_bad_missing_or_unsigned_field_signatures() {
    let app = twilio_app().await;
    let res = post_twilio(&app, TWILIO_B, None).await;
    assert_eq!(res.status(), 401);
    let res = post_twilio(&app, TWILIO_B, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=")).await;
    assert_eq!(res.status(), 403);
    // An added field that the signature does not cover.
    let tampered = format!("{TWILIO_B}&FromCountry=KE");
    let res = post_twilio(&app, &tampered, Some(TWILIO_B_SIGNATURE)).await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("X-Twilio-Signature")
    );
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn twilio_signature_signed_by_recipe_and_missing_field_is_400() {
    let app = twilio_app().await;
    let url = "https://alerts.example.org/v1/inbound/twilio?site=7";
    let body = "MessageSid=SM0000000000000000000000000000000a&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B254712345678&To=%2B254700000000&NumMedia=0";
    let res = post_twilio(&app, body, Some(&twilio_signature(TWILIO_TOKEN, url, body))).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err, json!({"error": "missing field", "field": "Body"}));
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn twilio_from_another_account_is_forbidden() {
    let app = twilio_app().await;
    let url = "https://alerts.example.org/v1/inbound/twilio?site=7";
    let body = TWILIO_B.replace("AC0123456789abcdef", "AC9999999999999999");
    let res = post_twilio(
        &app,
        &body,
        Some(&twilio_signature(TWILIO_TOKEN, url, &body)),
    )
    .await;
    assert_eq!(res.status(), 403);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn twilio_json_webhook_checks_body_hash() {
    use sha2::Digest;
    let app = twilio_app().await;
    let body = r#"{"MessageSid":"SM0123456789abcdef0123456789abcdef","From":"+254712345678","Body":"Cholera cases in Garissa"}"#;
    let hash = hex::encode(sha2::Sha256::digest(body));
    let path = format!("/v1/inbound/twilio?site=7&bodySHA256={hash}");
    let signature = twilio_signature(
        TWILIO_TOKEN,
        &format!("https://alerts.example.org{path}"),
        "",
    );
    let send = |body: &'static str| {
        app.client
            .post(app.url(&path))
            .header("content-type", "application/json")
            .header("X-Twilio-Signature", signature.clone())
            .body(body)
            .send()
    };
    let tampered = r#"{"MessageSid":"SM0123456789abcdef0123456789abcdef","From":"+254712345678","Body":"Nothing happened"}"#;
    assert_eq!(send(tampered).await.unwrap().status(), 403);
    assert_eq!(send(body).await.unwrap().status(), 200);
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports[0]["text"], "Cholera cases in Garissa");
}

const VONAGE_KENYA: &str = "msisdn=254712345678&to=254700000000&messageId=0B00000123ABCDEF&text=Cholera%3A+3+cases+%26+1+death%2C+ward%3DDadaab&type=text&keyword=CHOLERA&api-key=abcd1234&message-timestamp=2025-03-01+08%3A15%3A30&timestamp=1740816930&nonce=5f0c1a2e-7b4d-4c1e-9a3f-2d6e8b9c0a11";
/// The spec's md5hash signature of the Kenya example.
const VONAGE_KENYA_SIG: &str = "f209c5bad04eaf6360303179ef62393c";

#[tokio::test]
async fn vonage_documented_example_is_accepted_with_204() {
    let app = TestApp::embedded().await;
    let signed = format!("{VONAGE_KENYA}&sig={VONAGE_KENYA_SIG}");
    for _ in 0..2 {
        let res = app.post_form("/v1/inbound/vonage", &signed).await;
        assert_eq!(res.status(), 204);
        assert!(res.bytes().await.unwrap().is_empty());
    }
    // GET with the same parameters in the query, as Vonage may be set to.
    let res = app
        .client
        .get(app.url(&format!("/v1/inbound/vonage?{signed}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r["text"], "Cholera: 3 cases & 1 death, ward=Dadaab");
    assert_eq!(r["sender"], "+254712345678");
    assert_eq!(r["source_id"], "0B00000123ABCDEF");
    assert_eq!(r["sent_at"], "2025-03-01T08:15:30Z");
    assert_eq!(r["meta"]["keyword"], "CHOLERA");
}

#[tokio::test]
async fn vonage_refuses_tampered_and_unsigned_requests() {
    let app = TestApp::embedded().await;
    let tampered = format!("{VONAGE_KENYA}&sig={VONAGE_KENYA_SIG}").replace("Dadaab", "Garissa");
    assert_eq!(
        app.post_form("/v1/inbound/vonage", &tampered)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.post_form("/v1/inbound/vonage", VONAGE_KENYA)
            .await
            .status(),
        401
    );
    app.assert_nothing_stored().await;
}

fn vonage_part(id: &str, part: &str, text: &str) -> String {
    let now = chrono::Utc::now().timestamp().to_string();
    let mut params = vec![
        ("msisdn", "254711000222"),
        ("to", "254700000000"),
        ("messageId", id),
        ("text", text),
        ("type", "text"),
        ("timestamp", now.as_str()),
        ("concat", "true"),
        ("concat-ref", "42"),
        ("concat-total", "3"),
        ("concat-part", part),
    ];
    let sig = vonage_md5hash(VONAGE_SECRET, &params);
    params.push(("sig", &sig));
    form(&params)
}

#[tokio::test]
async fn vonage_multipart_parts_are_joined_in_order_once() {
    let app = TestApp::embedded().await;
    let parts = [
        vonage_part("P3", "3", " near the market."),
        vonage_part("P1", "1", "Maji yamefika"),
        vonage_part("P1", "1", "Maji yamefika"),
        vonage_part("P2", "2", " Tana River"),
        vonage_part("P2", "2", " Tana River"),
    ];
    for part in &parts {
        assert_eq!(
            app.post_form("/v1/inbound/vonage", part).await.status(),
            204
        );
    }
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(
        reports[0]["text"],
        "Maji yamefika Tana River near the market."
    );
    assert_eq!(reports[0]["source_id"], "P1");
    assert_eq!(reports[0]["meta"]["part_ids"], json!(["P1", "P2", "P3"]));
    // A part redelivered after the message was joined changes nothing.
    assert_eq!(
        app.post_form("/v1/inbound/vonage", &parts[0])
            .await
            .status(),
        204
    );
    assert_eq!(app.wait_for_reports(1).await.len(), 1);
}

#[tokio::test]
async fn vonage_parts_that_never_complete_are_stored_after_the_timeout() {
    let app = TestApp::spawn(|c| c.worker.concat_timeout_secs = 1).await;
    let part = vonage_part("Q1", "1", "Mafuriko yamefika");
    assert_eq!(
        app.post_form("/v1/inbound/vonage", &part).await.status(),
        204
    );
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports[0]["text"], "Mafuriko yamefika");
    assert_eq!(reports[0]["meta"]["concat_missing"], json!([2, 3]));
}

#[tokio::test]
async fn africastalking_token_in_path_or_query() {
    let app = TestApp::embedded().await;
    let body = "from=%2B254712345678&to=22384&text=Kipindupindu+Garissa&date=2025-03-01+08%3A15%3A30&id=ATXid_1&linkId=L1";
    let res = app
        .post_form(&format!("/v1/inbound/africastalking/{AT_TOKEN}"), body)
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.bytes().await.unwrap().is_empty());
    let res = app
        .post_form(
            &format!("/v1/inbound/africastalking?token={AT_TOKEN}"),
            body,
        )
        .await;
    assert_eq!(res.status(), 200);
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["text"], "Kipindupindu Garissa");
    assert_eq!(reports[0]["recipient"], "22384");
    assert_eq!(reports[0]["sent_at"], "2025-03-01T08:15:30Z");
    assert_eq!(reports[0]["meta"]["linkId"], "L1");
}

#[tokio::test]
async fn africastalking_refuses_missing_or_wrong_token_and_missing_sender() {
    let app = TestApp::embedded().await;
    let body = "from=%2B254712345678&to=22384&text=x&id=ATXid_2";
    assert_eq!(
        app.post_form("/v1/inbound/africastalking", body)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.post_form("/v1/inbound/africastalking/wrong-token-000", body)
            .await
            .status(),
        403
    );
    let res = app
        .post_form(
            &format!("/v1/inbound/africastalking/{AT_TOKEN}"),
            "to=22384&text=x&id=ATXid_3",
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["field"], "from");
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn smssync_answers_in_its_envelope() {
    let app = TestApp::embedded().await;
    let body = form(&[
        ("from", "0712 345 678"),
        ("message", "Choléra à Mopti: 3 cas"),
        ("message_id", "6f1c2b0e-1111-2222-3333-444455556666"),
        ("sent_timestamp", "1740816930000"),
        ("sent_to", "+254700000000"),
        ("secret", SMSSYNC_SECRET),
        ("device_id", "phone-1"),
    ]);
    for _ in 0..2 {
        let res = app.post_form("/v1/inbound/smssync", &body).await;
        assert_eq!(res.status(), 200);
        let reply: Value = res.json().await.unwrap();
        assert_eq!(reply, json!({"payload": {"success": true, "error": null}}));
    }
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["sender"], "+254712345678");
    assert_eq!(reports[0]["text"], "Choléra à Mopti: 3 cas");
    assert_eq!(reports[0]["sent_at"], "2025-03-01T08:15:30Z");

    let wrong = body.replace(SMSSYNC_SECRET, "not-the-secret");
    let res = app.post_form("/v1/inbound/smssync", &wrong).await;
    assert_eq!(res.status(), 403);
    let reply: Value = res.json().await.unwrap();
    assert_eq!(reply["payload"]["success"], false);

    let res = app
        .post_form(
            "/v1/inbound/smssync",
            &form(&[
                ("from", "0712345678"),
                ("message", "x"),
                ("secret", SMSSYNC_SECRET),
            ]),
        )
        .await;
    assert_eq!(res.status(), 400);
    let reply: Value = res.json().await.unwrap();
    assert!(
        reply["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("message_id")
    );
}

#[tokio::test]
async fn smssync_task_polling_needs_the_secret() {
    let app = TestApp::embedded().await;
    let res = app
        .client
        .get(app.url(&format!(
            "/v1/inbound/smssync?task=send&secret={SMSSYNC_SECRET}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let reply: Value = res.json().await.unwrap();
    assert_eq!(reply["payload"]["task"], "send");
    assert_eq!(reply["payload"]["secret"], SMSSYNC_SECRET);
    assert_eq!(reply["payload"]["messages"], json!([]));
    let res = app
        .client
        .get(app.url("/v1/inbound/smssync?task=send&secret=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn generic_gateway_takes_bearer_token_or_body_hmac() {
    let app = TestApp::embedded().await;
    let body = r#"{"id":"g-1","from":"0722000111","text":"Mafuriko Tana River"}"#;
    // HMAC-SHA256 of the body with "generic-hmac-secret", by Python's hmac.
    let signature = "sha256=140e53b225ac362e7f9273cf86243b836740e1074d422d4436f4b6522e57e725";
    let post = |auth: Option<(&'static str, String)>| {
        let mut req = app
            .client
            .post(app.url("/v1/inbound/generic"))
            .header("content-type", "application/json")
            .body(body);
        if let Some((name, value)) = auth {
            req = req.header(name, value);
        }
        req.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(
        post(Some(("X-Ishara-Signature", "sha256=00".into())))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(Some(("Authorization", "Bearer nope-nope-nope".into())))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(Some(("X-Ishara-Signature", signature.into())))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post(Some(("Authorization", format!("Bearer {GENERIC_TOKEN}"))))
            .await
            .unwrap()
            .status(),
        200
    );
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["sender"], "+254722000111");
}

#[tokio::test]
async fn generic_gateway_without_id_deduplicates_by_content() {
    let app = TestApp::embedded().await;
    let body = form(&[
        ("from", "+254722000111"),
        ("text", "Daraja limevunjika"),
        ("sent_at", "2025-03-01T08:15:30Z"),
    ]);
    for _ in 0..3 {
        let res = app
            .post_form(&format!("/v1/inbound/generic?token={GENERIC_TOKEN}"), &body)
            .await;
        assert_eq!(res.status(), 200);
    }
    let reports = app.wait_for_reports(1).await;
    assert_eq!(reports.len(), 1);
    assert!(
        reports[0]["source_id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[tokio::test]
async fn unconfigured_gateway_is_not_reachable() {
    let app = TestApp::spawn(|c| c.gateways.vonage = None).await;
    let signed = format!("{VONAGE_KENYA}&sig={VONAGE_KENYA_SIG}");
    let res = app.post_form("/v1/inbound/vonage", &signed).await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "gateway not configured"
    );
    assert_eq!(
        app.post_form("/v1/inbound/nosuch", "a=b").await.status(),
        404
    );
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn oversize_and_unknown_content_types_are_refused_before_anything_else() {
    let app = TestApp::spawn(|c| c.http.max_body_bytes = 1024).await;
    let big = format!("{TWILIO_B}&Padding={}", "x".repeat(2000));
    let res = post_twilio(&app, &big, Some(TWILIO_B_SIGNATURE)).await;
    assert_eq!(res.status(), 413);
    assert!(
        res.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("1024")
    );
    let res = app
        .client
        .post(app.url(&format!("/v1/inbound/africastalking/{AT_TOKEN}")))
        .header("content-type", "text/plain")
        .body("from=1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    app.assert_nothing_stored().await;
}

/// A `400` naming `field`, and nothing stored or dead-lettered.
async fn refused_naming(app: &TestApp, res: reqwest::Response, field: &str) {
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["field"], field, "{err}");
    app.assert_nothing_changed().await;
}

/// A Twilio form signed by the recipe over our public URL.
async fn post_twilio_signed(app: &TestApp, body: &str) -> reqwest::Response {
    let url = "https://alerts.example.org/v1/inbound/twilio?site=7";
    post_twilio(app, body, Some(&twilio_signature(TWILIO_TOKEN, url, body))).await
}

#[tokio::test]
async fn twilio_nul_in_body_is_400_naming_body() {
    let app = twilio_app().await;
    let body = TWILIO_B.replace("Cholera+cases", "Cholera%00cases");
    let res = post_twilio_signed(&app, &body).await;
    refused_naming(&app, res, "Body").await;
}

#[tokio::test]
async fn twilio_nul_in_from_is_400_naming_from() {
    let app = twilio_app().await;
    let body = TWILIO_B.replace("From=%2B254712345678", "From=%2B2547%0012345678");
    let res = post_twilio_signed(&app, &body).await;
    refused_naming(&app, res, "From").await;
}

#[tokio::test]
async fn twilio_invalid_utf8_is_400_not_replaced() {
    let app = twilio_app().await;
    let body = TWILIO_B.replace("Cholera+cases", "Cholera+%FF%FEcases");
    let res = post_twilio_signed(&app, &body).await;
    refused_naming(&app, res, "Body").await;
}

#[tokio::test]
async fn africastalking_invalid_utf8_is_400() {
    let app = TestApp::embedded().await;
    let mut body = b"from=%2B254712345678&to=22384&id=ATXid_9&text=Mafuriko+".to_vec();
    body.extend_from_slice(&[0xC3, 0x28]);
    let res = app
        .post_bytes(
            &format!("/v1/inbound/africastalking/{AT_TOKEN}"),
            "application/x-www-form-urlencoded",
            body,
        )
        .await;
    refused_naming(&app, res, "text").await;
}

#[tokio::test]
async fn africastalking_nul_in_text_is_400() {
    let app = TestApp::embedded().await;
    let res = app
        .post_form(
            &format!("/v1/inbound/africastalking/{AT_TOKEN}"),
            "from=%2B254712345678&to=22384&id=ATXid_8&text=Mafuriko%00",
        )
        .await;
    refused_naming(&app, res, "text").await;
}

#[tokio::test]
async fn smssync_invalid_utf8_is_refused_in_its_envelope() {
    let app = TestApp::embedded().await;
    let body = format!("from=0712345678&message=Chol%E9ra&message_id=m-1&secret={SMSSYNC_SECRET}");
    let res = app.post_form("/v1/inbound/smssync", &body).await;
    assert_eq!(res.status(), 400);
    let reply: Value = res.json().await.unwrap();
    assert_eq!(reply["payload"]["success"], false);
    assert!(
        reply["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("message"),
        "{reply}"
    );
    app.assert_nothing_changed().await;
}

#[tokio::test]
async fn generic_json_nul_in_text_is_400() {
    let app = TestApp::embedded().await;
    let res = app
        .client
        .post(app.url("/v1/inbound/generic"))
        .header("content-type", "application/json")
        .bearer_auth(GENERIC_TOKEN)
        .body(r#"{"id":"g-nul","from":"0722000111","text":"Mafuriko\u0000"}"#)
        .send()
        .await
        .unwrap();
    refused_naming(&app, res, "text").await;
}

#[tokio::test]
async fn generic_form_invalid_utf8_is_400() {
    let app = TestApp::embedded().await;
    let res = app
        .client
        .post(app.url("/v1/inbound/generic"))
        .header("content-type", "application/x-www-form-urlencoded")
        .bearer_auth(GENERIC_TOKEN)
        .body(b"id=g-utf&from=0722000111&text=Mafuriko%C0%AF".to_vec())
        .send()
        .await
        .unwrap();
    refused_naming(&app, res, "text").await;
}
