//! The event catalog: stable dotted names and what each means.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::change::{Change, StepChange, TaskChange};
use crate::domain::{StepStatus, TaskStatus};

macro_rules! catalog {
    ($($variant:ident => $name:literal : $description:literal),+ $(,)?) => {
        /// Every event Tasker publishes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventName {
            $(#[doc = $description] $variant),+
        }

        impl EventName {
            /// Every name, in catalog order.
            pub const ALL: &'static [EventName] = &[$(EventName::$variant),+];

            /// The stable dotted name, e.g. `step.completed`.
            pub const fn as_str(self) -> &'static str {
                match self { $(EventName::$variant => $name),+ }
            }

            /// What the event means.
            pub const fn description(self) -> &'static str {
                match self { $(EventName::$variant => $description),+ }
            }
        }
    };
}

catalog! {
    TaskInitializeRequested => "task.initialize_requested": "A task was created (PENDING).",
    TaskStarted => "workflow.task_started": "The first step of a task was claimed (IN_PROGRESS).",
    TaskRetryRequested => "task.retry_requested": "A failed task was reopened by a retry or a manual resolution.",
    TaskCompleted => "task.completed": "Every step of the task is satisfied (COMPLETE).",
    TaskFailed => "task.failed": "No step can make progress and a step failed for good (ERROR).",
    TaskCancelled => "task.cancelled": "The task was cancelled.",
    TaskResolvedManually => "task.resolved_manually": "The task finished after an operator resolved at least one step.",
    StepInitializeRequested => "step.initialize_requested": "A step was created with its task (PENDING).",
    StepEnqueued => "step.enqueued": "Every parent of the step is satisfied; it can be claimed (ENQUEUED).",
    StepRetryRequested => "step.retry_requested": "An operator gave a failed step a fresh budget of attempts.",
    StepBeforeHandle => "step.before_handle": "A step was claimed for an attempt and its handler starts (IN_PROGRESS).",
    StepCompleted => "step.completed": "The handler succeeded (COMPLETE).",
    StepBackoff => "step.backoff": "An attempt failed; the step waits for its backoff before the next one (WAITING_FOR_RETRY).",
    StepFailed => "step.failed": "The step failed for good (ERROR).",
    StepSkipped => "step.skipped": "The step was bypassed at task creation (SKIPPED).",
    StepCancelled => "step.cancelled": "The step was cancelled with its task.",
    StepResolvedManually => "step.resolved_manually": "An operator resolved the step (RESOLVED_MANUALLY).",
}

impl EventName {
    /// The event a task transition publishes.
    pub fn for_task(from: Option<TaskStatus>, to: TaskStatus) -> Self {
        match (from, to) {
            (None, _) | (_, TaskStatus::Pending) => EventName::TaskInitializeRequested,
            (Some(TaskStatus::Error), TaskStatus::InProgress) => EventName::TaskRetryRequested,
            (_, TaskStatus::InProgress) => EventName::TaskStarted,
            (_, TaskStatus::Complete) => EventName::TaskCompleted,
            (_, TaskStatus::Error) => EventName::TaskFailed,
            (_, TaskStatus::Cancelled) => EventName::TaskCancelled,
            (_, TaskStatus::ResolvedManually) => EventName::TaskResolvedManually,
        }
    }

    /// The event a step transition publishes.
    pub fn for_step(from: Option<StepStatus>, to: StepStatus) -> Self {
        match (from, to) {
            (None, _) | (_, StepStatus::Pending) => EventName::StepInitializeRequested,
            (Some(StepStatus::Error), StepStatus::Enqueued) => EventName::StepRetryRequested,
            (_, StepStatus::Enqueued) => EventName::StepEnqueued,
            (_, StepStatus::InProgress) => EventName::StepBeforeHandle,
            (_, StepStatus::Complete) => EventName::StepCompleted,
            (_, StepStatus::WaitingForRetry) => EventName::StepBackoff,
            (_, StepStatus::Error) => EventName::StepFailed,
            (_, StepStatus::Skipped) => EventName::StepSkipped,
            (_, StepStatus::Cancelled) => EventName::StepCancelled,
            (_, StepStatus::ResolvedManually) => EventName::StepResolvedManually,
        }
    }
}

/// A published event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Catalog name.
    pub name: EventName,
    /// When the change was committed.
    pub at: DateTime<Utc>,
    /// The task concerned.
    pub task_id: Uuid,
    /// The transition behind the event.
    pub change: Change,
}

impl Event {
    /// The step concerned, for step events.
    pub fn step_id(&self) -> Option<Uuid> {
        match &self.change {
            Change::Step(s) => Some(s.step_id),
            Change::Task(_) => None,
        }
    }

    /// The event's data as JSON (statuses, attempt, reason).
    pub fn payload(&self) -> Value {
        match &self.change {
            Change::Task(TaskChange { from, to, reason, .. }) => json!({
                "from": from.map(|s| s.as_str()), "to": to.as_str(), "reason": reason,
            }),
            Change::Step(StepChange {
                step_name,
                from,
                to,
                attempt,
                reason,
                ..
            }) => json!({
                "step_name": step_name, "from": from.map(|s| s.as_str()), "to": to.as_str(),
                "attempt": attempt, "reason": reason,
            }),
        }
    }
}

impl From<Change> for Event {
    fn from(change: Change) -> Self {
        let (name, at, task_id) = match &change {
            Change::Task(t) => (EventName::for_task(t.from, t.to), t.at, t.task_id),
            Change::Step(s) => (EventName::for_step(s.from, s.to), s.at, s.task_id),
        };
        Event {
            name,
            at,
            task_id,
            change,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::state::{STEP_TRANSITIONS, TASK_TRANSITIONS};

    #[test]
    fn names_are_unique_dotted_and_described() {
        let mut names: Vec<&str> = EventName::ALL.iter().map(|e| e.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventName::ALL.len());
        for e in EventName::ALL {
            assert!(e.as_str().contains('.') && !e.description().is_empty(), "{e:?}");
        }
    }

    #[test]
    fn every_allowed_transition_maps_to_an_event_that_matches_its_target() {
        for (from, to) in STEP_TRANSITIONS {
            let name = EventName::for_step(*from, *to).as_str();
            assert!(name.starts_with("step."), "{from:?} -> {to:?}: {name}");
        }
        for (from, to) in TASK_TRANSITIONS {
            let name = EventName::for_task(*from, *to).as_str();
            assert!(
                name.starts_with("task.") || name.starts_with("workflow."),
                "{name}"
            );
        }
        assert_eq!(
            EventName::for_step(Some(StepStatus::InProgress), StepStatus::Complete),
            EventName::StepCompleted
        );
    }
}
