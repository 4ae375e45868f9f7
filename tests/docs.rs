//! The manual, README.md and docs/*.md, read as a reader follows it: every
//! relative link leads to a file, every `#anchor` to a heading of that
//! file, every page is reachable from the README, and the README stays a
//! front page.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md first, then every docs/*.md in name order.
fn manual() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .expect("docs/ can be listed")
        .map(|entry| entry.expect("docs/ can be listed").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    let mut pages = vec![root().join("README.md")];
    pages.extend(docs);
    pages
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The lines outside fenced code blocks, each with its number (from 1).
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            lines.push((index + 1, line));
        }
    }
    lines
}

/// The targets of the inline links `[text](target)` on one line.
fn link_targets(line: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else {
            break;
        };
        targets.push(after[..end].trim());
        rest = &after[end + 1..];
    }
    targets
}

fn is_external(target: &str) -> bool {
    target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:")
}

/// GitHub's anchor for a heading: lower case, only alphanumerics, spaces,
/// hyphens and underscores kept, each space made a hyphen.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a page's headings make; a repeated heading gets `-1`, `-2`…
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = Vec::new();
    for (_, line) in prose(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let count = seen.entry(base.clone()).or_insert(0);
        if *count == 0 {
            anchors.push(base);
        } else {
            anchors.push(format!("{base}-{count}"));
        }
        *count += 1;
    }
    anchors
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(
        slug(" Dead letters: `GET /v1/dead-letters`"),
        "dead-letters-get-v1dead-letters"
    );
    assert_eq!(
        slug("Windows, counted once, fired once"),
        "windows-counted-once-fired-once"
    );
    assert_eq!(slug("CAP 1.2"), "cap-12");
    assert_eq!(
        anchors("# Notes\n## Rules\n```sh\n# not a heading\n```\n## Rules\n#hashtag\n"),
        ["notes", "rules", "rules-1"]
    );
    assert_eq!(
        link_targets("see [a](docs/a.md#x), [`b`](b.md) and [c](https://c.org)"),
        ["docs/a.md#x", "b.md", "https://c.org"]
    );
}

#[test]
fn every_link_in_the_manual_leads_somewhere() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in manual() {
        let text = read(&page);
        let name = page
            .strip_prefix(root())
            .unwrap_or(page.as_path())
            .display()
            .to_string();
        for (number, line) in prose(&text) {
            for target in link_targets(line) {
                if is_external(target) {
                    continue;
                }
                checked += 1;
                let (file, anchor) = match target.split_once('#') {
                    Some((file, anchor)) => (file, Some(anchor)),
                    None => (target, None),
                };
                let path = if file.is_empty() {
                    page.clone()
                } else {
                    page.parent().expect("a page is in a directory").join(file)
                };
                if !path.exists() {
                    broken.push(format!("{name}:{number}: ({target}): no such file"));
                    continue;
                }
                if let Some(anchor) = anchor
                    && path.extension().is_some_and(|ext| ext == "md")
                    && !anchors(&read(&path)).iter().any(|a| a == anchor)
                {
                    broken.push(format!(
                        "{name}:{number}: ({target}): no heading makes #{anchor}"
                    ));
                }
            }
        }
    }
    assert!(
        checked > 0,
        "no relative links found: is the scanner broken?"
    );
    assert!(
        broken.is_empty(),
        "broken links in the manual:\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_page_of_the_manual_is_linked_from_the_readme() {
    let readme = read(&root().join("README.md"));
    let linked: Vec<&str> = prose(&readme)
        .into_iter()
        .flat_map(|(_, line)| link_targets(line))
        .map(|target| target.split('#').next().unwrap_or(target))
        .collect();
    let pages = manual();
    assert!(pages.len() > 1, "docs/ holds no pages");
    for page in &pages[1..] {
        let file = page
            .file_name()
            .expect("a page has a name")
            .to_string_lossy();
        let name = format!("docs/{file}");
        assert!(
            linked.contains(&name.as_str()),
            "README.md does not link {name}"
        );
    }
}

#[test]
fn the_readme_stays_a_front_page() {
    let lines = read(&root().join("README.md")).lines().count();
    assert!(
        lines <= 320,
        "README.md has {lines} lines: move the detail into docs/ and link it"
    );
}
