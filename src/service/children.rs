//! Child tasks: a `task` step waits until its child is created here, once per
//! attempt (the idempotency key `child:<step>:<attempt>` makes a second
//! replica's try return the same child). Every replica looks whenever a step
//! begins to wait and once a second, so a child is started after a crash too.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::tasks::CreateTask;
use super::{Result, Tasker};
use crate::domain::kind::{StepProgram, child_context};
use crate::events::EventName;
use crate::store::{self, Lineage};

/// Most children started per pass.
const CHILDREN_PER_PASS: u64 = 100;

impl Tasker {
    /// Create the child tasks that waiting `task` steps need; how many.
    pub async fn start_children(&self) -> Result<usize> {
        let waiting = store::children_to_start(self.store.reader(), CHILDREN_PER_PASS).await?;
        let steps: Vec<_> = waiting.iter().map(|(s, _)| s.clone()).collect();
        let mut inputs = store::dispatch_inputs(self.store.reader(), &steps, &|_| true).await?;
        let mut started = 0;
        for (step, parent) in waiting {
            let program: StepProgram = step
                .program
                .clone()
                .map(serde_json::from_value)
                .transpose()
                .ok()
                .flatten()
                .unwrap_or_default();
            let Some(spec) = program.task else { continue };
            let parents = Value::Object(inputs.parent_results.remove(&step.id).unwrap_or_default());
            let context = match child_context(&spec, &parent.context, &parents) {
                Ok(context) => context,
                Err(message) => {
                    self.refuse_child(&step, message).await?;
                    continue;
                }
            };
            let input = CreateTask {
                namespace: Some(spec.namespace.clone().unwrap_or_else(|| parent.namespace.clone())),
                name: spec.name.clone(),
                version: spec.version.clone(),
                context,
                initiator: Some(format!("task:{}", parent.id)),
                idempotency_key: Some(format!("child:{}:{}", step.id, step.attempts)),
                correlation_id: parent.correlation_id.clone(),
                priority: Some(i64::from(parent.priority)),
                lineage: Some(Lineage {
                    task_id: parent.id,
                    step_id: step.id,
                    attempt: step.attempts,
                    root_task_id: parent.root_task_id.unwrap_or(parent.id),
                }),
                ..CreateTask::default()
            };
            match self.create_task(input).await {
                Ok(_) => started += 1,
                Err(err) if err.is_client_error() => {
                    self.refuse_child(&step, format!("the child task cannot be created: {err}"))
                        .await?;
                }
                Err(err) => {
                    warn!(error = %err, step_id = %step.id, "starting a child task failed; trying again")
                }
            }
        }
        Ok(started)
    }

    /// The child tasks of task `id`, oldest first.
    pub async fn child_tasks(&self, id: uuid::Uuid) -> Result<Vec<super::TaskView>> {
        self.children(id, false).await
    }

    /// The child tasks step `id` started (one per attempt), oldest first.
    pub async fn step_child_tasks(&self, id: uuid::Uuid) -> Result<Vec<super::TaskView>> {
        self.children(id, true).await
    }

    async fn children(&self, id: uuid::Uuid, by_step: bool) -> Result<Vec<super::TaskView>> {
        store::children_of(self.store.reader(), id, by_step)
            .await?
            .into_iter()
            .map(super::TaskView::try_from)
            .collect()
    }

    async fn refuse_child(
        &self,
        step: &crate::entities::workflow_step::Model,
        message: String,
    ) -> Result<()> {
        let now = self.clock.now();
        let message = &message;
        self.write(|mut tx| async move {
            store::refuse_child(&mut tx, step, message.clone(), now).await?;
            Ok(((), tx))
        })
        .await?;
        self.wake_engine();
        Ok(())
    }
}

/// Start child tasks whenever a step begins to wait, and every `every`,
/// until `cancel`.
pub fn spawn_children(
    tasker: Tasker,
    every: Duration,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let mut events = tasker.events().subscribe();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = ticks.tick() => {}
                event = events.recv() => match event {
                    Ok(event) if event.name == EventName::StepWaiting => {}
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                },
            }
            if let Err(err) = tasker.start_children().await {
                warn!(error = %err, "starting child tasks failed; trying again");
            }
        }
    })
}
