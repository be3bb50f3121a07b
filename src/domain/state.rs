//! Task and step state machines. The allowed transitions are data (two tables),
//! so that the store, the audit replay and the tests all read the same rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::TransitionError;

/// Lifecycle of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Created; no step has started yet.
    Pending,
    /// Created with a later start (`runAt`): no step is claimed before then.
    Scheduled,
    /// At least one step has started and the task is not finished.
    InProgress,
    /// Every step completed (or was skipped).
    Complete,
    /// No step can make progress and at least one step failed for good.
    Error,
    /// Cancelled by a user; no new step starts.
    Cancelled,
    /// Finished with every step satisfied, at least one by manual resolution.
    ResolvedManually,
}

/// Lifecycle of a workflow step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepStatus {
    /// Waiting for its parents.
    Pending,
    /// Every parent is satisfied: claimable by the engine or an external worker.
    Enqueued,
    /// Claimed under a lease; a handler is running it.
    InProgress,
    /// The last attempt failed; claimable again once its backoff has elapsed.
    WaitingForRetry,
    /// Running without a handler: a sleep until its time, or an approval
    /// until a decision (no lease, no handler slot).
    Waiting,
    /// The handler succeeded.
    Complete,
    /// Bypassed at task creation.
    Skipped,
    /// Failed for good (permanent error or attempts exhausted).
    Error,
    /// Cancelled with its task.
    Cancelled,
    /// Resolved by an operator; counts as satisfied for its dependents.
    ResolvedManually,
}

macro_rules! status_strings {
    ($ty:ident { $($variant:ident => $text:literal / $label:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stored and public (GraphQL enum) spelling, e.g. `IN_PROGRESS`.
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            /// The lower-case spelling metric labels use, e.g. `in_progress`.
            pub const fn label(self) -> &'static str {
                match self { $($ty::$variant => $label),+ }
            }
        }

        impl FromStr for $ty {
            type Err = TransitionError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(TransitionError::UnknownStatus {
                        entity: stringify!($ty),
                        value: other.to_owned(),
                    }),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_strings!(TaskStatus {
    Pending => "PENDING" / "pending",
    Scheduled => "SCHEDULED" / "scheduled",
    InProgress => "IN_PROGRESS" / "in_progress",
    Complete => "COMPLETE" / "complete",
    Error => "ERROR" / "error",
    Cancelled => "CANCELLED" / "cancelled",
    ResolvedManually => "RESOLVED_MANUALLY" / "resolved_manually",
});

status_strings!(StepStatus {
    Pending => "PENDING" / "pending",
    Enqueued => "ENQUEUED" / "enqueued",
    InProgress => "IN_PROGRESS" / "in_progress",
    WaitingForRetry => "WAITING_FOR_RETRY" / "waiting_for_retry",
    Waiting => "WAITING" / "waiting",
    Complete => "COMPLETE" / "complete",
    Skipped => "SKIPPED" / "skipped",
    Error => "ERROR" / "error",
    Cancelled => "CANCELLED" / "cancelled",
    ResolvedManually => "RESOLVED_MANUALLY" / "resolved_manually",
});

use StepStatus as S;
use TaskStatus as T;

/// Every allowed task transition; `None` is "not yet created".
pub const TASK_TRANSITIONS: &[(Option<TaskStatus>, TaskStatus)] = &[
    (None, T::Pending),
    (Some(T::Pending), T::InProgress),
    (Some(T::Pending), T::Cancelled),
    // every step bypassed or resolved before anything ran
    (Some(T::Pending), T::Complete),
    (Some(T::Pending), T::ResolvedManually),
    // a later start: set at creation, left by the first claim or a cancel
    (Some(T::Pending), T::Scheduled),
    (Some(T::Scheduled), T::InProgress),
    (Some(T::Scheduled), T::Cancelled),
    (Some(T::Scheduled), T::ResolvedManually),
    (Some(T::InProgress), T::Complete),
    (Some(T::InProgress), T::Error),
    (Some(T::InProgress), T::Cancelled),
    (Some(T::InProgress), T::ResolvedManually),
    // retryTask / retryStep / resolveStepManually reopen a failed task
    (Some(T::Error), T::InProgress),
    (Some(T::Error), T::ResolvedManually),
    (Some(T::Error), T::Cancelled),
];

/// Every allowed step transition; `None` is "not yet created".
pub const STEP_TRANSITIONS: &[(Option<StepStatus>, StepStatus)] = &[
    (None, S::Pending),
    (Some(S::Pending), S::Enqueued),
    (Some(S::Pending), S::Skipped),
    (Some(S::Pending), S::Cancelled),
    (Some(S::Pending), S::ResolvedManually),
    (Some(S::Enqueued), S::InProgress),
    (Some(S::Enqueued), S::Cancelled),
    (Some(S::Enqueued), S::ResolvedManually),
    (Some(S::InProgress), S::Complete),
    (Some(S::InProgress), S::WaitingForRetry),
    (Some(S::InProgress), S::Error),
    (Some(S::InProgress), S::Cancelled),
    (Some(S::InProgress), S::ResolvedManually),
    (Some(S::WaitingForRetry), S::InProgress),
    (Some(S::WaitingForRetry), S::Cancelled),
    (Some(S::WaitingForRetry), S::ResolvedManually),
    // the engine's own kinds: a sleep or an approval waits without a lease;
    // a false `when` condition skips the claimed step
    (Some(S::InProgress), S::Waiting),
    (Some(S::InProgress), S::Skipped),
    (Some(S::Waiting), S::Complete),
    (Some(S::Waiting), S::WaitingForRetry),
    (Some(S::Waiting), S::Error),
    (Some(S::Waiting), S::Cancelled),
    (Some(S::Waiting), S::ResolvedManually),
    // retryStep / retryTask: a fresh budget of attempts
    (Some(S::Error), S::Enqueued),
    (Some(S::Error), S::ResolvedManually),
];

impl TaskStatus {
    /// True when the task can never change again.
    pub const fn is_terminal(self) -> bool {
        matches!(self, T::Complete | T::Cancelled | T::ResolvedManually)
    }

    /// True when the task has stopped moving on its own (terminal or failed).
    pub const fn is_finished(self) -> bool {
        self.is_terminal() || matches!(self, T::Error)
    }

    /// Whether `from → to` is in [`TASK_TRANSITIONS`].
    pub fn can_transition(from: Option<TaskStatus>, to: TaskStatus) -> bool {
        TASK_TRANSITIONS.contains(&(from, to))
    }

    /// [`Self::can_transition`] as a typed error naming both ends.
    pub fn check_transition(from: Option<TaskStatus>, to: TaskStatus) -> Result<(), TransitionError> {
        if Self::can_transition(from, to) {
            Ok(())
        } else {
            Err(TransitionError::Illegal {
                entity: "task",
                from: from.map(TaskStatus::as_str),
                to: to.as_str(),
            })
        }
    }
}

impl StepStatus {
    /// Statuses that satisfy a dependency edge.
    pub const SATISFIED: &'static [StepStatus] = &[S::Complete, S::Skipped, S::ResolvedManually];

    /// Statuses in which a step can still make progress on its own.
    pub const ACTIVE: &'static [StepStatus] = &[S::Enqueued, S::InProgress, S::WaitingForRetry, S::Waiting];

    /// Statuses from which a step is claimable (given its `ready_at` has passed).
    pub const CLAIMABLE: &'static [StepStatus] = &[S::Enqueued, S::WaitingForRetry];

    /// Statuses a task cancellation moves to CANCELLED.
    pub const CANCELLABLE: &'static [StepStatus] = &[
        S::Pending,
        S::Enqueued,
        S::InProgress,
        S::WaitingForRetry,
        S::Waiting,
    ];

    /// Statuses an operator may resolve manually.
    pub const RESOLVABLE: &'static [StepStatus] = &[
        S::Pending,
        S::Enqueued,
        S::InProgress,
        S::WaitingForRetry,
        S::Waiting,
        S::Error,
    ];

    /// True when dependents may run after this step.
    pub fn satisfies_dependents(self) -> bool {
        Self::SATISFIED.contains(&self)
    }

    /// True when the step can still make progress without an operator.
    pub fn is_active(self) -> bool {
        Self::ACTIVE.contains(&self)
    }

    /// True when the step can never change again.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            S::Complete | S::Skipped | S::Cancelled | S::ResolvedManually
        )
    }

    /// Whether `from → to` is in [`STEP_TRANSITIONS`].
    pub fn can_transition(from: Option<StepStatus>, to: StepStatus) -> bool {
        STEP_TRANSITIONS.contains(&(from, to))
    }

    /// [`Self::can_transition`] as a typed error naming both ends.
    pub fn check_transition(from: Option<StepStatus>, to: StepStatus) -> Result<(), TransitionError> {
        if Self::can_transition(from, to) {
            Ok(())
        } else {
            Err(TransitionError::Illegal {
                entity: "step",
                from: from.map(StepStatus::as_str),
                to: to.as_str(),
            })
        }
    }
}

/// Checks that a recorded history (oldest first) is a walk through a state machine
/// that starts from "not created". Used to audit stored transitions.
pub fn replay<S: Copy + fmt::Display>(
    history: &[(Option<S>, S)],
    allowed: impl Fn(Option<S>, S) -> bool,
) -> Result<Option<S>, String> {
    let mut current: Option<S> = None;
    for (index, (from, to)) in history.iter().enumerate() {
        let from_text = from.map_or("null".to_owned(), |s| s.to_string());
        let current_text = current.map_or("null".to_owned(), |s| s.to_string());
        if from_text != current_text {
            return Err(format!(
                "transition #{index} starts from {from_text} but the previous one ended in {current_text}"
            ));
        }
        if !allowed(*from, *to) {
            return Err(format!("transition #{index} {from_text} -> {to} is not allowed"));
        }
        current = Some(*to);
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_text() {
        for s in StepStatus::ALL {
            assert_eq!(s.as_str().parse::<StepStatus>().ok(), Some(*s));
        }
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>().ok(), Some(*s));
        }
        assert!("DONE".parse::<StepStatus>().is_err());
    }

    #[test]
    fn every_step_pair_outside_the_table_is_refused() {
        let froms = std::iter::once(None).chain(StepStatus::ALL.iter().copied().map(Some));
        let mut allowed = 0;
        for from in froms {
            for to in StepStatus::ALL.iter().copied() {
                let listed = STEP_TRANSITIONS.contains(&(from, to));
                assert_eq!(
                    StepStatus::check_transition(from, to).is_ok(),
                    listed,
                    "{from:?} -> {to:?}"
                );
                allowed += usize::from(listed);
            }
        }
        assert_eq!(allowed, STEP_TRANSITIONS.len());
    }

    #[test]
    fn every_task_pair_outside_the_table_is_refused() {
        let froms = std::iter::once(None).chain(TaskStatus::ALL.iter().copied().map(Some));
        for from in froms {
            for to in TaskStatus::ALL.iter().copied() {
                let listed = TASK_TRANSITIONS.contains(&(from, to));
                assert_eq!(
                    TaskStatus::check_transition(from, to).is_ok(),
                    listed,
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for (from, _) in STEP_TRANSITIONS {
            assert!(!from.is_some_and(StepStatus::is_terminal), "{from:?}");
        }
        for (from, _) in TASK_TRANSITIONS {
            assert!(!from.is_some_and(TaskStatus::is_terminal), "{from:?}");
        }
    }

    #[test]
    fn nothing_is_created_in_any_state_but_pending() {
        for (from, to) in STEP_TRANSITIONS {
            if from.is_none() {
                assert_eq!(*to, StepStatus::Pending);
            }
        }
        for (from, to) in TASK_TRANSITIONS {
            if from.is_none() {
                assert_eq!(*to, TaskStatus::Pending);
            }
        }
    }

    #[test]
    fn illegal_transition_error_names_both_ends() {
        let err = StepStatus::check_transition(Some(StepStatus::Complete), StepStatus::InProgress)
            .expect_err("complete is terminal");
        let text = err.to_string();
        assert!(
            text.contains("COMPLETE") && text.contains("IN_PROGRESS"),
            "{text}"
        );
    }

    #[test]
    fn replay_accepts_a_happy_path_and_rejects_gaps() {
        let happy = [
            (None, S::Pending),
            (Some(S::Pending), S::Enqueued),
            (Some(S::Enqueued), S::InProgress),
            (Some(S::InProgress), S::WaitingForRetry),
            (Some(S::WaitingForRetry), S::InProgress),
            (Some(S::InProgress), S::Complete),
        ];
        assert_eq!(replay(&happy, StepStatus::can_transition), Ok(Some(S::Complete)));
        let gap = [(None, S::Pending), (Some(S::Enqueued), S::InProgress)];
        assert!(replay(&gap, StepStatus::can_transition).is_err());
        let illegal = [(None, S::Pending), (Some(S::Pending), S::Complete)];
        assert!(replay(&illegal, StepStatus::can_transition).is_err());
    }
}
