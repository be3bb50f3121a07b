//! Enums of the public schema, mirrored from the domain.

use async_graphql::Enum;

/// Lifecycle of a task.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "TaskStatus", remote = "crate::domain::TaskStatus")]
pub enum TaskStatusKind {
    /// Created; no step has started yet.
    Pending,
    /// Created to start later (`runAt`): no step is claimed before then.
    Scheduled,
    /// At least one step has started and the task is not finished.
    InProgress,
    /// Every step completed (or was skipped).
    Complete,
    /// No step can make progress and at least one failed for good (retryable by an operator).
    Error,
    /// Cancelled; no new step starts.
    Cancelled,
    /// Finished with every step satisfied, at least one by manual resolution.
    ResolvedManually,
}

/// Lifecycle of a step.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "StepStatus", remote = "crate::domain::StepStatus")]
pub enum StepStatusKind {
    /// Waiting for its parents.
    Pending,
    /// Every parent is satisfied; claimable.
    Enqueued,
    /// Claimed under a lease; a handler runs it.
    InProgress,
    /// The last attempt failed; claimable again once its backoff elapsed.
    WaitingForRetry,
    /// A sleep or an approval waits (no lease, no handler slot); see waitingFor.
    Waiting,
    /// The handler succeeded, the sleep ended or the approval was given.
    Complete,
    /// Bypassed at task creation, or its `when` condition was false.
    Skipped,
    /// Failed for good.
    Error,
    /// Cancelled with its task.
    Cancelled,
    /// Resolved by an operator; satisfies its dependents.
    ResolvedManually,
}

/// Where a task stands, derived from its steps.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(
    name = "ExecutionStatus",
    remote = "crate::domain::readiness::ExecutionStatus"
)]
pub enum ExecutionStatusKind {
    /// Some step can be claimed now.
    HasReadySteps,
    /// Steps are running and none waits to be claimed.
    Processing,
    /// Steps wait for parents or a retry backoff.
    WaitingForDependencies,
    /// Nothing can move: a failure blocks the remaining steps.
    BlockedByFailures,
    /// Every step is satisfied.
    AllComplete,
}

/// Where a step handler comes from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "StepHandlerKind")]
pub enum HandlerKindGql {
    /// Shipped with Tasker.
    Builtin,
    /// Registered by the embedding Rust program.
    Rust,
    /// Run by external workers through claimSteps.
    External,
}

/// What holds back a step whose parents are satisfied.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "WaitingFor", remote = "crate::domain::waiting::WaitingFor")]
pub enum WaitingForKind {
    /// Its task starts later (`runAt`).
    Schedule,
    /// A free slot of its concurrency group.
    Concurrency,
    /// A place in the window of one of its rate limits (the step's own or its
    /// handler's); no attempt is used while it waits.
    RateLimit,
    /// A durable sleep: it completes at nextAttemptAt.
    Sleep,
    /// A decision (approveStep / rejectStep); nextAttemptAt is its timeout, if any.
    Approval,
    /// An event (sendEvent or POST /events/{name}); nextAttemptAt is its timeout, if any.
    Event,
    /// Its child task to finish (Task.children).
    ChildTask,
    /// Its map instances to finish.
    MapItems,
}

/// What a step does.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "StepKind", remote = "crate::domain::kind::StepKind")]
pub enum StepKindGql {
    /// Calls its handler.
    Handler,
    /// Sleeps until a time, run by the engine.
    Sleep,
    /// Waits for approveStep or rejectStep, run by the engine.
    Approval,
    /// Waits for an event (sendEvent or POST /events/{name}), run by the engine.
    WaitFor,
    /// Runs a child task and completes with its results.
    Task,
    /// Runs its handler once per item of a list (instances carry mapIndex).
    Map,
}
