//! The flow-control inputs of a new task: its priority and start time, and
//! the concurrency groups of the task and of its steps and the steps' rate
//! limits (keys evaluated over the task context, so a key that does not
//! evaluate refuses the task).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::tasks::CreateTask;
use super::{Error, Result, Settings};
use crate::domain::concurrency::group_key;
use crate::domain::expr::ExprError;
use crate::domain::priority::Priority;
use crate::domain::rate::rate_key;
use crate::domain::template::{ConcurrencySpec, TaskTemplate};
use crate::store::{FlowGroup, StepGate};

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

/// The task's group and each step's gate (its group and rate limits, the
/// step's own and its handler's, and whether its handler has concurrency
/// limits, from `settings`), named by the keys over `context`.
pub(super) fn flow_groups(
    template: &TaskTemplate,
    context: &Value,
    settings: &Settings,
) -> Result<(Option<FlowGroup>, Vec<StepGate>)> {
    let scope = format!("{}/{}", template.namespace, template.name);
    let refused = |field: String| move |e: ExprError| Error::bad_input("context", format!("{field}: {e}"));
    let group = |scope: &str, spec: &ConcurrencySpec, field: String| {
        group_key(scope, spec, context)
            .map(|key| FlowGroup {
                key,
                limit: spec.limit,
                strategy: spec.strategy,
            })
            .map_err(refused(field))
    };
    let task = template
        .concurrency
        .as_ref()
        .map(|spec| group(&scope, spec, "concurrency.key".to_owned()))
        .transpose()?;
    let steps = template
        .steps
        .iter()
        .map(|step| {
            let step_scope = format!("{scope}/{}", step.name);
            let group = step
                .concurrency
                .as_ref()
                .map(|spec| group(&step_scope, spec, format!("steps.{}.concurrency.key", step.name)))
                .transpose()?;
            let mut rates = Vec::new();
            if let Some(spec) = &step.rate_limit {
                let field = format!("steps.{}.rate_limit.key", step.name);
                rates.push(rate_key(&step_scope, spec, context).map_err(refused(field))?);
            }
            if let Some(spec) = settings.handler_rates.get(&step.handler) {
                let field = format!("handlers.{}.rate_limit.key", step.handler);
                let handler_scope = format!("handler:{}", step.handler);
                rates.push(rate_key(&handler_scope, spec, context).map_err(refused(field))?);
            }
            let handler_limited = settings
                .handler_concurrency
                .get(&step.handler)
                .is_some_and(|l| l.is_limited());
            Ok(StepGate {
                group,
                rates,
                handler_limited,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((task, steps))
}
