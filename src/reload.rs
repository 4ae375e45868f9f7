//! Rules in force follow their files: an edit (or SIGHUP) loads the whole
//! directory again and swaps it in only if every file is sound; a broken
//! edit is refused with the same messages as `ishara rules check`, and the
//! rules already in force stay.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use notify::{RecursiveMode, Watcher};
use serde::Serialize;

use crate::config::Config;
use crate::rules::engine::{Engine, RuleBook};
use crate::rules::load::{self, Diagnostic, Known};
use crate::rules::model::Rule;

/// Edits arrive as bursts of events (an editor writes, renames, chmods):
/// wait for the burst to end before loading.
const SETTLE: Duration = Duration::from_millis(200);

/// Where rules come from and what they may refer to.
#[derive(Debug, Clone)]
pub struct RuleSource {
    pub dir: PathBuf,
    pub templates_dir: PathBuf,
    pub channels: BTreeSet<String>,
}

impl RuleSource {
    pub fn from_config(config: &Config) -> Self {
        Self {
            dir: config.rules_dir.clone(),
            templates_dir: config.templates_dir.clone(),
            channels: config.channels.keys().cloned().collect(),
        }
    }

    /// Templates are read each time: a rule may name one added since.
    pub fn known(&self) -> Known {
        Known {
            channels: self.channels.clone(),
            templates: load::templates_in(&self.templates_dir),
        }
    }

    pub fn load(&self) -> Result<Vec<Rule>, Vec<Diagnostic>> {
        self.load_from(&self.dir)
    }

    /// The rules in `dir`, refused with the templates' problems too: a
    /// template that cannot render would fail when an alert fires.
    pub fn load_from(&self, dir: &Path) -> Result<Vec<Rule>, Vec<Diagnostic>> {
        let rules = load::load_dir(dir, &self.known())?;
        let problems = crate::notify::templates::Templates::check(&self.templates_dir, &rules);
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(problems)
        }
    }

    /// At start a broken rule stops the process, like a broken config; a
    /// missing directory only means no rules yet.
    pub fn load_at_start(&self) -> anyhow::Result<Vec<Rule>> {
        if !self.dir.exists() {
            tracing::warn!(dir = %self.dir.display(), "no rules directory: no alert will fire until it exists");
            return Ok(Vec::new());
        }
        self.load().map_err(|problems| {
            anyhow::anyhow!(
                "rules in {} have problems:\n{}",
                self.dir.display(),
                lines(&problems)
            )
        })
    }
}

fn lines(problems: &[Diagnostic]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The outcome of the latest load, for `GET /v1/rules` and operators.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ReloadStatus {
    pub loaded_at: Option<DateTime<Utc>>,
    pub rules: usize,
    /// The problems of the latest refused edit; empty once one is accepted.
    pub refused: Vec<String>,
    pub refused_at: Option<DateTime<Utc>>,
}

pub struct Reloader {
    source: RuleSource,
    engine: Arc<Engine>,
    status: Mutex<ReloadStatus>,
}

impl Reloader {
    pub fn new(source: RuleSource, engine: Arc<Engine>) -> Self {
        let rules = engine.book().rules().len();
        Self {
            source,
            engine,
            status: Mutex::new(ReloadStatus {
                loaded_at: Some(Utc::now()),
                rules,
                ..ReloadStatus::default()
            }),
        }
    }

    pub fn status(&self) -> ReloadStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Loads the directory and puts it in force, or refuses it whole.
    pub fn reload(&self) -> Result<usize, Vec<Diagnostic>> {
        let loaded = self.source.load();
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        match loaded {
            Ok(rules) => {
                let count = rules.len();
                self.engine.replace(RuleBook::new(rules));
                status.loaded_at = Some(Utc::now());
                status.rules = count;
                status.refused.clear();
                status.refused_at = None;
                tracing::info!(rules = count, dir = %self.source.dir.display(), "rules reloaded");
                Ok(count)
            }
            Err(problems) => {
                for problem in &problems {
                    tracing::error!(%problem, "rule edit refused; the rules in force stay");
                }
                status.refused = problems.iter().map(|p| p.to_string()).collect();
                status.refused_at = Some(Utc::now());
                Err(problems)
            }
        }
    }

    /// Reloads on every change to the rules or templates directory and on
    /// SIGHUP, until the process ends.
    pub async fn watch(self: Arc<Self>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let _watcher = match watch_dirs(&[&self.source.dir, &self.source.templates_dir], tx.clone())
        {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the rules directory; reload with SIGHUP");
                None
            }
        };
        spawn_sighup(tx);
        while rx.recv().await.is_some() {
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
            let this = self.clone();
            // Loading reads files and compiles regexes: off the runtime.
            let _ = tokio::task::spawn_blocking(move || this.reload()).await;
        }
    }
}

fn watch_dirs(
    dirs: &[&Path],
    tx: tokio::sync::mpsc::Sender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            // Full means a reload is already due: nothing is lost.
            let _ = tx.try_send(());
        }
    })?;
    for dir in dirs {
        if dir.exists() {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    Ok(watcher)
}

#[cfg(unix)]
fn spawn_sighup(tx: tokio::sync::mpsc::Sender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hangups) => {
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    let _ = tx.try_send(());
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP"),
    }
}

#[cfg(not(unix))]
fn spawn_sighup(_tx: tokio::sync::mpsc::Sender<()>) {}
