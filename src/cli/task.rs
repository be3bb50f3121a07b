//! `tasker task create NAMESPACE/NAME[@VERSION] --context JSON [--wait]`.
//!
//! Works directly on the configured database. With `--wait` it runs an
//! embedded engine limited to this one task (safe beside a running server:
//! claims are leased) and prints each transition until the task finishes.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app;
use crate::config::Config;
use crate::domain::TaskStatus;
use crate::handlers::HandlerRegistry;
use crate::service::{CreateTask, TaskDetail, Tasker};

#[derive(Debug, Subcommand)]
pub(super) enum TaskCommand {
    /// Create a task from a template.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub(super) struct CreateArgs {
    /// Template as NAMESPACE/NAME, NAMESPACE/NAME@VERSION or NAME (namespace "default").
    #[arg(value_name = "TEMPLATE")]
    template: String,
    /// The task context: JSON text, or @FILE to read it from a file.
    #[arg(long, default_value = "{}", value_name = "JSON")]
    context: String,
    /// Follow the task until it finishes (runs an engine for it here).
    #[arg(long)]
    wait: bool,
    /// With --wait: only watch; leave the work to a running server.
    #[arg(long, requires = "wait")]
    no_engine: bool,
    /// With --wait: give up after this many seconds (exit code 2).
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout: u64,
    /// Print the final task as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Creating twice with one key returns the first task.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Skippable step to bypass (repeatable).
    #[arg(long = "bypass", value_name = "STEP")]
    bypass: Vec<String>,
    /// Tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Why the task is created.
    #[arg(long)]
    reason: Option<String>,
}

/// `ns/name@version` → parts.
fn parse_template_ref(text: &str) -> anyhow::Result<(Option<String>, String, Option<String>)> {
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
    Ok((namespace, name, version))
}

fn read_context(arg: &str) -> anyhow::Result<Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading context file {path}"))?
        }
        None => arg.to_owned(),
    };
    serde_json::from_str(&text).context("--context is not valid JSON")
}

pub(super) async fn run(command: TaskCommand, config: Config) -> anyhow::Result<ExitCode> {
    let TaskCommand::Create(args) = command;
    let (namespace, name, version) = parse_template_ref(&args.template)?;
    let context = read_context(&args.context)?;
    let tasker = app::open(&config, HandlerRegistry::with_builtins()).await?;
    app::load_templates(&tasker, &config.templates.dirs).await?;
    let input = CreateTask {
        namespace,
        name,
        version,
        context,
        initiator: Some("tasker-cli".to_owned()),
        reason: args.reason.clone(),
        tags: args.tags.clone(),
        bypass_steps: args.bypass.clone(),
        idempotency_key: args.idempotency_key.clone(),
        ..CreateTask::default()
    };
    let created = tasker.create_task(input).await?;
    let task = &created.task;
    let verb = if created.created {
        "created"
    } else {
        "found existing (idempotency key)"
    };
    eprintln!(
        "{verb} task {} ({}/{}@{}) {}",
        task.id, task.namespace, task.name, task.version, task.status
    );
    if !args.wait {
        if args.json {
            println!("{}", serde_json::to_string_pretty(task)?);
        }
        return Ok(ExitCode::SUCCESS);
    }

    let cancel = CancellationToken::new();
    let engine = (!args.no_engine).then(|| {
        let mut options = config.engine_options();
        options.only_task = Some(task.id);
        let engine = app::engine_for(&tasker, options);
        tokio::spawn(engine.run(cancel.clone()))
    });
    let finished = follow(&tasker, task.id, Duration::from_secs(args.timeout), args.json).await;
    cancel.cancel();
    if let Some(engine) = engine {
        let _ = engine.await;
    }
    let Some(detail) = finished? else {
        eprintln!("gave up waiting after {} s; the task continues", args.timeout);
        return Ok(ExitCode::from(2));
    };
    print_outcome(&detail, args.json)?;
    Ok(match detail.task.status {
        TaskStatus::Complete | TaskStatus::ResolvedManually => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// Print new transitions until the task finishes; `None` on timeout.
async fn follow(
    tasker: &Tasker,
    id: Uuid,
    timeout: Duration,
    quiet: bool,
) -> anyhow::Result<Option<TaskDetail>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen: HashSet<(Uuid, i32)> = HashSet::new();
    loop {
        let detail = tasker.task_detail(id).await?.context("the task disappeared")?;
        let names: std::collections::HashMap<Uuid, &str> =
            detail.steps.iter().map(|s| (s.id, s.name.as_str())).collect();
        let ids: Vec<Uuid> = detail.steps.iter().map(|s| s.id).collect();
        let mut fresh: Vec<_> = tasker
            .step_transitions(&ids)
            .await?
            .into_iter()
            .filter(|(step, t)| seen.insert((*step, t.sequence)))
            .collect();
        fresh.sort_by_key(|(_, t)| t.at);
        for (step, t) in fresh {
            if !quiet {
                let from = t.from.as_deref().unwrap_or("-");
                let reason = t
                    .reason
                    .as_deref()
                    .map(|r| format!("  ({r})"))
                    .unwrap_or_default();
                let attempt = t
                    .attempt
                    .filter(|a| *a > 0)
                    .map(|a| format!("  attempt {a}"))
                    .unwrap_or_default();
                eprintln!(
                    "  {}  {:<20} {from} → {}{attempt}{reason}",
                    t.at.format("%H:%M:%S%.3f"),
                    names[&step],
                    t.to
                );
            }
        }
        if detail.task.status.is_finished() {
            return Ok(Some(detail));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_outcome(detail: &TaskDetail, json_output: bool) -> anyhow::Result<()> {
    if json_output {
        let steps: Vec<Value> = detail
            .steps
            .iter()
            .map(|s| json!({"step": s, "results": detail.results.get(&s.id)}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"task": detail.task, "steps": steps}))?
        );
        return Ok(());
    }
    println!("task {} {}", detail.task.id, detail.task.status);
    for step in &detail.steps {
        let error = step
            .error
            .as_ref()
            .map(|e| format!("  error[{}]: {}", e.kind.as_str(), e.message))
            .unwrap_or_default();
        println!(
            "  {:<20} {:<18} attempts {}{error}",
            step.name,
            step.status.as_str(),
            step.attempts
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_references_parse() {
        let parse = |t| parse_template_ref(t).ok();
        assert_eq!(
            parse("pay/charge@1.2.0"),
            Some((Some("pay".into()), "charge".into(), Some("1.2.0".into())))
        );
        assert_eq!(parse("hello"), Some((None, "hello".into(), None)));
        assert_eq!(parse("/x"), None);
        assert_eq!(parse("ns/x@"), None);
    }
}
