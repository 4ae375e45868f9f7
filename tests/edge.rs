//! The HTTP edge under hostile or heavy clients, against the embedded
//! default: bodies that stall or trickle, more connections than the limit,
//! and one large batch beside single webhooks.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BODY_TIMEOUT: Duration = Duration::from_secs(1);
/// Scheduling on a shared machine: how late past a deadline still counts.
const MARGIN: Duration = Duration::from_secs(3);

async fn app_with(customize: impl FnOnce(&mut ishara::config::Config)) -> TestApp {
    TestApp::spawn(|c| {
        c.http.body_timeout_ms = BODY_TIMEOUT.as_millis() as u64;
        customize(c);
    })
    .await
}

fn port(app: &TestApp) -> u16 {
    app.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// Headers that promise a body of 1000 bytes, and the first few of them.
const STALLED_HEAD: &str = "POST /v1/inbound/twilio HTTP/1.1\r\nHost: 127.0.0.1\r\n\
    Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nBody=ab";

/// Sends [`STALLED_HEAD`], then nothing; returns what came back before the
/// server closed, and when it closed.
async fn stall(port: u16) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(STALLED_HEAD.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream).await;
    (answer, started.elapsed())
}

async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    // A reset after the answer is a close too.
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn assert_timed_out(answer: &str, took: Duration, deadline: Duration) {
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "expected 408, got {answer:?}"
    );
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON in {answer:?}"));
    assert!(json["error"].is_string(), "{json}");
    assert!(
        took <= deadline,
        "closed after {took:?}, deadline {deadline:?}"
    );
}

#[tokio::test]
async fn stalled_bodies_are_answered_408_at_the_deadline_while_health_answers() {
    let app = app_with(|_| {}).await;
    let port = port(&app);
    let stalled: Vec<_> = (0..200).map(|_| tokio::spawn(stall(port))).collect();
    let asked = Instant::now();
    let health = tokio::time::timeout(
        BODY_TIMEOUT + MARGIN,
        app.client.get(app.url("/healthz")).send(),
    )
    .await
    .expect("healthz answers while bodies stall")
    .unwrap();
    assert_eq!(health.status(), 200);
    println!("healthz answered in {:?}", asked.elapsed());
    for conn in stalled {
        let (answer, took) = tokio::time::timeout(BODY_TIMEOUT + MARGIN * 2, conn)
            .await
            .expect("a stalled body is cut")
            .unwrap();
        assert_timed_out(&answer, took, BODY_TIMEOUT + MARGIN);
    }
}

#[tokio::test]
async fn a_trickling_body_is_cut_at_the_deadline() {
    let app = app_with(|_| {}).await;
    let started = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(STALLED_HEAD.as_bytes()).await.unwrap();
    // One byte every 200 ms: never idle, never done.
    let trickle = tokio::spawn(async move {
        while write.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut answer = Vec::new();
    let read_all = read.read_to_end(&mut answer);
    let _ = tokio::time::timeout(BODY_TIMEOUT + MARGIN * 2, read_all)
        .await
        .expect("a trickling body is cut");
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert_timed_out(&answer, started.elapsed(), BODY_TIMEOUT + MARGIN);
}

#[tokio::test]
async fn stalled_headers_are_cut_at_the_header_deadline() {
    let app = app_with(|c| c.http.header_timeout_ms = 1000).await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
    stream
        .write_all(b"POST /v1/inbound/twilio HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(1) + MARGIN,
        read_until_closed(&mut stream),
    )
    .await
    .expect("a connection that never finishes its headers is closed");
    println!("closed after {:?}", started.elapsed());
}

/// Sockets this process accepted on `port`: entries of `/proc/net/tcp*`
/// with that local port (not listening) whose inode is one of our fds.
fn accepted_on(port: u16) -> usize {
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols[1].rsplit(':').next().unwrap();
            if u16::from_str_radix(local_port, 16) == Ok(port) && cols[3] != "0A" {
                inodes.insert(format!("socket:[{}]", cols[9]));
            }
        }
    }
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|link| inodes.contains(link.to_string_lossy().as_ref()))
        .count()
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_and_health_answers_once_others_are_cut() {
    const LIMIT: usize = 10;
    let app = app_with(|c| {
        c.http.workers = 1;
        c.http.max_connections = LIMIT;
    })
    .await;
    let port = port(&app);
    let stalled: Vec<_> = (0..4 * LIMIT).map(|_| tokio::spawn(stall(port))).collect();
    // Until the first are cut, the server holds what it accepted.
    let mut most = 0;
    let watch_until = Instant::now() + BODY_TIMEOUT / 2;
    while Instant::now() < watch_until {
        most = most.max(accepted_on(port));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(most > 0, "the server accepted nothing");
    assert!(most <= LIMIT, "{most} connections held, limit {LIMIT}");
    for conn in stalled {
        let (answer, _) = tokio::time::timeout(4 * BODY_TIMEOUT + MARGIN * 2, conn)
            .await
            .expect("connections past the limit are served in turn")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    }
    let health = tokio::time::timeout(MARGIN, app.client.get(app.url("/healthz")).send())
        .await
        .expect("healthz answers once the stalled are cut")
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// About `bytes` of NDJSON, one distinct report a line.
fn ndjson_batch(bytes: usize) -> (String, usize) {
    let mut body = String::with_capacity(bytes + 200);
    let mut lines = 0;
    while body.len() < bytes {
        body.push_str(&format!(
            "{{\"id\":\"big-{lines}\",\"text\":\"Flood water rising at the bridge, report {lines}\"}}\n"
        ));
        lines += 1;
    }
    (body, lines)
}

/// Every stored report, all pages.
async fn all_reports(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    let mut query = "limit=500".to_owned();
    loop {
        let page = reports_page(&app.client, &app.base, API_TOKEN, &query).await;
        all.extend(page["reports"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=500&cursor={cursor}"),
            None => return all,
        }
    }
}

#[tokio::test]
async fn a_single_report_is_answered_promptly_while_a_large_batch_is_taken() {
    let app = TestApp::embedded().await;
    let (body, lines) = ndjson_batch(1024 * 1024 - 200);
    let head = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_TOKEN}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut batch = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
    batch.write_all(head.as_bytes()).await.unwrap();
    batch.write_all(body.as_bytes()).await.unwrap();
    // The body is with the server: single reports go in while it is taken.
    let started = Instant::now();
    let answer = tokio::spawn(async move { read_until_closed(&mut batch).await });
    let mut slowest = Duration::ZERO;
    let mut singles = 0;
    while !answer.is_finished() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the batch is answered"
        );
        let body = format!(r#"{{"id":"single-{singles}","text":"Cholera in Dadaab"}}"#);
        let sent = Instant::now();
        let single = app.post_reports("application/json", &body).await;
        slowest = slowest.max(sent.elapsed());
        assert_eq!(single.status(), 202);
        singles += 1;
    }
    let answer = answer.await.unwrap();
    println!(
        "{singles} single reports during a {lines}-line batch, slowest {slowest:?}; batch answered after {:?}",
        started.elapsed()
    );
    assert!(
        slowest < Duration::from_secs(3),
        "a single report waited {slowest:?} behind a batch"
    );
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    let json: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["accepted"].as_u64(), Some(lines as u64));
    let deadline = Instant::now() + Duration::from_secs(300);
    let stored = loop {
        let stored = all_reports(&app).await;
        if stored.len() >= lines + singles || Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let ids: HashSet<&str> = stored
        .iter()
        .map(|r| r["source_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        stored.len(),
        lines + singles,
        "each report stored exactly once"
    );
    assert_eq!(ids.len(), lines + singles);
}
