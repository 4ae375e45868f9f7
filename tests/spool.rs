//! The disk spool under damage: a full disk mid-append, a segment with
//! garbage in it. What users hold us to: a success reply means the report
//! is stored in the end, a failed one changed nothing, and no damaged
//! bytes hold back the records after them.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// A report a test can recognise in the store.
fn report(id: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "text": format!("Mafuriko Tana River, report {id}")})
}

async fn post(client: &reqwest::Client, base: &str, id: &str) -> reqwest::StatusCode {
    client
        .post(format!("{base}/v1/reports"))
        .bearer_auth(API_TOKEN)
        .json(&report(id))
        .send()
        .await
        .unwrap()
        .status()
}

/// The source ids stored, sorted, once every one of `expected` is there
/// (and a moment more, to catch duplicates); fails after 20 s.
async fn stored_once_all_of(
    client: &reqwest::Client,
    base: &str,
    expected: &[String],
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = reports_page(client, base, API_TOKEN, "limit=500").await;
        let mut ids: Vec<String> = page["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["source_id"].as_str().unwrap().to_owned())
            .collect();
        if expected.iter().all(|id| ids.contains(id)) {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let page = reports_page(client, base, API_TOKEN, "limit=500").await;
            ids = page["reports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["source_id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            return ids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {expected:?}, stored {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The real `ishara serve`, on RabbitMQ (through `amqp_url`) and
/// PostgreSQL, writing no file larger than `max_file_bytes` if set.
struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    async fn start(
        data: &Path,
        amqp_url: &str,
        prefix: &str,
        db_url: &str,
        max_file_bytes: Option<u64>,
    ) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ishara"));
        for (key, _) in std::env::vars() {
            if key.starts_with("ISHARA_") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("serve")
            .current_dir(data)
            .env("ISHARA_HTTP__LISTEN", "127.0.0.1:0")
            .env("ISHARA_DATA_DIR", data.join("ishara-data"))
            .env("ISHARA_AMQP__URL", amqp_url)
            .env("ISHARA_AMQP__PREFIX", prefix)
            .env("ISHARA_AMQP__CONFIRM_TIMEOUT_MS", "1000")
            .env("ISHARA_DATABASE__URL", db_url)
            .env("ISHARA_API__TOKEN", API_TOKEN)
            .stdout(Stdio::piped())
            // Not a file: the size limit would apply to the log too.
            .stderr(Stdio::null());
        if let Some(limit) = max_file_bytes {
            limit_file_size(&mut cmd, limit);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Read on for as long as it prints: a closed pipe would kill it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // Loading the language models takes a while on a busy machine.
        let greeting = tokio::time::timeout(Duration::from_secs(90), rx.recv())
            .await
            .expect("serve starts within 90 s")
            .expect("serve prints where it listens");
        let base = greeting
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("a URL in the greeting")
            .to_owned();
        Self { child, base }
    }

    /// Lets the process write files of any size from now on.
    fn lift_file_size_limit(&self) {
        let unlimited = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: prlimit reads `unlimited` and writes nothing back (null).
        let done =
            unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, &unlimited, std::ptr::null_mut()) };
        assert_eq!(done, 0, "prlimit: {}", std::io::Error::last_os_error());
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes past `limit` bytes fail with EFBIG rather than kill the process,
/// as a full disk fails them with ENOSPC: a write that crosses the limit is
/// cut short, and the next fails.
fn limit_file_size(cmd: &mut Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls, which
    // setrlimit and signal are; an ignored signal stays ignored over exec.
    unsafe {
        cmd.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0
                || libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The disk fills while the broker is down: appends fail part-way through
/// a record. Requests that got a failure got 503 and left nothing behind;
/// every request that got a success is stored once the disk has room and
/// the broker is back, after a restart, including those accepted after the
/// failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_requests_with_503_and_loses_no_accepted_report() {
    let data = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await;
    let prefix = unique("test");
    let proxy = Proxy::start(amqp_target(&amqp_url())).await;
    let amqp = proxy.amqp_url(&amqp_url());
    let client = reqwest::Client::new();
    let serve = Serve::start(data.path(), &amqp, &prefix, &db.url, Some(16 * 1024)).await;

    let mut accepted = vec!["before".to_owned()];
    assert_eq!(post(&client, &serve.base, "before").await, 202);
    stored_once_all_of(&client, &serve.base, &accepted).await;

    proxy.cut();
    // Until the limit refuses one, then a few more while it is still on.
    let mut refused = Vec::new();
    let mut after_refusal = 0;
    for i in 0..400 {
        let id = format!("full-{i:03}");
        match post(&client, &serve.base, &id).await.as_u16() {
            202 => accepted.push(id),
            503 => refused.push(id),
            other => panic!("{id}: status {other}"),
        }
        if !refused.is_empty() {
            after_refusal += 1;
            if after_refusal > 5 {
                break;
            }
        }
    }
    assert!(!refused.is_empty(), "the file size limit was never reached");

    serve.lift_file_size_limit();
    for i in 0..5 {
        let id = format!("room-{i}");
        assert_eq!(post(&client, &serve.base, &id).await, 202, "{id}");
        accepted.push(id);
    }
    serve.kill();

    proxy.restore();
    let serve = Serve::start(data.path(), &amqp, &prefix, &db.url, None).await;
    let stored = stored_once_all_of(&client, &serve.base, &accepted).await;
    accepted.sort();
    assert_eq!(
        stored, accepted,
        "every accepted report once, no refused one"
    );
    serve.kill();
    delete_amqp(&amqp_url(), &prefix).await;
}

/// Offsets of the records in a spool segment: `[len u32 LE][crc32 u32 LE]
/// [payload]`: the length and CRC-32 that `docs/guarantees.md` describes.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        offsets.push(at);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 8 + len;
    }
    offsets
}

/// Garbage between the records of a spool segment (a bad sector, a stray
/// write): every whole record around it still reaches the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_a_spool_segment_holds_back_no_record_after_it() {
    let proxy = Proxy::start(amqp_target(&amqp_url())).await;
    let db = TestDatabase::create().await;
    let prefix = unique("test");
    let (url, db_url, p) = (proxy.amqp_url(&amqp_url()), db.url.clone(), prefix.clone());
    let app = TestApp::spawn(move |c| {
        c.amqp.url = Some(url);
        c.amqp.prefix = p;
        c.amqp.confirm_timeout_ms = 1000;
        c.database.url = Some(db_url);
    })
    .await;
    proxy.cut();
    let ids: Vec<String> = (0..6).map(|i| format!("spooled-{i}")).collect();
    for id in &ids {
        assert_eq!(post(&app.client, &app.base, id).await, 202);
    }
    let spool = app.config.data_dir.join("spool");
    // Stopped, so that nothing drains or appends while the file is damaged.
    let data_dir = app.config.data_dir.clone();
    let app = app.restart_with(|| damage_segments(&spool)).await;
    assert_eq!(app.config.data_dir, data_dir);

    proxy.restore();
    let stored = stored_once_all_of(&app.client, &app.base, &ids).await;
    assert_eq!(stored, ids);
    drop(app);
    delete_amqp(&amqp_url(), &prefix).await;
}

/// Puts garbage after every second record of each segment.
fn damage_segments(spool: &Path) {
    let garbage: &[u8] = &[9, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, b'{', b'"'];
    let mut damaged = 0;
    for entry in std::fs::read_dir(spool).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let offsets = record_offsets(&bytes);
        let mut out = Vec::new();
        for (n, window) in offsets.windows(2).enumerate() {
            out.extend_from_slice(&bytes[window[0]..window[1]]);
            if n % 2 == 0 {
                out.extend_from_slice(garbage);
                damaged += 1;
            }
        }
        if let Some(last) = offsets.last() {
            out.extend_from_slice(&bytes[*last..]);
        }
        std::fs::write(&path, out).unwrap();
    }
    assert!(
        damaged > 0,
        "no segment had two records to put garbage between"
    );
}
