//! Replays every file of every fuzz target's corpus (`fuzz/corpus/<target>/`)
//! through the same `ishara::fuzzing` functions the fuzzer runs, so inputs
//! that once crashed stay fixed in every build, without a sanitizer or a
//! nightly toolchain. A target without a corpus fails: this test must not
//! pass for having replayed nothing.

use std::path::{Path, PathBuf};

use ishara::fuzzing;

type Target = fn(&[u8]);

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no corpus for {target} at {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: Target) -> usize {
    let files = corpus_files(target);
    assert!(!files.is_empty(), "the corpus of {target} is empty");
    for file in &files {
        let data = std::fs::read(file).expect("a readable corpus file");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target} failed on {}", file.display());
    }
    files.len()
}

#[test]
fn every_target_has_a_test_here() {
    let on_disk: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets"))
            .expect("fuzz/fuzz_targets")
            .map(|e| {
                let path = e.expect("an entry").path();
                path.file_stem()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
    for name in &on_disk {
        assert!(
            NAMES.contains(&name.as_str()),
            "fuzz target {name} is not replayed by this test"
        );
    }
    assert_eq!(
        on_disk.len(),
        NAMES.len(),
        "a replayed target has no fuzz target"
    );
}

macro_rules! corpus_tests {
    ($($name:ident),* $(,)?) => {
        const NAMES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                let replayed = replay(stringify!($name), fuzzing::$name);
                eprintln!("{}: {replayed} corpus files", stringify!($name));
            }
        )*
    };
}

corpus_tests!(
    twilio,
    vonage,
    africastalking,
    smssync,
    generic,
    params,
    feed,
    queue_message,
    batch_codec,
    spool_segment,
    rules_yaml,
    template,
    sms_segments,
    phone,
);
