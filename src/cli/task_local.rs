//! `tasker task create --local`: works directly on the configured database.
//! With `--wait` it runs an embedded engine limited to this one task and
//! prints each transition until the task finishes.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::task::{CreateArgs, TemplateRef, announce, exit_code, parse_template_ref, read_context};
use crate::app;
use crate::config::Config;
use crate::handlers::HandlerRegistry;
use crate::service::{CreateTask, TaskDetail, Tasker};

/// `task create --local`.
pub(super) async fn create(args: CreateArgs, config: Config) -> anyhow::Result<ExitCode> {
    let TemplateRef {
        namespace,
        name,
        version,
    } = parse_template_ref(&args.template)?;
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
        priority: args.priority.map(i64::from),
        run_at: args.run_at,
        delay_seconds: args.delay_seconds.map(i64::from),
        ..CreateTask::default()
    };
    let created = tasker.create_task(input).await?;
    let task = &created.task;
    let full_name = format!("{}/{}@{}", task.namespace, task.name, task.version);
    announce(created.created, &task.id, &full_name, task.status.as_str());
    if !args.wait {
        if args.json {
            println!("{}", serde_json::to_string_pretty(task)?);
        }
        return Ok(ExitCode::SUCCESS);
    }

    let cancel = CancellationToken::new();
    let engine = (!args.no_engine).then(|| {
        let mut options = crate::engine::Options::from_config(&config);
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
    Ok(exit_code(detail.task.status))
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
