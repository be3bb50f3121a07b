//! `tasker task create|get|cancel|watch` through a running server.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;

use super::task::{CreateArgs, TemplateRef, announce, exit_code, parse_template_ref, read_context};
use crate::client::Client;
use crate::client::operations::{
    CancelTask, CreateTask, GetTask, StepStatus, TaskStatus, TaskUpdated, cancel_task, create_task, get_task,
    task_updated,
};

/// A step as the commands print it, whichever operation fetched it.
struct StepLine {
    name: String,
    status: StepStatus,
    attempts: i64,
    max_attempts: i64,
    error: Option<String>,
}

macro_rules! step_line_from {
    ($summary:ty) => {
        impl From<&$summary> for StepLine {
            fn from(s: &$summary) -> Self {
                Self {
                    name: s.name.clone(),
                    status: s.status,
                    attempts: s.attempts,
                    max_attempts: s.max_attempts,
                    error: s.error.as_ref().map(|e| e.message.clone()),
                }
            }
        }
    };
}
step_line_from!(get_task::StepSummary);
step_line_from!(task_updated::StepSummary);

fn print_steps(steps: &[StepLine]) {
    for step in steps {
        let error = step
            .error
            .as_deref()
            .map(|e| format!("  error: {e}"))
            .unwrap_or_default();
        println!(
            "  {:<20} {:<18} attempts {}/{}{error}",
            step.name,
            step.status.as_str(),
            step.attempts,
            step.max_attempts
        );
    }
}

/// `task create` (the default, through the server).
pub(super) async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let TemplateRef {
        namespace,
        name,
        version,
    } = parse_template_ref(&args.template)?;
    let client = args.server.client();
    let input = create_task::CreateTaskInput {
        namespace,
        name: Some(name),
        named_task_name: None,
        version,
        context: read_context(&args.context)?,
        initiator: Some("tasker-cli".to_owned()),
        source_system: None,
        reason: args.reason.clone(),
        tags: Some(args.tags.clone()),
        bypass_steps: Some(args.bypass.clone()),
        idempotency_key: args.idempotency_key.clone(),
        priority: args.priority.map(i64::from),
        run_at: args.run_at,
        delay_seconds: args.delay_seconds.map(i64::from),
    };
    let created = client
        .run::<CreateTask>(create_task::Variables { input })
        .await
        .with_context(|| format!("creating a task on {}", client.base()))?
        .create_task;
    let task = &created.task;
    let full_name = format!("{}/{}@{}", task.namespace, task.name, task.version);
    announce(created.created, &task.id, &full_name, task.status.as_str());
    if args.wait {
        return watch(&client, &task.id, args.timeout, args.json).await;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&created)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `task get ID`.
pub(super) async fn get(client: &Client, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let Some(task) = client
        .run::<GetTask>(get_task::Variables { id: id.to_owned() })
        .await
        .with_context(|| format!("reading task {id} on {}", client.base()))?
        .task
    else {
        bail!("no task {id} on {}", client.base());
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&task)?);
        return Ok(ExitCode::SUCCESS);
    }
    let summary = &task.task_summary;
    println!(
        "task {} ({}/{}@{}) {} {:?}",
        summary.id,
        summary.namespace,
        summary.name,
        summary.version,
        summary.status.as_str(),
        summary.execution_status
    );
    println!("  created {}  updated {}", summary.created_at, summary.updated_at);
    if !task.tags.is_empty() {
        println!("  tags {}", task.tags.join(", "));
    }
    let steps: Vec<StepLine> = task.steps.iter().map(|s| s.into()).collect();
    print_steps(&steps);
    Ok(ExitCode::SUCCESS)
}

/// `task cancel ID`.
pub(super) async fn cancel(client: &Client, id: &str, reason: Option<String>) -> anyhow::Result<ExitCode> {
    let task = client
        .run::<CancelTask>(cancel_task::Variables {
            id: id.to_owned(),
            reason,
        })
        .await
        .with_context(|| format!("cancelling task {id} on {}", client.base()))?
        .cancel_task;
    println!("task {} {}", task.id, task.status.as_str());
    Ok(ExitCode::SUCCESS)
}

/// `task watch ID`: every change the `taskUpdated` subscription reports, until
/// the task finishes; exit 0 (done well), 1 (ERROR or CANCELLED), 2 (timeout).
pub(super) async fn watch(client: &Client, id: &str, timeout: u64, json: bool) -> anyhow::Result<ExitCode> {
    let updates = client
        .subscribe::<TaskUpdated>(task_updated::Variables { id: id.to_owned() })
        .await
        .with_context(|| format!("subscribing to task {id} on {}", client.base()))?;
    let mut updates = std::pin::pin!(updates);
    let deadline = tokio::time::sleep(Duration::from_secs(timeout));
    let mut deadline = std::pin::pin!(deadline);
    let mut seen = Progress::default();
    loop {
        let update = tokio::select! {
            update = updates.next() => update,
            () = &mut deadline => {
                eprintln!("gave up waiting after {timeout} s; the task continues");
                return Ok(ExitCode::from(2));
            }
        };
        let Some(update) = update else {
            bail!("the server ended the subscription before task {id} finished");
        };
        let task = update
            .with_context(|| format!("following task {id}"))?
            .task_updated;
        if json {
            println!("{}", serde_json::to_string(&task)?);
        } else {
            seen.report(&task);
        }
        let status = task.task_summary.status;
        if status.is_finished() {
            if !json {
                println!("task {} {}", task.task_summary.id, status.as_str());
                let steps: Vec<StepLine> = task.steps.iter().map(|s| s.into()).collect();
                print_steps(&steps);
            }
            return Ok(exit_code(status));
        }
    }
}

/// What `watch` printed last, so it prints only changes.
#[derive(Default)]
struct Progress {
    task: Option<TaskStatus>,
    steps: HashMap<String, (StepStatus, i64)>,
}

impl Progress {
    fn report(&mut self, task: &task_updated::TaskUpdatedTaskUpdated) {
        let now = chrono::Local::now().format("%H:%M:%S%.3f");
        let status = task.task_summary.status;
        if self.task != Some(status) {
            let from = self.task.map_or("-", TaskStatus::as_str);
            eprintln!("  {now}  {:<20} {from} → {}", "(task)", status.as_str());
            self.task = Some(status);
        }
        for step in task.steps.iter().map(StepLine::from) {
            let now_seen = (step.status, step.attempts);
            let before = self.steps.insert(step.name.clone(), now_seen);
            if before == Some(now_seen) {
                continue;
            }
            let from = before.map_or("-", |(s, _)| s.as_str());
            let attempt = if step.attempts > 0 {
                format!("  attempt {}", step.attempts)
            } else {
                String::new()
            };
            let error = step.error.map(|e| format!("  ({e})")).unwrap_or_default();
            eprintln!(
                "  {now}  {:<20} {from} → {}{attempt}{error}",
                step.name,
                step.status.as_str()
            );
        }
    }
}
