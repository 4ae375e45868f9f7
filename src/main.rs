use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ishara::app::{self, Application, Role};
use ishara::config::Config;
use tracing_subscriber::EnvFilter;

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
    /// Apply database migrations and exit.
    Migrate,
    /// Measure accuracy on labelled data and print the figures.
    #[command(subcommand)]
    Eval(EvalCommand),
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Language detection on DIR/<code>.sentences.txt and
    /// DIR/<code>.word-pairs.txt, the pipeline against lingua alone.
    Language {
        dir: PathBuf,
        /// Comma-separated ISO 639-1 codes; defaults to language.languages.
        #[arg(long, value_delimiter = ',')]
        languages: Option<Vec<String>>,
    },
}

#[actix_web::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("ISHARA_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,lapin=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
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
        Command::Eval(EvalCommand::Language { dir, languages }) => {
            let languages = languages.unwrap_or(config.language.languages);
            ishara::eval::language::run(&dir, &languages, &mut std::io::stdout().lock())?;
            return Ok(());
        }
        Command::Serve => Role::Serve,
        Command::Api => Role::Api,
        Command::Worker => Role::Worker,
    };
    let application = Application::build(&config, role)
        .await
        .context("cannot start")?;
    if let Some(port) = application.port() {
        greet(&config, port, application.api_token());
    }
    application.run_until_stopped().await
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
    let _ = writeln!(out, "Send a first report:");
    let _ = writeln!(
        out,
        "  curl -X POST {base}/v1/reports -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' \\\n    -d '{{\"id\":\"first-1\",\"text\":\"Maji yamefika daraja la Garissa\",\"sender\":\"+254712345678\"}}'",
        if config.api.token.is_none() {
            token
        } else {
            "$ISHARA_API__TOKEN"
        }
    );
    let _ = writeln!(
        out,
        "  curl -H 'Authorization: Bearer ...' {base}/v1/reports"
    );
}
