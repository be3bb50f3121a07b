//! Task services: creation (idempotent), reads, and operator actions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::{Instrument, field, info_span};
use uuid::Uuid;

use super::flow::{flow_groups, flow_inputs};
use super::views::{StepView, TaskView, TransitionView};
use super::{Error, Result, Tasker};
use crate::domain::attempt::check_storable_json;
use crate::domain::context::check_context_size;
use crate::domain::template::DEFAULT_NAMESPACE;
use crate::store::{self, NewTask, StepGate};
use crate::telemetry::traces;

/// Input of [`Tasker::create_task`].
#[derive(Debug, Clone, Default)]
pub struct CreateTask {
    /// Template namespace (default `default`).
    pub namespace: Option<String>,
    /// Template name.
    pub name: String,
    /// Template version (default: the highest registered).
    pub version: Option<String>,
    /// The task's JSON context.
    pub context: Value,
    /// Who asks.
    pub initiator: Option<String>,
    /// Which system asks.
    pub source_system: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Labels for filtering.
    pub tags: Vec<String>,
    /// Names of skippable steps to bypass.
    pub bypass_steps: Vec<String>,
    /// Makes creation idempotent: the same key returns the same task.
    pub idempotency_key: Option<String>,
    /// Correlation id of the request.
    pub correlation_id: Option<String>,
    /// 1 (least urgent) to 4 (most urgent); default: the template's, else 2.
    pub priority: Option<i64>,
    /// Start no step before this time (the task is SCHEDULED until then).
    pub run_at: Option<DateTime<Utc>>,
    /// Start no step before this many seconds from now (instead of `run_at`).
    pub delay_seconds: Option<i64>,
    /// For a child task: the task and step that start it.
    pub lineage: Option<store::Lineage>,
}

/// Output of [`Tasker::create_task`].
#[derive(Debug, Clone)]
pub struct Created {
    /// The task.
    pub task: TaskView,
    /// False when the idempotency key matched an existing task.
    pub created: bool,
}

/// A task with its steps and their results.
#[derive(Debug, Clone)]
pub struct TaskDetail {
    /// The task.
    pub task: TaskView,
    /// Its steps in template order.
    pub steps: Vec<StepView>,
    /// Step id → results (steps that have some).
    pub results: HashMap<Uuid, Value>,
}

/// Tags a task may carry.
pub const MAX_TAGS: usize = 50;
/// Characters in a tag.
pub const MAX_TAG_CHARS: usize = 128;
/// Characters in a free-text input (initiator, source system, reason).
pub const MAX_TEXT_CHARS: usize = 1_024;
/// Characters in an idempotency key.
pub const MAX_KEY_CHARS: usize = 256;

/// PostgreSQL text cannot hold NUL, so no input may carry one.
fn check_nul(field: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::bad_input(field, "contains a NUL character (\\u0000)"));
    }
    Ok(())
}

pub(super) fn check_text(field: &str, value: &Option<String>) -> Result<()> {
    match value {
        Some(v) if v.chars().count() > MAX_TEXT_CHARS => Err(Error::bad_input(
            field,
            format!("longer than {MAX_TEXT_CHARS} characters"),
        )),
        Some(v) => check_nul(field, v),
        None => Ok(()),
    }
}

fn check_inputs(input: &CreateTask, max_context_bytes: usize) -> Result<()> {
    if input.name.trim().is_empty() {
        return Err(Error::bad_input("name", "must not be empty"));
    }
    check_context_size(&input.context, max_context_bytes)?;
    check_storable_json(&input.context, usize::MAX)
        .map_err(|m| Error::bad_input("context", m.replace("results", "context")))?;
    for (field, value) in [
        ("name", Some(&input.name)),
        ("namespace", input.namespace.as_ref()),
        ("version", input.version.as_ref()),
    ] {
        if let Some(value) = value {
            check_nul(field, value)?;
        }
    }
    if input.tags.len() > MAX_TAGS
        || input
            .tags
            .iter()
            .any(|t| t.is_empty() || t.chars().count() > MAX_TAG_CHARS || t.contains('\0'))
    {
        return Err(Error::bad_input(
            "tags",
            format!("at most {MAX_TAGS} tags of 1 to {MAX_TAG_CHARS} characters, without NUL"),
        ));
    }
    for (field, value) in [
        ("initiator", &input.initiator),
        ("sourceSystem", &input.source_system),
        ("reason", &input.reason),
        ("correlationId", &input.correlation_id),
    ] {
        check_text(field, value)?;
    }
    match &input.idempotency_key {
        Some(k) if k.is_empty() || k.chars().count() > MAX_KEY_CHARS => Err(Error::bad_input(
            "idempotencyKey",
            format!("must be 1 to {MAX_KEY_CHARS} characters"),
        )),
        Some(k) => check_nul("idempotencyKey", k),
        None => Ok(()),
    }
}

impl Tasker {
    /// Create a task from a template. With an idempotency key already used for
    /// the same template, the existing task comes back with `created: false`.
    ///
    /// The `task` span covers the creation; the task keeps its trace context
    /// so that every step attempt joins the same trace.
    pub async fn create_task(&self, input: CreateTask) -> Result<Created> {
        let namespace = input
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let span = info_span!(
            "task",
            otel.kind = "producer",
            tasker.task.namespace = %namespace,
            tasker.task.name = %input.name,
            tasker.task.id = field::Empty,
            tasker.task.created = field::Empty,
        );
        let trace_parent = traces::traceparent(&span);
        let created = self
            .create_task_traced(input, namespace, trace_parent)
            .instrument(span.clone())
            .await;
        if let Ok(created) = &created {
            span.record("tasker.task.id", field::display(created.task.id));
            span.record("tasker.task.created", created.created);
        }
        created
    }

    /// Check that `input` would create a task now (inputs, template, context
    /// schema, flow-control keys) without creating it.
    pub(super) async fn check_creatable(&self, input: &CreateTask) -> Result<()> {
        check_inputs(input, self.settings.limits.max_context_bytes)?;
        let namespace = input.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        let template = self
            .find_template(namespace, &input.name, input.version.as_deref())
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "task template",
                id: format!("{namespace}/{}", input.name),
            })?;
        if let Some(schema) = self.context_schema(&template)? {
            schema.check(&input.context)?;
        }
        flow_groups(&template.template, &input.context, &self.settings).map(drop)
    }

    async fn create_task_traced(
        &self,
        input: CreateTask,
        namespace: String,
        trace_parent: Option<String>,
    ) -> Result<Created> {
        check_inputs(&input, self.settings.limits.max_context_bytes)?;
        if let Some(existing) = self.existing_for_key(&input, &namespace).await? {
            return Ok(existing);
        }
        let template = self
            .find_template(&namespace, &input.name, input.version.as_deref())
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "task template",
                id: format!(
                    "{namespace}/{}{}",
                    input.name,
                    input
                        .version
                        .as_deref()
                        .map(|v| format!("@{v}"))
                        .unwrap_or_default()
                ),
            })?;
        if let Some(schema) = self.context_schema(&template)? {
            schema.check(&input.context)?;
        }
        let mut bypass = vec![false; template.template.steps.len()];
        for name in &input.bypass_steps {
            let index = template
                .template
                .steps
                .iter()
                .position(|s| &s.name == name)
                .ok_or_else(|| {
                    Error::bad_input(
                        "bypassSteps",
                        format!("{name:?} is not a step of {}", template.template.full_name()),
                    )
                })?;
            if !template.template.steps[index].skippable {
                return Err(Error::bad_input(
                    "bypassSteps",
                    format!("step {name:?} is not skippable"),
                ));
            }
            bypass[index] = true;
        }
        let now = self.clock.now();
        let (priority, run_at) = flow_inputs(&input, template.template.priority, now)?;
        let (group, step_gates) = flow_groups(&template.template, &input.context, &self.settings)?;
        let admit_key = group.as_ref().map(|g| g.key.clone());
        let grouped = group.is_some() || step_gates.iter().any(StepGate::is_gated);
        let (template, input_ref, retry_defaults) = (&template, &input, &self.settings.retry_defaults);
        let trace_parent = &trace_parent;
        let (group, step_gates, admit_key) = (&group, &step_gates, &admit_key);
        let created = self
            .write(|mut tx| {
                let bypass = bypass.clone();
                async move {
                    let new = NewTask {
                        template,
                        context: input_ref.context.clone(),
                        initiator: input_ref.initiator.clone(),
                        source_system: input_ref.source_system.clone(),
                        reason: input_ref.reason.clone(),
                        tags: input_ref.tags.clone(),
                        idempotency_key: input_ref.idempotency_key.clone(),
                        correlation_id: input_ref.correlation_id.clone(),
                        trace_parent: trace_parent.clone(),
                        bypass,
                        retry_defaults,
                        priority,
                        run_at,
                        group: group.clone(),
                        step_gates: step_gates.clone(),
                        lineage: input_ref.lineage,
                    };
                    let row = store::create_task(&mut tx, new, now).await?;
                    let mut admitted = store::Admitted::default();
                    if let (Some(key), None) = (admit_key, row.completed_at) {
                        let clock = || self.clock.now();
                        (admitted, _) =
                            store::admit_tasks(&mut tx, store::AdmitScope::Group(key), now, &clock).await?;
                    }
                    Ok(((row, admitted), tx))
                }
            })
            .await;
        match created {
            Ok((row, admitted)) => {
                self.interrupt(&admitted.interrupted);
                if grouped {
                    self.wake_groups();
                } else {
                    self.wake_engine();
                }
                // Admission may have started or cancelled it in the same commit.
                let task = match admit_key {
                    Some(_) => self.task(row.id).await?.ok_or_else(|| Error::NotFound {
                        entity: "task",
                        id: row.id.to_string(),
                    })?,
                    None => row.try_into()?,
                };
                Ok(Created { task, created: true })
            }
            // A concurrent request with the same key won the race.
            Err(Error::Conflict { .. }) if input.idempotency_key.is_some() => self
                .existing_for_key(&input, &namespace)
                .await?
                .ok_or_else(|| Error::Conflict {
                    message: "idempotency key race could not be resolved".to_owned(),
                }),
            Err(other) => Err(other),
        }
    }

    async fn existing_for_key(&self, input: &CreateTask, namespace: &str) -> Result<Option<Created>> {
        let Some(key) = &input.idempotency_key else {
            return Ok(None);
        };
        let Some(task) = store::find_task_by_idempotency_key(self.store.writer(), key).await? else {
            return Ok(None);
        };
        if task.namespace != namespace || task.name != input.name {
            return Err(Error::Conflict {
                message: format!(
                    "idempotency key {key:?} was already used for a task of {}/{}",
                    task.namespace, task.name
                ),
            });
        }
        Ok(Some(Created {
            task: task.try_into()?,
            created: false,
        }))
    }

    /// One task.
    pub async fn task(&self, id: Uuid) -> Result<Option<TaskView>> {
        store::find_task(self.store.reader(), id)
            .await?
            .map(TaskView::try_from)
            .transpose()
    }

    /// One step.
    pub async fn step(&self, id: Uuid) -> Result<Option<StepView>> {
        store::find_step(self.store.reader(), id)
            .await?
            .map(StepView::try_from)
            .transpose()
    }

    /// A task with its steps and results.
    pub async fn task_detail(&self, id: Uuid) -> Result<Option<TaskDetail>> {
        let Some(task) = self.task(id).await? else {
            return Ok(None);
        };
        let rows = store::steps_of_task(self.store.reader(), id).await?;
        let ids: Vec<Uuid> = rows.iter().map(|s| s.id).collect();
        let results = store::step_results(self.store.reader(), &ids).await?;
        let steps = rows
            .into_iter()
            .map(StepView::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(TaskDetail { task, steps, results }))
    }

    /// The audit trail of a task.
    pub async fn task_transitions(&self, id: Uuid) -> Result<Vec<TransitionView>> {
        Ok(store::task_transitions(self.store.reader(), id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The audit trail of steps, oldest first per step.
    pub async fn step_transitions(&self, step_ids: &[Uuid]) -> Result<Vec<(Uuid, TransitionView)>> {
        let rows = store::step_transitions(self.store.reader(), step_ids).await?;
        Ok(rows.into_iter().map(|r| (r.step_id, r.into())).collect())
    }

    /// Cancel a task; running handlers are told to stop.
    pub async fn cancel_task(&self, id: Uuid, reason: Option<String>) -> Result<TaskView> {
        check_text("reason", &reason)?;
        let now = self.clock.now();
        let reason = &reason;
        let cancelled = self
            .write(|mut tx| async move {
                let c = store::cancel_task(&mut tx, id, reason.clone(), now).await?;
                Ok((c, tx))
            })
            .await?;
        self.interrupt(&cancelled.interrupted_steps);
        // A cancelled task may free a slot of its concurrency group.
        self.wake_groups();
        cancelled.task.try_into()
    }

    /// Give every failed step of a failed task a fresh budget of attempts.
    pub async fn retry_task(&self, id: Uuid) -> Result<TaskView> {
        let now = self.clock.now();
        self.write(|mut tx| async move {
            let steps = store::retry_task(&mut tx, id, now).await?;
            Ok((steps, tx))
        })
        .await?;
        self.wake_groups();
        self.task(id).await?.ok_or_else(|| Error::NotFound {
            entity: "task",
            id: id.to_string(),
        })
    }

    /// Give one failed step a fresh budget of attempts.
    pub async fn retry_step(&self, id: Uuid) -> Result<StepView> {
        let now = self.clock.now();
        let step = self
            .write(|mut tx| async move {
                let step = store::retry_step(&mut tx, id, now).await?;
                Ok((step, tx))
            })
            .await?;
        self.wake_groups();
        step.try_into()
    }

    /// Resolve a step by hand; its children may then run.
    pub async fn resolve_step(
        &self,
        id: Uuid,
        results: Option<Value>,
        reason: Option<String>,
    ) -> Result<StepView> {
        check_text("reason", &reason)?;
        if let Some(r) = &results {
            check_storable_json(r, self.settings.limits.max_result_bytes)
                .map_err(|m| Error::bad_input("results", m))?;
        }
        let now = self.clock.now();
        let (results, reason) = (&results, &reason);
        let step = self
            .write(|mut tx| async move {
                let step = store::resolve_step(&mut tx, id, results.clone(), reason.clone(), now).await?;
                Ok((step, tx))
            })
            .await?;
        self.interrupt(&[step.id]);
        self.wake_groups();
        step.try_into()
    }
}
