//! `tasker metrics export`: the cluster's metrics now, from Redis (what every
//! replica has synced) or from a running server, in any registered format.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};

use crate::client::Client;
use crate::client::operations::{ExportMetrics, export_metrics};
use crate::cluster::metrics::MetricsCache;
use crate::config::Config;
use crate::telemetry::{Exporters, Metrics};

#[derive(Debug, Subcommand)]
pub(super) enum MetricsCommand {
    /// Export the metrics once: the cluster's, read from Redis (`redis.url`),
    /// or with `--server` what that server answers.
    Export {
        /// prometheus, json, csv, or an exporter the server registered.
        #[arg(long, default_value = "prometheus")]
        format: String,
        /// Ask this running server (e.g. http://127.0.0.1:8080) instead of Redis.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// With --server: bearer token sent to it.
        #[arg(long, env = "TASKER_TOKEN", hide_env_values = true, value_name = "TOKEN")]
        token: Option<String>,
        /// With --server: this replica's metrics or the cluster's.
        #[arg(long, value_enum, default_value_t = Scope::Cluster)]
        scope: Scope,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum Scope {
    Local,
    Cluster,
}

pub(super) async fn run(command: MetricsCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let MetricsCommand::Export {
        format,
        server,
        token,
        scope,
        output,
    } = command;
    let body = match server {
        Some(url) => from_server(&Client::new(&url, token), scope, &format).await?,
        None => from_redis(config, &format).await?,
    };
    match output {
        Some(path) => std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{body}"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn from_redis(config: &Config, format: &str) -> anyhow::Result<String> {
    if config.redis.url().is_none() {
        bail!(
            "no redis.url configured: metrics are shared only through Redis; read a replica's with --server URL (or GET /metrics)"
        );
    }
    // A cache of its own with nothing recorded: the view is what the
    // replicas synced.
    let cache = MetricsCache::start(Metrics::new(), &config.metrics_cache, &config.redis).await;
    let snapshot = cache
        .cluster()
        .await
        .context("reading the cluster's metrics from Redis")?;
    match Exporters::with_builtins().export(format, &snapshot) {
        Some(rendered) => rendered.map(|(_, body)| body).map_err(anyhow::Error::msg),
        None => {
            bail!("no exporter {format:?}: prometheus, json or csv (or use --server for a server's plugins)")
        }
    }
}

async fn from_server(client: &Client, scope: Scope, exporter: &str) -> anyhow::Result<String> {
    let scope = match scope {
        Scope::Local => export_metrics::MetricsScope::LOCAL,
        Scope::Cluster => export_metrics::MetricsScope::CLUSTER,
    };
    let variables = export_metrics::Variables {
        scope,
        exporter: Some(exporter.to_owned()),
    };
    let data = client
        .run::<ExportMetrics>(variables)
        .await
        .with_context(|| format!("asking {} for its metrics", client.base()))?;
    Ok(data.metrics.body)
}
