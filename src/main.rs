use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ishara::app::{self, Application, Role};
use ishara::config::Config;
use tracing_subscriber::EnvFilter;

// glibc's malloc keeps what a large batch once needed in per-thread arenas
// (over 100 MiB after 70,000 reports); mimalloc hands freed pages back to
// the system, so a long-running service returns to its working size.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ishara: crisis SMS and field reports in, alerts out.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file; every key can also be set as ISHARA_<PATH>
    /// with `__` between sections (ISHARA_HTTP__LISTEN).
    #[arg(long, short, global = true, env = "ISHARA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process (the default).
    Serve,
    /// Run the HTTP API only.
    Api,
    /// Run the queue consumer only.
    Worker,
    /// Run the notifier only: deliver alerts from the alerts queue.
    Notifier,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage the gazetteer of place names.
    #[command(subcommand)]
    Gazetteer(GazetteerCommand),
    /// Measure accuracy on labelled data and print the figures.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Check alert rules, or test them against timed reports.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate every rule file in DIR (default: rules_dir); prints each
    /// problem as file:line:column: message and exits non-zero if any.
    Check { dir: Option<PathBuf> },
    /// Replay the timed reports of test files through the rule engine on a
    /// fake clock and compare the alerts that fire with the expected ones.
    Test {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum GazetteerCommand {
    /// Import GeoNames dump files (KE.txt, cities1000.txt,
    /// admin1CodesASCII.txt) into the data directory; their places replace
    /// the embedded ones of the countries they cover.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Build the embedded extract from a GeoNames directory holding
    /// cities1000.txt and admin1CodesASCII.txt (for maintainers).
    Build {
        #[arg(long)]
        from: PathBuf,
        #[arg(long, default_value = "data/geonames")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Language detection on DIR/<code>.sentences.txt and
    /// DIR/<code>.word-pairs.txt, the pipeline against lingua alone; or,
    /// given a file, on its labelled SMS (sender, text, expected_language),
    /// place names and senders included.
    Language {
        dir: PathBuf,
        /// With a file: also list every SMS the pipeline got wrong.
        #[arg(long)]
        mistakes: bool,
        /// Comma-separated ISO 639-1 codes; defaults to language.languages.
        #[arg(long, value_delimiter = ',')]
        languages: Option<Vec<String>>,
    },
    /// Admin-1 accuracy of place finding on a TSV of labelled SMS
    /// (sender, text, expected_country, expected_admin1, expected_geonameid).
    Geo {
        file: PathBuf,
        /// Also list every wrong, missed and false-positive row.
        #[arg(long)]
        mistakes: bool,
    },
}

#[actix_web::main]
async fn main() {
    let cli = Cli::parse();
    // `rules test` runs the engine many times over: its per-alert log lines
    // would bury the test report.
    let default_filter = match cli.command {
        Some(Command::Rules(_)) => "warn",
        _ => "info,sqlx=warn,lapin=warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("ISHARA_LOG")
                .unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    raise_open_file_limit();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Each HTTP connection is a file descriptor, and the usual soft limit
/// (1024) is far below what the hard limit allows; the HTTP connection
/// limit is derived from whatever this leaves.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    let role = match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            app::open_store(&config).await?;
            println!(
                "migrations applied to {}",
                app::redact(&app::database_url(&config))
            );
            return Ok(());
        }
        Command::Eval(EvalCommand::Language {
            dir,
            mistakes,
            languages,
        }) => {
            let languages = languages.unwrap_or(config.language.languages);
            let mut out = std::io::stdout().lock();
            if dir.is_file() {
                let report = ishara::eval::sms_language::run(
                    &dir,
                    &languages,
                    &config.geo,
                    &config.data_dir,
                    &mut out,
                )?;
                if mistakes {
                    for line in &report.mistakes {
                        println!("{line}");
                    }
                }
            } else {
                ishara::eval::language::run(&dir, &languages, &mut out)?;
            }
            return Ok(());
        }
        Command::Gazetteer(command) => return gazetteer(&config, command),
        Command::Rules(command) => return rules(&config, command).await,
        Command::Eval(EvalCommand::Geo { file, mistakes }) => {
            let report = ishara::eval::geo::run(&config.geo, &config.data_dir, &file)?;
            if mistakes {
                for line in &report.mistakes {
                    println!("{line}");
                }
            }
            print!("{report}");
            return Ok(());
        }
        Command::Serve => Role::Serve,
        Command::Api => Role::Api,
        Command::Worker => Role::Worker,
        Command::Notifier => Role::Notifier,
    };
    let application = Application::build(&config, role)
        .await
        .context("cannot start")?;
    if let Some(port) = application.port() {
        greet(&config, port, application.api_token());
    }
    application.run_until_stopped().await
}

async fn rules(config: &Config, command: RulesCommand) -> anyhow::Result<()> {
    use ishara::reload::RuleSource;
    let source = RuleSource::from_config(config);
    match command {
        RulesCommand::Check { dir } => {
            let dir = dir.unwrap_or_else(|| source.dir.clone());
            match source.load_from(&dir) {
                Ok(rules) => {
                    println!("{}: {} rules, no problems", dir.display(), rules.len());
                    Ok(())
                }
                Err(problems) => {
                    for problem in &problems {
                        println!("{problem}");
                    }
                    anyhow::bail!("{} problems in {}", problems.len(), dir.display())
                }
            }
        }
        RulesCommand::Test { files } => {
            let mut runner = ishara::rules::testing::Runner::new(config, source.known());
            let (mut passed, mut failed) = (0, 0);
            for file in &files {
                match runner.run_file(file).await {
                    Ok(cases) => {
                        for case in cases {
                            if case.passed() {
                                passed += 1;
                                println!("ok    {}: {}", case.file.display(), case.name);
                            } else {
                                failed += 1;
                                println!("FAIL  {}: {}", case.file.display(), case.name);
                                for line in &case.diff {
                                    println!("      {line}");
                                }
                            }
                        }
                    }
                    Err(problems) => {
                        failed += 1;
                        println!("FAIL  {}", file.display());
                        for problem in problems {
                            println!("      {problem}");
                        }
                    }
                }
            }
            println!("{passed} passed, {failed} failed");
            if failed > 0 {
                anyhow::bail!("{failed} rule tests failed");
            }
            Ok(())
        }
    }
}

fn gazetteer(config: &Config, command: GazetteerCommand) -> anyhow::Result<()> {
    use ishara::enrich::gazetteer::import;
    match command {
        GazetteerCommand::Import { files } => {
            let dir = config
                .geo
                .gazetteer
                .clone()
                .unwrap_or_else(|| config.data_dir.join("gazetteer"));
            for done in import::import(&files, &dir)? {
                println!(
                    "{}: {} kept, {} other features skipped, {} bad rows",
                    done.file.display(),
                    done.kept,
                    done.skipped,
                    done.bad
                );
            }
            println!("gazetteer in {}", dir.display());
        }
        GazetteerCommand::Build { from, out } => {
            let done = import::build(&from, &out)?;
            println!(
                "{}: {} places written to {}",
                done.file.display(),
                done.kept,
                out.display()
            );
        }
    }
    Ok(())
}

/// Best effort: a closed stdout (`ishara serve | head`) must not stop the
/// service.
fn greet(config: &Config, port: u16, token: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let host = config.http.listen.ip();
    let base = format!("http://{host}:{port}");
    let queue = if config.amqp.url.is_some() {
        "RabbitMQ"
    } else {
        "local queue"
    };
    let store = if config
        .database
        .url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres"))
    {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let _ = writeln!(
        out,
        "Ishara listening on {base} ({queue}, {store}, data in {})",
        config.data_dir.display()
    );
    if config.api.token.is_none() {
        let _ = writeln!(
            out,
            "API token (kept in {}): {token}",
            config.data_dir.join("api-token").display()
        );
    }
    // Double quotes: pasted into a shell, `$ISHARA_API__TOKEN` expands.
    let token = if config.api.token.is_none() {
        token
    } else {
        "$ISHARA_API__TOKEN"
    };
    let _ = writeln!(out, "Send a first report:");
    let _ = writeln!(
        out,
        "  curl -X POST {base}/v1/reports -H \"Authorization: Bearer {token}\" -H 'Content-Type: application/json' \\\n    -d '{{\"id\":\"first-1\",\"text\":\"Maji yamefika daraja la Garissa\",\"sender\":\"+254712345678\"}}'"
    );
    let _ = writeln!(
        out,
        "  curl -H \"Authorization: Bearer {token}\" {base}/v1/reports"
    );
}
