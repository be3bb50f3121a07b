//! The event catalog: stable dotted names and what each means.

use crate::domain::attempt::FailureKind;
use crate::domain::{StepStatus, TaskStatus};

/// Payload keys of task state changes.
const TASK_FIELDS: &[&str] = &["namespace", "name", "from", "to", "reason", "correlation_id"];
/// Payload keys of step state changes.
const STEP_FIELDS: &[&str] = &["step_name", "handler", "from", "to", "attempt", "reason"];
/// Payload keys of registry changes.
const REGISTRY_FIELDS: &[&str] = &["registry", "name", "replaced"];

macro_rules! catalog {
    ($($variant:ident => $name:literal ($fields:expr) : $description:literal),+ $(,)?) => {
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

            /// The keys of the event's `payload` object.
            pub const fn payload_fields(self) -> &'static [&'static str] {
                match self { $(EventName::$variant => $fields),+ }
            }
        }
    };
}

catalog! {
    TaskInitializeRequested => "task.initialize_requested" (TASK_FIELDS):
        "A task was created (PENDING).",
    TaskScheduled => "task.scheduled" (TASK_FIELDS):
        "A task was created to start later (runAt or delaySeconds): no step is claimed before then (PENDING -> SCHEDULED).",
    TaskStartRequested => "task.start_requested" (TASK_FIELDS):
        "The first step of a task was claimed (PENDING or SCHEDULED -> IN_PROGRESS).",
    TaskRetryRequested => "task.retry_requested" (TASK_FIELDS):
        "A failed task was reopened by a retry or a manual resolution (ERROR -> IN_PROGRESS).",
    TaskCompleted => "task.completed" (TASK_FIELDS):
        "Every step of the task is satisfied (COMPLETE).",
    TaskFailed => "task.failed" (TASK_FIELDS):
        "No step can make progress and a step failed for good (ERROR).",
    TaskCancelled => "task.cancelled" (TASK_FIELDS):
        "The task was cancelled.",
    TaskResolvedManually => "task.resolved_manually" (TASK_FIELDS):
        "The task finished after an operator resolved at least one step.",
    StepInitializeRequested => "step.initialize_requested" (STEP_FIELDS):
        "A step was created with its task (PENDING).",
    StepEnqueued => "step.enqueued" (STEP_FIELDS):
        "Every parent of the step is satisfied; it can be claimed (ENQUEUED).",
    StepRetryRequested => "step.retry_requested" (STEP_FIELDS):
        "An operator gave a failed step a fresh budget of attempts (ERROR -> ENQUEUED).",
    StepThrottled => "step.throttled" (&["step_name", "handler", "rate_keys", "until"]):
        "A ready step found a rate limit (the step's rate_limit or handlers.<name>.rate_limit) without a place and waits until `until`; no attempt is used (not a state change).",
    StepBeforeHandle => "step.before_handle" (STEP_FIELDS):
        "A step was claimed for an attempt (IN_PROGRESS).",
    StepHandle => "step.handle" (&["namespace", "step_name", "handler", "attempt", "idempotency_key"]):
        "The engine calls the step's handler for this attempt (not a state change).",
    StepWaiting => "step.waiting" (STEP_FIELDS):
        "A sleep or approval step began to wait, holding no handler slot (WAITING).",
    StepCompleted => "step.completed" (STEP_FIELDS):
        "The handler succeeded, a sleep ended or an approval was given (COMPLETE).",
    StepBackoff => "step.backoff" (STEP_FIELDS):
        "An attempt failed; the step waits for its backoff before the next one (WAITING_FOR_RETRY).",
    StepFailed => "step.failed" (STEP_FIELDS):
        "The step failed for good (ERROR).",
    StepLeaseExpired => "step.lease_expired" (STEP_FIELDS):
        "The attempt's lease ran out before it reported (worker or replica lost); the step waits for a new attempt or fails.",
    StepSkipped => "step.skipped" (STEP_FIELDS):
        "The step was bypassed at task creation, or its `when` condition was false (SKIPPED).",
    StepCancelled => "step.cancelled" (STEP_FIELDS):
        "The step was cancelled with its task.",
    StepResolvedManually => "step.resolved_manually" (STEP_FIELDS):
        "An operator resolved the step (RESOLVED_MANUALLY).",
    WorkflowTaskStarted => "workflow.task_started" (&["namespace", "name"]):
        "The engine began running the task (follows task.start_requested).",
    WorkflowViableStepsDiscovered => "workflow.viable_steps_discovered" (&["step_names", "count"]):
        "Steps of the task became ready in one commit (their parents are satisfied).",
    WorkflowNoViableSteps => "workflow.no_viable_steps" (&["settled_steps", "reason"]):
        "Steps of the task settled but no new step became ready: the task waits on running or retrying steps.",
    WorkflowTaskFinalizationStarted => "workflow.task_finalization_started" (&["namespace", "name", "to"]):
        "Every step of the task is settled; its final status is being published.",
    WorkflowTaskFinalizationCompleted => "workflow.task_finalization_completed" (&["namespace", "name", "to", "duration_ms"]):
        "The task's final status is published; duration_ms counts from its creation.",
    HandlerRegistered => "handler.registered" (REGISTRY_FIELDS):
        "A handler was added to (or replaced in) the handler registry.",
    HandlerUnregistered => "handler.unregistered" (REGISTRY_FIELDS):
        "A handler was removed from the handler registry.",
    HandlerValidationFailed => "handler.validation_failed" (&["registry", "name", "error"]):
        "A handler registration was refused; the registry is unchanged.",
    SubscriberRegistered => "subscriber.registered" (REGISTRY_FIELDS):
        "An event subscriber was registered.",
    SubscriberUnregistered => "subscriber.unregistered" (REGISTRY_FIELDS):
        "An event subscriber was removed.",
    SubscriberLagged => "subscriber.lagged" (&["name", "missed", "missed_total"]):
        "A subscriber fell behind its bounded queue and missed events (the engine did not wait).",
    PluginRegistered => "plugin.registered" (REGISTRY_FIELDS):
        "An exporter plugin was registered.",
    PluginUnregistered => "plugin.unregistered" (REGISTRY_FIELDS):
        "An exporter plugin was removed.",
    PluginValidationFailed => "plugin.validation_failed" (&["registry", "name", "error"]):
        "A plugin or subscriber registration was refused; the registry is unchanged.",
    ExportRequested => "export.requested" (&["window", "exporter", "target"]):
        "A scheduled metrics export is due for this window (every replica may ask; one exports).",
    ExportStarted => "export.started" (&["window", "exporter", "target", "instance_id"]):
        "This replica took the window's export lock and is exporting the cluster's metrics.",
    ExportCompleted => "export.completed" (&["window", "exporter", "target", "instance_id", "bytes", "duration_ms"]):
        "The window's metrics were written to the export target.",
    ExportFailed => "export.failed" (&["window", "exporter", "target", "instance_id", "error", "attempt", "retry_in_ms"]):
        "An export failed; the lock is released and the window is retried after a backoff.",
    ObservabilitySlowStep => "observability.slow_step" (&["namespace", "step_name", "handler", "attempt", "duration_ms", "threshold_ms"]):
        "A step attempt took longer than performance.slow_step_ms.",
    ObservabilitySlowQuery => "observability.slow_query" (&["statement", "duration_ms", "threshold_ms"]):
        "A SQL statement took longer than performance.slow_query_ms.",
    ObservabilityMemorySpike => "observability.memory_spike" (&["rss_bytes", "previous_rss_bytes", "growth_bytes", "threshold_bytes"]):
        "Resident memory grew by more than performance.memory_spike_bytes between two samples.",
}

impl EventName {
    /// The event a task transition publishes.
    pub fn for_task(from: Option<TaskStatus>, to: TaskStatus) -> Self {
        match (from, to) {
            (None, _) | (_, TaskStatus::Pending) => EventName::TaskInitializeRequested,
            (_, TaskStatus::Scheduled) => EventName::TaskScheduled,
            (Some(TaskStatus::Error), TaskStatus::InProgress) => EventName::TaskRetryRequested,
            (_, TaskStatus::InProgress) => EventName::TaskStartRequested,
            (_, TaskStatus::Complete) => EventName::TaskCompleted,
            (_, TaskStatus::Error) => EventName::TaskFailed,
            (_, TaskStatus::Cancelled) => EventName::TaskCancelled,
            (_, TaskStatus::ResolvedManually) => EventName::TaskResolvedManually,
        }
    }

    /// The event a step transition publishes; `failure` is the kind of the
    /// failed attempt behind it, if any.
    pub fn for_step(from: Option<StepStatus>, to: StepStatus, failure: Option<FailureKind>) -> Self {
        match (from, to) {
            (None, _) | (_, StepStatus::Pending) => EventName::StepInitializeRequested,
            (Some(StepStatus::Error), StepStatus::Enqueued) => EventName::StepRetryRequested,
            (_, StepStatus::Enqueued) => EventName::StepEnqueued,
            (_, StepStatus::InProgress) => EventName::StepBeforeHandle,
            (_, StepStatus::Waiting) => EventName::StepWaiting,
            (_, StepStatus::Complete) => EventName::StepCompleted,
            (_, StepStatus::WaitingForRetry | StepStatus::Error)
                if failure == Some(FailureKind::LeaseExpired) =>
            {
                EventName::StepLeaseExpired
            }
            (_, StepStatus::WaitingForRetry) => EventName::StepBackoff,
            (_, StepStatus::Error) => EventName::StepFailed,
            (_, StepStatus::Skipped) => EventName::StepSkipped,
            (_, StepStatus::Cancelled) => EventName::StepCancelled,
            (_, StepStatus::ResolvedManually) => EventName::StepResolvedManually,
        }
    }

    /// The name spelled `name`, if the catalog has it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.as_str() == name)
    }

    /// True for events that record a state change (one per audit row).
    pub fn is_state_change(self) -> bool {
        let fields = self.payload_fields();
        // Compared by content: constants have no guaranteed single address.
        fields == TASK_FIELDS || fields == STEP_FIELDS
    }
}

/// Whether `name` matches `pattern`: an exact catalog name, a prefix ending in
/// `*` (`step.*`), or `*` for everything.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Whether `name` is selected by `patterns`; no patterns select everything.
pub fn selected<S: AsRef<str>>(patterns: &[S], name: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| name_matches(p.as_ref(), name))
}

/// The first of `patterns` that matches no event of the catalog, if any.
pub fn first_unknown<S: AsRef<str>>(patterns: &[S]) -> Option<&S> {
    patterns.iter().find(|p| {
        !EventName::ALL
            .iter()
            .any(|e| name_matches(p.as_ref(), e.as_str()))
    })
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
            let name = EventName::for_step(*from, *to, None).as_str();
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
            EventName::for_step(Some(StepStatus::InProgress), StepStatus::Complete, None),
            EventName::StepCompleted
        );
        for to in [StepStatus::WaitingForRetry, StepStatus::Error] {
            let lost = EventName::for_step(Some(StepStatus::InProgress), to, Some(FailureKind::LeaseExpired));
            assert_eq!(lost, EventName::StepLeaseExpired);
        }
        assert!(EventName::TaskCompleted.is_state_change() && EventName::StepSkipped.is_state_change());
        assert!(
            !EventName::StepHandle.is_state_change() && !EventName::WorkflowTaskStarted.is_state_change()
        );
    }

    #[test]
    fn patterns_match_names_and_prefixes() {
        assert!(name_matches("step.*", "step.completed"));
        assert!(name_matches("*", "task.failed"));
        assert!(name_matches("task.failed", "task.failed"));
        assert!(!name_matches("task.*", "step.failed"));
        assert_eq!(EventName::parse("step.handle"), Some(EventName::StepHandle));
        assert_eq!(EventName::parse("step.nope"), None);
        assert!(selected::<&str>(&[], "task.failed"));
        assert!(!selected(&["step.*"], "task.failed"));
        assert_eq!(
            first_unknown(&["step.*", "stepp.*", "task.failed"]),
            Some(&"stepp.*")
        );
        assert_eq!(first_unknown(&["*"]), None);
    }
}
