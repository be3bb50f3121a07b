//! `tasker task create|get|cancel|watch`: through a running server's GraphQL
//! API (`--server`, default http://127.0.0.1:8080) with the typed client.
//! `task create --local` works on the configured database instead, with an
//! embedded engine for `--wait` (safe beside a running server: claims are
//! leased).

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::task_local;
use super::task_remote;
use crate::client::{Client, DEFAULT_SERVER};
use crate::config::Config;
use crate::domain::TaskStatus;

#[derive(Debug, Subcommand)]
pub(super) enum TaskCommand {
    /// Create a task from a template.
    Create(CreateArgs),
    /// Show a task and its steps.
    Get {
        /// The task's id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
        /// Print the task as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a task: its unfinished steps are cancelled.
    Cancel {
        /// The task's id.
        id: String,
        /// Why (stored with the transition).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Follow a task live until it finishes (exit code as for `create --wait`).
    Watch {
        /// The task's id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
        /// Give up after this many seconds (exit code 2).
        #[arg(long, default_value_t = 300, value_name = "SECONDS")]
        timeout: u64,
        /// Print every snapshot as a JSON line instead of the changes as text.
        #[arg(long)]
        json: bool,
    },
}

/// Where the server is and how to authenticate to it.
#[derive(Debug, Args)]
pub(super) struct ServerArgs {
    /// The running server's base URL.
    #[arg(long, env = "TASKER_SERVER", default_value = DEFAULT_SERVER, value_name = "URL")]
    server: String,
    /// Bearer token sent to the server.
    #[arg(long, env = "TASKER_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
}

impl ServerArgs {
    pub(super) fn client(&self) -> Client {
        Client::new(&self.server, self.token.clone())
    }
}

#[derive(Debug, Args)]
pub(super) struct CreateArgs {
    /// Template as NAMESPACE/NAME, NAMESPACE/NAME@VERSION or NAME (namespace "default").
    #[arg(value_name = "TEMPLATE")]
    pub(super) template: String,
    /// The task context: JSON text, or @FILE to read it from a file.
    #[arg(long, default_value = "{}", value_name = "JSON")]
    pub(super) context: String,
    /// Follow the task until it finishes.
    #[arg(long)]
    pub(super) wait: bool,
    /// Work on the configured database instead of a server (with --wait, run an engine here).
    #[arg(long)]
    pub(super) local: bool,
    /// With --local --wait: only watch; leave the work to a running server.
    #[arg(long, requires_all = ["wait", "local"])]
    pub(super) no_engine: bool,
    /// With --wait: give up after this many seconds (exit code 2).
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub(super) timeout: u64,
    /// Print the final task as JSON instead of text.
    #[arg(long)]
    pub(super) json: bool,
    /// Creating twice with one key returns the first task.
    #[arg(long, value_name = "KEY")]
    pub(super) idempotency_key: Option<String>,
    /// Skippable step to bypass (repeatable).
    #[arg(long = "bypass", value_name = "STEP")]
    pub(super) bypass: Vec<String>,
    /// Tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub(super) tags: Vec<String>,
    /// Why the task is created.
    #[arg(long)]
    pub(super) reason: Option<String>,
    /// 1 (least urgent) to 4 (most urgent); default: the template's, else 2.
    #[arg(long, value_name = "1-4")]
    pub(super) priority: Option<i32>,
    /// Start no step before this time (RFC 3339, e.g. 2026-12-24T18:00:00Z).
    #[arg(long, value_name = "TIME", conflicts_with = "delay_seconds")]
    pub(super) run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Start no step before this many seconds from now.
    #[arg(long, value_name = "SECONDS")]
    pub(super) delay_seconds: Option<i32>,
    #[command(flatten)]
    pub(super) server: ServerArgs,
}

/// A template reference, split.
pub(super) struct TemplateRef {
    pub(super) namespace: Option<String>,
    pub(super) name: String,
    pub(super) version: Option<String>,
}

/// `ns/name@version` → parts.
pub(super) fn parse_template_ref(text: &str) -> anyhow::Result<TemplateRef> {
    let (path, version) = match text.split_once('@') {
        Some((p, v)) if !v.is_empty() => (p, Some(v.to_owned())),
        Some(_) => bail!("{text:?}: empty version after @"),
        None => (text, None),
    };
    let (namespace, name) = match path.split_once('/') {
        Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
        None => (None, path.to_owned()),
    };
    if name.is_empty() || namespace.as_deref() == Some("") {
        bail!("{text:?}: expected NAMESPACE/NAME[@VERSION]");
    }
    Ok(TemplateRef {
        namespace,
        name,
        version,
    })
}

pub(super) fn read_context(arg: &str) -> anyhow::Result<Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading context file {path}"))?
        }
        None => arg.to_owned(),
    };
    serde_json::from_str(&text).context("--context is not valid JSON")
}

/// Say on stderr what `task create` did.
pub(super) fn announce(created: bool, id: &dyn std::fmt::Display, full_name: &str, status: &str) {
    let verb = if created {
        "created"
    } else {
        "found existing (idempotency key)"
    };
    eprintln!("{verb} task {id} ({full_name}) {status}");
}

/// 0 for a task that ended well, 1 for one that did not.
pub(super) fn exit_code(status: TaskStatus) -> ExitCode {
    match status {
        TaskStatus::Complete | TaskStatus::ResolvedManually => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

pub(super) async fn run(command: TaskCommand, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        TaskCommand::Create(args) if args.local => task_local::create(args, config).await,
        TaskCommand::Create(args) => task_remote::create(args).await,
        TaskCommand::Get { id, server, json } => task_remote::get(&server.client(), &id, json).await,
        TaskCommand::Cancel { id, reason, server } => {
            task_remote::cancel(&server.client(), &id, reason).await
        }
        TaskCommand::Watch {
            id,
            server,
            timeout,
            json,
        } => task_remote::watch(&server.client(), &id, timeout, json).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_references_parse() {
        let parse = |t| {
            parse_template_ref(t)
                .ok()
                .map(|r| (r.namespace, r.name, r.version))
        };
        assert_eq!(
            parse("pay/charge@1.2.0"),
            Some((Some("pay".into()), "charge".into(), Some("1.2.0".into())))
        );
        assert_eq!(parse("hello"), Some((None, "hello".into(), None)));
        assert_eq!(parse("/x"), None);
        assert_eq!(parse("ns/x@"), None);
    }
}
