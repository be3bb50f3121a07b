//! Creating a task: the task row, its steps, edges and first transitions in one
//! transaction. Steps copy their definition from the template (with the retry
//! policy resolved against the server defaults), so later template replacements
//! and default changes never alter a task in flight.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use serde_json::Value;
use uuid::Uuid;

use super::error::{Error, Result};
use super::templates::StoredTemplate;
use super::txn::{WriteTxn, insert_all};
use crate::domain::backoff::RetryDefaults;
use crate::domain::change::{StepChange, TaskChange};
use crate::domain::priority::{Priority, claim_rank};
use crate::domain::rate::RateKey;
use crate::domain::readiness::{StepCounts, initial_statuses, reconcile_task};
use crate::domain::template::{ConcurrencyStrategy, dag_of};
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{step_edge, task, task_tag, workflow_step};

/// Everything a new task needs; inputs are already validated by the caller.
pub struct NewTask<'a> {
    /// The template to instantiate.
    pub template: &'a StoredTemplate,
    /// The task's JSON context.
    pub context: Value,
    /// Who asked (free text).
    pub initiator: Option<String>,
    /// Which system asked (free text).
    pub source_system: Option<String>,
    /// Why (free text).
    pub reason: Option<String>,
    /// Labels for filtering.
    pub tags: Vec<String>,
    /// Client-chosen key that makes creation idempotent.
    pub idempotency_key: Option<String>,
    /// Correlation id of the request that created it.
    pub correlation_id: Option<String>,
    /// W3C `traceparent` of the span that created it.
    pub trace_parent: Option<String>,
    /// One flag per template step: bypass it (it must be skippable).
    pub bypass: Vec<bool>,
    /// Server retry defaults to resolve each step's policy against.
    pub retry_defaults: &'a RetryDefaults,
    /// How urgent; its steps are claimed in this order.
    pub priority: Priority,
    /// No step is claimed before this time (the task is SCHEDULED until then
    /// when it lies ahead).
    pub run_at: Option<DateTime<Utc>>,
    /// The task's concurrency group: it waits for the group's turn, and the
    /// caller admits it ([`super::admit_tasks`]) in the same transaction.
    pub group: Option<FlowGroup>,
    /// One entry per template step: its concurrency group and rate limits
    /// (with either, it waits at a gate once its parents are satisfied).
    pub step_gates: Vec<StepGate>,
    /// For a child task: the task and step that start it.
    pub lineage: Option<Lineage>,
}

/// Where a child task comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lineage {
    /// The parent task.
    pub task_id: Uuid,
    /// Its step that starts the child.
    pub step_id: Uuid,
    /// That step's attempt.
    pub attempt: i32,
    /// The root of the tree.
    pub root_task_id: Uuid,
}

/// What holds a step back at its gate: a concurrency group, rate limits,
/// its handler's concurrency limits, or several of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepGate {
    /// Its concurrency group.
    pub group: Option<FlowGroup>,
    /// The rate-limit keys its starts count against.
    pub rates: Vec<RateKey>,
    /// Its handler has concurrency limits (counted when a gate pass picks it).
    pub handler_limited: bool,
}

/// Prefix of the gate key of a step with rate limits and no concurrency group.
pub(crate) const RATE_GATE_PREFIX: &str = "rate:";
/// Prefix of the gate key of a step held back by its handler's limits alone.
pub(crate) const HANDLER_GATE_PREFIX: &str = "handler:";

impl StepGate {
    /// Whether the step waits at a gate at all.
    pub fn is_gated(&self) -> bool {
        self.group.is_some() || !self.rates.is_empty() || self.handler_limited
    }

    /// The key its gate serves it under: its group, or else its first rate
    /// key (so steps of one rate key take their turns together), or else its
    /// handler.
    fn key(&self, handler: &str) -> Option<String> {
        match (&self.group, self.rates.first()) {
            (Some(group), _) => Some(group.key.clone()),
            (None, Some(rate)) => Some(format!("{RATE_GATE_PREFIX}{}", rate.key)),
            (None, None) if self.handler_limited => Some(format!("{HANDLER_GATE_PREFIX}{handler}")),
            (None, None) => None,
        }
    }
}

/// A concurrency group a task or step belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowGroup {
    /// The group's name (scope and key value).
    pub key: String,
    /// Runs of the group at once.
    pub limit: u32,
    /// What a run that finds the group full does.
    pub strategy: ConcurrencyStrategy,
}

fn int(value: impl TryInto<i32>) -> i32 {
    value.try_into().unwrap_or(i32::MAX)
}

/// Insert the task with its steps, edges and initial transitions.
pub async fn create_task(tx: &mut WriteTxn, new: NewTask<'_>, now: DateTime<Utc>) -> Result<task::Model> {
    let template = &new.template.template;
    let (dag, _) = dag_of(template);
    let statuses = initial_statuses(&dag, &new.bypass);
    let task_id = Uuid::now_v7();
    let step_ids: Vec<Uuid> = template.steps.iter().map(|_| Uuid::now_v7()).collect();

    let counts: StepCounts = statuses.iter().copied().collect();
    let finished = reconcile_task(TaskStatus::Pending, &counts);
    let mut task_history = vec![(None, TaskStatus::Pending)];
    let later_start = new.run_at.filter(|at| *at > now && finished.is_none());
    if let Some(to) = finished {
        task_history.push((Some(TaskStatus::Pending), to));
    } else if later_start.is_some() {
        task_history.push((Some(TaskStatus::Pending), TaskStatus::Scheduled));
    }
    let ready_at = later_start.unwrap_or(now);
    let rank = claim_rank(ready_at, new.priority, tx.ageing());
    // A task of a concurrency group holds its first steps back until the
    // group admits it; they are found again by their satisfied parents.
    let queued = new.group.is_some() && finished.is_none();
    let status = task_history.last().map_or(TaskStatus::Pending, |(_, to)| *to);
    let tags = serde_json::to_value(&new.tags).map_err(|e| Error::corrupt(e.to_string()))?;
    // The JSON column keeps the tags as given; task_tag indexes them for filters.
    let row = task::Model {
        id: task_id,
        task_template_id: new.template.id,
        namespace: template.namespace.clone(),
        name: template.name.clone(),
        version: template.version.to_string(),
        status: status.as_str().to_owned(),
        previous_status: task_history
            .last()
            .and_then(|(from, _)| from.map(|f| f.as_str().to_owned())),
        transition_seq: int(task_history.len()),
        context: new.context,
        initiator: new.initiator,
        source_system: new.source_system,
        reason: new.reason,
        tags,
        idempotency_key: new.idempotency_key,
        correlation_id: new.correlation_id,
        trace_parent: new.trace_parent,
        priority: i32::from(new.priority.get()),
        run_at: new.run_at,
        flow_key: new.group.as_ref().map(|g| g.key.clone()),
        flow_limit: new.group.as_ref().map(|g| int(g.limit)),
        flow_strategy: new.group.as_ref().map(|g| g.strategy.as_str().to_owned()),
        queued_at: queued.then_some(ready_at),
        parent_task_id: new.lineage.map(|l| l.task_id),
        parent_step_id: new.lineage.map(|l| l.step_id),
        parent_attempt: new.lineage.map(|l| l.attempt),
        root_task_id: new.lineage.map(|l| l.root_task_id),
        created_at: now,
        updated_at: now,
        completed_at: finished.map(|_| now),
    };
    insert_all(tx.conn(), vec![task::ActiveModel::from(row.clone())], 29).await?;
    let mut tags = new.tags.clone();
    tags.sort();
    tags.dedup();
    let tag_rows: Vec<task_tag::ActiveModel> = tags
        .into_iter()
        .map(|tag| task_tag::ActiveModel {
            task_id: Set(task_id),
            tag: Set(tag),
        })
        .collect();
    insert_all(tx.conn(), tag_rows, 2).await?;
    for (i, (from, to)) in task_history.into_iter().enumerate() {
        tx.record_task(TaskChange {
            task_id,
            namespace: template.namespace.clone(),
            name: template.name.clone(),
            created_at: now,
            correlation_id: row.correlation_id.clone(),
            trace_parent: row.trace_parent.clone(),
            from,
            to,
            sequence: int(i + 1),
            reason: None,
            at: now,
        })?;
    }

    let mut steps = Vec::with_capacity(template.steps.len());
    for (i, step) in template.steps.iter().enumerate() {
        let policy = step.retry.resolve(new.retry_defaults, step.retryable);
        let gate = new.step_gates.get(i).cloned().unwrap_or_default();
        let held = statuses[i] == StepStatus::Enqueued && (queued || gate.is_gated());
        let status = if held { StepStatus::Pending } else { statuses[i] };
        let gate_at = (held && !queued).then_some(ready_at);
        let history: Vec<(Option<StepStatus>, StepStatus)> = if status == StepStatus::Pending {
            vec![(None, StepStatus::Pending)]
        } else {
            vec![(None, StepStatus::Pending), (Some(StepStatus::Pending), status)]
        };
        steps.push(workflow_step::ActiveModel {
            id: Set(step_ids[i]),
            task_id: Set(task_id),
            position: Set(int(i)),
            name: Set(step.name.clone()),
            handler: Set(step.handler.clone()),
            external: Set(step.external),
            status: Set(status.as_str().to_owned()),
            previous_status: Set(history
                .last()
                .and_then(|(from, _)| from.map(|f| f.as_str().to_owned()))),
            transition_seq: Set(int(history.len())),
            attempts: Set(0),
            attempt_limit: Set(int(policy.max_attempts)),
            retry_policy: Set(serde_json::to_value(&policy).map_err(|e| Error::corrupt(e.to_string()))?),
            timeout_ms: Set(step.timeout_ms.map(|t| i64::try_from(t).unwrap_or(i64::MAX))),
            skippable: Set(step.skippable),
            config: Set(step.config.clone()),
            ready_at: Set((status == StepStatus::Enqueued).then_some(ready_at)),
            priority: Set(i32::from(new.priority.get())),
            claim_rank: Set((status == StepStatus::Enqueued).then_some(rank)),
            flow_key: Set(gate.key(&step.handler)),
            flow_limit: Set(gate.group.as_ref().map(|g| int(g.limit))),
            gate_at: Set(gate_at),
            rate_limits: Set(if gate.rates.is_empty() {
                None
            } else {
                Some(serde_json::to_value(&gate.rates).map_err(|e| Error::corrupt(e.to_string()))?)
            }),
            program: Set(if step.program.is_plain() {
                None
            } else {
                Some(serde_json::to_value(&step.program).map_err(|e| Error::corrupt(e.to_string()))?)
            }),
            wake_at: Set(None),
            wait_event: Set(None),
            map_parent: Set(None),
            map_index: Set(None),
            map_item: Set(None),
            lease_owner: Set(None),
            lease_token: Set(None),
            lease_expires_at: Set(None),
            last_error: Set(None),
            started_at: Set(None),
            completed_at: Set((status == StepStatus::Skipped).then_some(now)),
            created_at: Set(now),
            updated_at: Set(now),
        });
        for (seq, (from, to)) in history.into_iter().enumerate() {
            tx.record_step(StepChange {
                step_id: step_ids[i],
                task_id,
                step_name: step.name.clone(),
                handler: step.handler.clone(),
                external: step.external,
                from,
                to,
                attempt: 0,
                started_at: None,
                sequence: int(seq + 1),
                reason: (to == StepStatus::Skipped).then(|| "bypassed at creation".to_owned()),
                failure: None,
                at: now,
            })?;
        }
    }
    insert_all(tx.conn(), steps, super::maps::STEP_COLUMNS).await?;

    let edges: Vec<step_edge::ActiveModel> = (0..dag.len())
        .flat_map(|child| {
            let step_ids = &step_ids;
            dag.parents(child)
                .iter()
                .map(move |&parent| step_edge::ActiveModel {
                    task_id: Set(task_id),
                    from_step_id: Set(step_ids[parent]),
                    to_step_id: Set(step_ids[child]),
                })
        })
        .collect();
    insert_all(tx.conn(), edges, 3).await?;
    Ok(row)
}
