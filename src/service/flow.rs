//! The flow-control inputs of a new task: its priority and start time, and
//! the concurrency groups of the task and of its steps (keys evaluated over
//! the task context, so a key that does not evaluate refuses the task).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::tasks::CreateTask;
use super::{Error, Result};
use crate::domain::concurrency::group_key;
use crate::domain::priority::Priority;
use crate::domain::template::{ConcurrencySpec, TaskTemplate};
use crate::store::FlowGroup;

/// Furthest ahead a delayed start may lie (about ten years).
pub const MAX_DELAY_SECONDS: i64 = 10 * 366 * 86_400;

/// The priority and start time `input` asks for: a bad priority, both
/// `runAt` and `delaySeconds`, or a start out of range are refused.
pub(super) fn flow_inputs(
    input: &CreateTask,
    template_priority: Option<Priority>,
    now: DateTime<Utc>,
) -> Result<(Priority, Option<DateTime<Utc>>)> {
    let priority = match input.priority {
        Some(p) => Priority::new(p).map_err(|e| Error::bad_input("priority", e.to_string()))?,
        None => template_priority.unwrap_or_default(),
    };
    let horizon = now + chrono::Duration::seconds(MAX_DELAY_SECONDS);
    let run_at = match (input.run_at, input.delay_seconds) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_input(
                "delaySeconds",
                "give runAt or delaySeconds, not both",
            ));
        }
        (None, Some(d)) if !(0..=MAX_DELAY_SECONDS).contains(&d) => {
            return Err(Error::bad_input(
                "delaySeconds",
                format!("must be between 0 and {MAX_DELAY_SECONDS}"),
            ));
        }
        (None, Some(d)) => Some(now + chrono::Duration::seconds(d)),
        (Some(at), None) if at > horizon => {
            return Err(Error::bad_input(
                "runAt",
                format!("must be at most {MAX_DELAY_SECONDS} seconds ahead"),
            ));
        }
        (at, None) => at.map(crate::store::storage_time),
    };
    Ok((priority, run_at))
}

/// The task's group and each step's, named by the template's keys over `context`.
pub(super) fn flow_groups(
    template: &TaskTemplate,
    context: &Value,
) -> Result<(Option<FlowGroup>, Vec<Option<FlowGroup>>)> {
    let scope = format!("{}/{}", template.namespace, template.name);
    let group = |scope: &str, spec: &ConcurrencySpec, field: &str| {
        group_key(scope, spec, context)
            .map(|key| FlowGroup {
                key,
                limit: spec.limit,
                strategy: spec.strategy,
            })
            .map_err(|e| Error::bad_input("context", format!("{field}: {e}")))
    };
    let task = template
        .concurrency
        .as_ref()
        .map(|spec| group(&scope, spec, "concurrency.key"))
        .transpose()?;
    let steps = template
        .steps
        .iter()
        .map(|step| {
            step.concurrency
                .as_ref()
                .map(|spec| {
                    let field = format!("steps.{}.concurrency.key", step.name);
                    group(&format!("{scope}/{}", step.name), spec, &field)
                })
                .transpose()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((task, steps))
}
