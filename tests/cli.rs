//! The `ishara` binary as an operator meets it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::TestDatabase;

fn ishara() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ishara"));
    // Only what each test sets: no configuration leaks in from the caller.
    for (key, _) in std::env::vars() {
        if key.starts_with("ISHARA_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs a command that must succeed; what it printed.
fn succeeds(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a command that must fail; what it said on stderr.
fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn invalid_configuration_stops_the_start_naming_the_key() {
    let data = tempfile::tempdir().unwrap();
    let cases = [
        ("ISHARA_HTTP__LISTEN", "not-an-address", "http.listen"),
        ("ISHARA_DATABASE__URL", "mysql://x", "database.url"),
        ("ISHARA_AMQP__PREFETCH", "lots", "amqp.prefetch"),
        (
            "ISHARA_INGEST__DEFAULT_COUNTRY",
            "Kenya",
            "ingest.default_country",
        ),
        ("ISHARA_LANGUAGE__LANGUAGES", "en,xx", "language.languages"),
        ("ISHARA_GEO__COUNTRIES", "KE,XX", "geo.countries"),
    ];
    for (var, value, key) in cases {
        let out = ishara()
            .arg("serve")
            .env("ISHARA_DATA_DIR", data.path())
            .env(var, value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value} must not start");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{var}: {stderr}");
    }
}

#[test]
fn secrets_made_of_digits_are_text_not_numbers() {
    let data = tempfile::tempdir().unwrap();
    succeeds(
        ishara()
            .arg("migrate")
            .env("ISHARA_DATA_DIR", data.path())
            .env("ISHARA_API__TOKEN", "12345678901234567")
            .env("ISHARA_GATEWAYS__SMSSYNC__SECRET", "20251201"),
    );
}

#[test]
fn unknown_keys_in_the_config_file_are_errors() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("ishara.toml");
    std::fs::write(&file, "[http]\nlisten = \"127.0.0.1:0\"\nlisen = \"x\"\n").unwrap();
    let stderr = fails(ishara().arg("--config").arg(&file).arg("serve"));
    assert!(stderr.contains("lisen"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_schema_in_postgres() {
    let db = TestDatabase::create().await;
    let data = tempfile::tempdir().unwrap();
    succeeds(
        ishara()
            .arg("migrate")
            .env("ISHARA_DATA_DIR", data.path())
            .env("ISHARA_DATABASE__URL", &db.url),
    );
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert!(tables.contains(&"reports".to_owned()), "{tables:?}");
    assert!(tables.contains(&"message_parts".to_owned()), "{tables:?}");
}

/// A child process killed when its test ends, passed or failed, so a
/// failing assertion leaves no server running.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The README's first command: no configuration, embedded defaults, and it
/// says where it listens and how to send a first report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_on_embedded_defaults_and_says_how_to_send_a_report() {
    let data = tempfile::tempdir().unwrap();
    let mut child = ishara()
        .arg("serve")
        .current_dir(data.path())
        .env("ISHARA_HTTP__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    let stdout = child.0.stdout.take().unwrap();
    // Read on for as long as it prints: a closed pipe would kill it.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while lines.len() < 3 {
        lines.push(rx.recv().await.expect("serve prints its greeting"));
    }
    let base = lines[0]
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("prints where it listens")
        .to_owned();
    let token = lines[1].rsplit(' ').next().unwrap().to_owned();
    assert!(lines[2].contains("first report"), "{lines:?}");
    assert!(data.path().join("ishara-data/ishara.sqlite").exists());

    let client = reqwest::Client::new();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let res = client
        .post(format!("{base}/v1/reports"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"id": "first-1", "text": "Maji yamefika daraja la Garissa"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let mut listed = 0;
    for _ in 0..100 {
        let page = common::reports_page(&client, &base, &token, "").await;
        listed = page["reports"].as_array().unwrap().len();
        if listed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(child);
    assert_eq!(listed, 1);
}

#[tokio::test]
async fn the_printed_first_report_command_works_when_pasted() {
    let data = tempfile::tempdir().unwrap();
    let token = "ish_pasted_token_1234567890";
    let mut child = ishara()
        .arg("serve")
        .current_dir(data.path())
        .env("ISHARA_HTTP__LISTEN", "127.0.0.1:0")
        .env("ISHARA_API__TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    let stdout = child.0.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("-d '")) {
        lines.push(rx.recv().await.expect("serve prints its greeting"));
    }
    let start = lines
        .iter()
        .position(|l| l.contains("curl -X POST"))
        .expect("prints a curl command");
    // The lines as an operator would paste them into a shell where the
    // token is exported, asking curl only for the status it gets.
    let pasted = format!(
        "{} -s -o /dev/null -w '%{{http_code}}'",
        lines[start..].join("\n")
    );
    let out = Command::new("bash")
        .args(["-c", &pasted])
        .env("ISHARA_API__TOKEN", token)
        .output()
        .unwrap();
    drop(child);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "202",
        "{pasted}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rules_check_finds_group_fields_in_branches_not_taken_and_names_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, templates) = (dir.path().join("rules"), dir.path().join("templates"));
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        rules.join("rules.yaml"),
        "- id: floods\n  match: { keywords: [flood] }\n  window: 1h\n  when: { count: { gte: 2 } }\n  template: short\n",
    )
    .unwrap();
    let template = templates.join("short.j2");
    let check = || {
        fails_saying(
            ishara()
                .current_dir(dir.path())
                .env("ISHARA_TEMPLATES_DIR", &templates)
                .args(["rules", "check"])
                .arg(&rules),
        )
    };
    let at = |line: usize| format!("{}:{line}:", template.display());

    std::fs::write(
        &template,
        "{% block subject %}Flood{% endblock %}\n{% block sms %}\n{% if count > 1000 %}{{ group.fields.admin1 }}{% endif %}\n{% endblock %}\n",
    )
    .unwrap();
    let out = check();
    assert!(
        out.contains(&at(3)) && out.contains("group.fields.admin1") && out.contains("block sms"),
        "{out}"
    );

    // Fails only when run, in the sms block: named as such, not as the
    // subject being rendered when it failed.
    std::fs::write(
        &template,
        "{% block subject %}Flood{% endblock %}\n{% block sms %}\nFLOOD\n{{ alert.id + 1 }}\n{% endblock %}\n",
    )
    .unwrap();
    let out = check();
    assert!(out.contains(&at(4)) && out.contains("block sms"), "{out}");
    assert!(!out.contains("subject"), "{out}");
}

#[test]
fn eval_language_scores_every_sample_of_every_language_found() {
    let data = tempfile::tempdir().unwrap();
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/langid");
    let stdout = succeeds(
        ishara()
            .args(["eval", "language", samples, "--languages", "en,fr,sw,es"])
            .env("ISHARA_DATA_DIR", data.path()),
    );
    let samples_of = |language: &str, kind: &str| -> Option<usize> {
        stdout.lines().find_map(|line| {
            let rest = line
                .strip_prefix(language)?
                .trim_start()
                .strip_prefix(kind)?;
            rest.split_whitespace().next()?.parse().ok()
        })
    };
    for language in ["en", "fr", "sw"] {
        assert_eq!(samples_of(language, "sentences "), Some(20), "{stdout}");
        assert_eq!(samples_of(language, "word pairs "), Some(20), "{stdout}");
    }
    assert_eq!(samples_of("all", "sentences "), Some(60), "{stdout}");
    assert_eq!(samples_of("all", "word pairs "), Some(60), "{stdout}");
    assert!(stdout.contains("no samples for es"), "{stdout}");
}

#[test]
fn eval_language_scores_labelled_sms_per_language_and_sender_country() {
    let data = tempfile::tempdir().unwrap();
    let stdout = succeeds(
        ishara()
            .args(["eval", "language", "--mistakes"])
            .arg(fixture("language-sms.tsv"))
            .env("ISHARA_DATA_DIR", data.path()),
    );
    // The English SMS from the Philippines is Tagalog to lingua when its
    // place names are left in.
    assert!(
        stdout.contains("en           1   100.00%       0.00%         0.00%"),
        "{stdout}"
    );
    assert!(stdout.contains("PH           1   100.00%"), "{stdout}");
    assert!(stdout.contains("-            1"), "no sender: {stdout}");
    assert!(stdout.contains("all          3   100.00%"), "{stdout}");
}

#[test]
fn eval_language_refuses_a_row_without_its_label() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("sms.tsv");
    std::fs::write(
        &file,
        "sender\ttext\texpected_language\n+254700000000\thello there\n",
    )
    .unwrap();
    let stderr = fails(
        ishara()
            .args(["eval", "language"])
            .arg(&file)
            .env("ISHARA_DATA_DIR", data.path()),
    );
    assert!(stderr.contains("line 2: 2 columns, expected 3"), "{stderr}");
}

#[test]
fn eval_language_names_an_unknown_language() {
    let data = tempfile::tempdir().unwrap();
    let stderr = fails(
        ishara()
            .args([
                "eval",
                "language",
                "tests/data/langid",
                "--languages",
                "en,xx",
            ])
            .env("ISHARA_DATA_DIR", data.path()),
    );
    assert!(stderr.contains("\"xx\""), "{stderr}");
}

fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn eval_geo(data: &std::path::Path) -> String {
    succeeds(
        ishara()
            .args(["eval", "geo", "--mistakes"])
            .arg(fixture("geo-sms.tsv"))
            .env("ISHARA_DATA_DIR", data),
    )
}

#[test]
fn eval_geo_scores_admin1_per_country_and_false_positives() {
    let data = tempfile::tempdir().unwrap();
    let report = eval_geo(data.path());
    // Kalobeyei is not in the embedded extract (fewer than 1,000 people).
    assert!(report.contains("KE          2       1   50.0%"), "{report}");
    assert!(
        report.contains("missed KE.51\tMafuriko Kalobeyei"),
        "{report}"
    );
    assert!(
        report.contains("no place named: 1 rows, 1 none (100.0%), 0 false positives"),
        "{report}"
    );
}

#[test]
fn gazetteer_import_keeps_populated_places_and_the_locator_uses_them() {
    let data = tempfile::tempdir().unwrap();
    let stdout = succeeds(
        ishara()
            .args(["gazetteer", "import"])
            .arg(fixture("geonames/KE.txt"))
            .arg(fixture("geonames/admin1CodesASCII.txt"))
            .env("ISHARA_DATA_DIR", data.path()),
    );
    assert!(
        stdout.contains("KE.txt: 2 kept, 3 other features skipped, 1 bad rows"),
        "{stdout}"
    );
    let imported = std::fs::read_to_string(data.path().join("gazetteer/KE.txt")).unwrap();
    assert!(imported.contains("Kalobeyei") && !imported.contains("Turkwel"));
    assert!(data.path().join("gazetteer/admin1CodesASCII.txt").exists());

    // The imported Kenyan file replaces the embedded Kenyan towns: Eldoret
    // is no longer known, Kalobeyei is.
    let report = eval_geo(data.path());
    assert!(
        report.contains("missed KE.52\tfloods in eldoret"),
        "{report}"
    );
    assert!(!report.contains("KE.51\t"), "{report}");
}

#[test]
fn gazetteer_import_refuses_a_zip() {
    let data = tempfile::tempdir().unwrap();
    let zip = data.path().join("KE.zip");
    std::fs::write(&zip, b"PK").unwrap();
    let stderr = fails(
        ishara()
            .args(["gazetteer", "import"])
            .arg(&zip)
            .env("ISHARA_DATA_DIR", data.path()),
    );
    assert!(stderr.contains("unzip"), "{stderr}");
}

fn repository() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a command that must fail; what it printed on stdout.
fn fails_saying(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{stdout}");
    stdout
}

#[test]
fn the_shipped_rules_pass_check_and_their_tests() {
    let out = succeeds(
        ishara()
            .current_dir(repository())
            .args(["rules", "check", "rules"]),
    );
    assert!(out.contains("no problems"), "{out}");
    let mut tests: Vec<_> = std::fs::read_dir(repository().join("rules/tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    tests.sort();
    assert!(tests.len() >= 3, "outbreaks, floods and silence have tests");
    let out = succeeds(
        ishara()
            .current_dir(repository())
            .args(["rules", "test"])
            .args(&tests),
    );
    assert!(out.contains(" 0 failed"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn rules_check_prints_every_problem_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(
        &file,
        "\
- id: one
  window: 10 parsecs
  when: { count: { gte: 3 } }
- id: two
  window: 1h
  when: { count: { gte: 3 } }
  notify: [nobody-configured-this]
  template: no-such-template
  colour: red
",
    )
    .unwrap();
    let out = fails_saying(
        ishara()
            .current_dir(repository())
            .args(["rules", "check"])
            .arg(dir.path()),
    );
    let at = |line: usize| format!("{}:{line}:", file.display());
    assert!(out.contains(&at(2)), "bad duration on line 2: {out}");
    assert!(out.contains(&at(7)), "unknown channel on line 7: {out}");
    assert!(out.contains(&at(8)), "unknown template on line 8: {out}");
    assert!(out.contains("colour"), "unknown field named: {out}");
    for line in out.lines() {
        let mut parts = line.splitn(4, ':');
        let (_, l, c) = (parts.next(), parts.next(), parts.next());
        assert!(
            l.is_some_and(|l| l.parse::<usize>().is_ok())
                && c.is_some_and(|c| c.parse::<usize>().is_ok()),
            "not file:line:column: {line}"
        );
    }
}

#[test]
fn rules_check_refuses_templates_with_unknown_variables_or_that_do_not_render() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, templates) = (dir.path().join("rules"), dir.path().join("templates"));
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        rules.join("rules.yaml"),
        "- id: floods\n  match: { keywords: [flood] }\n  window: 1h\n  when: { count: { gte: 2 } }\n  template: short\n",
    )
    .unwrap();
    let template = templates.join("short.j2");
    std::fs::write(
        &template,
        "{% block sms %}\nFLOOD {{ group.fields.admin1 }}\n{% if false %}{{ alert.colour }}{% endif %}\n{% endblock %}\n",
    )
    .unwrap();
    let out = fails_saying(
        ishara()
            .current_dir(dir.path())
            .env("ISHARA_TEMPLATES_DIR", &templates)
            .args(["rules", "check"])
            .arg(&rules),
    );
    let at = |line: usize| format!("{}:{line}:", template.display());
    assert!(
        out.contains(&at(3)) && out.contains("unknown variable `alert.colour`"),
        "{out}"
    );
    // The rule does not group by admin1: its messages could not say it.
    assert!(out.contains(&at(2)) && out.contains("rule floods"), "{out}");

    std::fs::write(
        &template,
        "{% block sms %}FLOOD {{ group.place }}{% endblock %}\n",
    )
    .unwrap();
    let out = succeeds(
        ishara()
            .current_dir(dir.path())
            .env("ISHARA_TEMPLATES_DIR", &templates)
            .args(["rules", "check"])
            .arg(&rules),
    );
    assert!(out.contains("1 rules, no problems"), "{out}");
}

#[test]
fn rules_test_prints_a_diff_when_the_alerts_differ() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rule.yaml"),
        "- id: floods\n  match: { keywords: [flood] }\n  window: 1h\n  when: { count: { gte: 2 } }\n",
    )
    .unwrap();
    let test = dir.path().join("test.yaml");
    std::fs::write(
        &test,
        "\
rule_files: [rule.yaml]
tests:
  - name: the second flood report fires
    reports:
      - {at: 0m, text: flood, language: en, place: {admin1: KE.16}}
      - {at: 5m, text: flood, language: en, place: {admin1: KE.16}}
    alerts:
      - {rule: floods, fired_at: 10m}
",
    )
    .unwrap();
    let out = fails_saying(
        ishara()
            .current_dir(repository())
            .args(["rules", "test"])
            .arg(&test),
    );
    assert!(out.contains("FAIL"), "{out}");
    assert!(out.contains("- floods (no group) fired_at 10m"), "{out}");
    assert!(out.contains("+ floods (no group) fired_at 5m"), "{out}");
}

#[test]
fn rules_may_name_channels_configured_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "- id: floods\n  window: 1h\n  when: { count: { gte: 2 } }\n  notify: [duty_desk, log]\n",
    )
    .unwrap();
    let out = succeeds(
        ishara()
            .current_dir(repository())
            .env("ISHARA_CHANNELS__DUTY_DESK__EMAIL", "a@x.org,b@y.org")
            .env(
                "ISHARA_SMTP__URL",
                "smtp://mail.example.org:587?tls=required",
            )
            .env("ISHARA_SMTP__FROM", "Ishara <alerts@example.org>")
            .args(["rules", "check"])
            .arg(dir.path()),
    );
    assert!(out.contains("1 rules, no problems"), "{out}");

    let err = fails(
        ishara()
            .current_dir(repository())
            .env("ISHARA_CHANNELS__DUTY_DESK__EMAIL", "a@x.org,b@y.org")
            .args(["rules", "check"])
            .arg(dir.path()),
    );
    assert!(
        err.contains("channels.duty_desk.email: needs smtp.url and smtp.from"),
        "{err}"
    );
    let err = fails(
        ishara()
            .current_dir(repository())
            .env("ISHARA_CHANNELS__DUTY_DESK__SMS", "0712345678")
            .env("ISHARA_SMS__PROVIDER", "twilio")
            .env("ISHARA_SMS__TWILIO__ACCOUNT_SID", "AC123")
            .env("ISHARA_SMS__TWILIO__AUTH_TOKEN", "secret-token")
            .env("ISHARA_SMS__TWILIO__FROM", "+15005550006")
            .args(["rules", "check"])
            .arg(dir.path()),
    );
    assert!(
        err.contains("channels.duty_desk.sms") && err.contains("E.164"),
        "{err}"
    );

    let out = fails_saying(
        ishara()
            .current_dir(repository())
            .args(["rules", "check"])
            .arg(dir.path()),
    );
    assert!(out.contains("unknown channel `duty_desk`"), "{out}");

    let err = fails(
        ishara()
            .current_dir(repository())
            .env("ISHARA_CHANNELS__DUTY_DESK__WEBHOOK", "ftp://x")
            .args(["rules", "check"])
            .arg(dir.path()),
    );
    assert!(err.contains("channels.duty_desk.webhook"), "{err}");
}

#[test]
fn a_broken_rule_stops_the_start_naming_file_line_and_column() {
    let data = tempfile::tempdir().unwrap();
    let rules = data.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("broken.yaml"),
        "- id: floods\n  window: soon\n  when: { count: { gte: 2 } }\n",
    )
    .unwrap();
    let err = fails(
        ishara()
            .env("ISHARA_DATA_DIR", data.path())
            .env("ISHARA_RULES_DIR", &rules)
            .env("ISHARA_HTTP__LISTEN", "127.0.0.1:0")
            .arg("serve"),
    );
    assert!(
        err.contains(&format!("{}:2:11:", rules.join("broken.yaml").display())),
        "{err}"
    );
}
