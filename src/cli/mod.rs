//! The `tasker` command line: serve (default), migrate, template validate and
//! register, task create/get/cancel/watch, metrics export, token issue,
//! doctor telemetry, bench, schema.

mod bench;
mod bench_api;
mod bench_graph;
mod bench_observability;
mod bench_scaling;
mod bench_soak;
mod doctor;
mod healthcheck;
mod metrics;
mod task;
mod task_local;
mod task_remote;
mod template;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{Config, LogConfig};
use crate::handlers::HandlerRegistry;
use crate::telemetry::{self, LogTarget, TraceExport, traces};

/// Tasker: durable workflow orchestration.
#[derive(Debug, Parser)]
#[command(name = "tasker", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML); default: ./tasker.toml when it exists.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://FILE?mode=rwc, sqlite::memory: or postgres://…
    #[arg(long, global = true, env = "DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// Log format: auto, pretty or json.
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: engine and HTTP (the default command).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Work with task templates.
    #[command(subcommand)]
    Template(template::TemplateCommand),
    /// Work with tasks.
    #[command(subcommand)]
    Task(task::TaskCommand),
    /// Export the metrics.
    #[command(subcommand)]
    Metrics(metrics::MetricsCommand),
    /// Check a running deployment from outside (telemetry end to end).
    #[command(subcommand)]
    Doctor(doctor::DoctorCommand),
    /// Exit 0 when a server is ready (for container health checks).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Development tokens for `[auth]` with an HMAC secret.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Measure engine latency and throughput on the configured database.
    Bench(bench::BenchArgs),
    /// Print the GraphQL schema (SDL), as checked in at schema.graphql.
    Schema,
    /// Print the REST API's OpenAPI document, as checked in at openapi.json.
    Openapi,
}

#[derive(Debug, Args, Default)]
struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Template directory to load at start (repeatable; replaces the configured list).
    #[arg(long = "templates", value_name = "DIR")]
    templates: Vec<PathBuf>,
}

/// Parse the command line, load the configuration and run the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = cli.database_url {
        config.database.url = url;
    }
    if let Some(format) = cli.log_format {
        config.log.format = format;
    }
    let mut command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    if let Command::Bench(args) = &mut command {
        // Replicas the bench starts read the same file.
        args.config_file.clone_from(&cli.config);
    }
    if let Command::Serve(args) = &command {
        if let Some(listen) = &args.listen {
            config.server.listen.clone_from(listen);
        }
        if !args.templates.is_empty() {
            config.templates.dirs.clone_from(&args.templates);
        }
    }
    let target = if matches!(command, Command::Serve(_)) {
        LogTarget::Stdout
    } else {
        // Tools print their own output; only problems are worth a log line.
        if config.log.level == LogConfig::default().level {
            config.log.level = "warn".to_owned();
        }
        LogTarget::Stderr
    };
    crate::app::check_config(&config)?;
    // The command-line client and the doctor build reqwest clients too.
    crate::install_tls_provider();
    // Only the service exports spans: a tool's spans would be fragments.
    let traces = match (
        &command,
        traces::target(&config.tracing, |v| std::env::var(v).ok()),
    ) {
        // Its threads start under the telemetry policy: the engine goes first.
        (Command::Serve(_), Some(target)) => Some(telemetry::background::inherited(|| {
            TraceExport::new(&config.tracing, &target)
        })?),
        _ => None,
    };
    match &command {
        Command::Bench(args) if args.installs_logging() => {}
        _ => telemetry::install(&config.log, target, traces.as_ref(), None),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let outcome = runtime.block_on(execute(command, config));
    if let Some(traces) = traces {
        traces.shutdown();
    }
    outcome
}

async fn execute(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(_) => serve(config).await,
        Command::Migrate => {
            let store =
                crate::store::Store::connect(&crate::store::ConnectSettings::from_config(&config.database))
                    .await?;
            store.migrate().await?;
            store.close().await?;
            println!("migrations applied; {} is current", redact(&config.database.url));
            Ok(ExitCode::SUCCESS)
        }
        Command::Template(command) => template::run(command, &config).await,
        Command::Task(command) => task::run(command, config).await,
        Command::Metrics(command) => metrics::run(command, &config).await,
        Command::Token(command) => token::run(command, &config),
        Command::Healthcheck(args) => healthcheck::run(args, &config).await,
        Command::Doctor(command) => doctor::run(command).await,
        Command::Bench(args) => bench::run(args, config).await,
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            print!("{}", crate::http::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));
    let app = App::build(&config, HandlerRegistry::with_builtins()).await?;
    app.serve(cancel).await?;
    Ok(ExitCode::SUCCESS)
}

/// Cancel on Ctrl-C or SIGTERM.
pub(crate) async fn cancel_on_signal(cancel: CancellationToken) {
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutdown requested");
    cancel.cancel();
}

/// A database URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact("sqlite://data/tasker.db?mode=rwc"),
            "sqlite://data/tasker.db?mode=rwc"
        );
    }
}
