//! When steps may run and when a task is finished.
//!
//! A step is ready when every parent is COMPLETE, SKIPPED or RESOLVED_MANUALLY,
//! it is ENQUEUED (parents satisfied) or WAITING_FOR_RETRY with its backoff
//! elapsed, and attempts remain (a step only waits for a retry when they do).
//! A task is finished when none of its steps can make progress on its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dag::Dag;
use super::state::{StepStatus, TaskStatus};

/// Status of every step of a new task: bypassed steps are SKIPPED, steps whose
/// parents are all satisfied are ENQUEUED, the rest PENDING.
pub fn initial_statuses(dag: &Dag, bypassed: &[bool]) -> Vec<StepStatus> {
    (0..dag.len())
        .map(|i| {
            if bypassed.get(i).copied().unwrap_or(false) {
                StepStatus::Skipped
            } else if dag
                .parents(i)
                .iter()
                .all(|&p| bypassed.get(p).copied().unwrap_or(false))
            {
                StepStatus::Enqueued
            } else {
                StepStatus::Pending
            }
        })
        .collect()
}

/// Whether a step in `status` whose `ready_at` is as given may be claimed at `now`.
pub fn is_claimable(status: StepStatus, ready_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    StepStatus::CLAIMABLE.contains(&status) && ready_at.is_some_and(|at| at <= now)
}

/// How many steps of a task are in each status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepCounts {
    counts: [u32; StepStatus::ALL.len()],
    /// Of the PENDING steps, those whose parents are satisfied and that wait
    /// at their concurrency group's gate: they will still run.
    held: u32,
}

impl StepCounts {
    fn slot(status: StepStatus) -> usize {
        StepStatus::ALL.iter().position(|s| *s == status).unwrap_or(0)
    }

    /// Count `n` more steps in `status`.
    pub fn add(&mut self, status: StepStatus, n: u32) {
        self.counts[Self::slot(status)] += n;
    }

    /// Steps in `status`.
    pub fn get(&self, status: StepStatus) -> u32 {
        self.counts[Self::slot(status)]
    }

    /// Count `n` PENDING steps as waiting at a gate (they must also be
    /// counted in PENDING).
    pub fn add_held(&mut self, n: u32) {
        self.held += n;
    }

    /// All steps.
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }

    /// Steps that can still make progress on their own (a step at its
    /// concurrency gate among them).
    pub fn active(&self) -> u32 {
        StepStatus::ACTIVE.iter().map(|s| self.get(*s)).sum::<u32>() + self.held
    }

    /// Steps that satisfy their dependents.
    pub fn satisfied(&self) -> u32 {
        StepStatus::SATISFIED.iter().map(|s| self.get(*s)).sum()
    }
}

impl FromIterator<StepStatus> for StepCounts {
    fn from_iter<I: IntoIterator<Item = StepStatus>>(iter: I) -> Self {
        let mut counts = StepCounts::default();
        for s in iter {
            counts.add(s, 1);
        }
        counts
    }
}

/// The status a task should move to given its steps, or `None` to stay.
///
/// Finished with every step satisfied → COMPLETE, or RESOLVED_MANUALLY when an
/// operator resolved at least one step; finished otherwise → ERROR. A failed
/// task that has active steps again (retry, resolution) is back IN_PROGRESS.
pub fn reconcile_task(current: TaskStatus, steps: &StepCounts) -> Option<TaskStatus> {
    if current.is_terminal() {
        return None;
    }
    let target = if steps.active() > 0 {
        let started = steps.total()
            - steps.get(StepStatus::Pending)
            - steps.get(StepStatus::Enqueued)
            - steps.get(StepStatus::Skipped);
        match current {
            TaskStatus::Error => TaskStatus::InProgress,
            TaskStatus::Pending | TaskStatus::Scheduled if started > 0 => TaskStatus::InProgress,
            other => other,
        }
    } else if steps.satisfied() == steps.total() {
        if steps.get(StepStatus::ResolvedManually) > 0 {
            TaskStatus::ResolvedManually
        } else {
            TaskStatus::Complete
        }
    } else {
        TaskStatus::Error
    };
    (target != current).then_some(target)
}

/// Where a task stands, derived from its steps (for people and dashboards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Some step can be claimed now.
    HasReadySteps,
    /// Some step is running and none is waiting to be claimed.
    Processing,
    /// Steps wait for parents or for a retry backoff to elapse.
    WaitingForDependencies,
    /// Nothing can move: a failure blocks the remaining steps.
    BlockedByFailures,
    /// Every step is satisfied.
    AllComplete,
}

/// Derive the execution status; `claimable_now` counts steps claimable at this moment.
pub fn execution_status(steps: &StepCounts, claimable_now: u32) -> ExecutionStatus {
    if steps.satisfied() == steps.total() {
        ExecutionStatus::AllComplete
    } else if claimable_now > 0 {
        ExecutionStatus::HasReadySteps
    } else if steps.get(StepStatus::InProgress) > 0 {
        ExecutionStatus::Processing
    } else if steps.active() == 0 {
        ExecutionStatus::BlockedByFailures
    } else {
        ExecutionStatus::WaitingForDependencies
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StepStatus as S;

    fn diamond() -> Dag {
        Dag::new(
            vec!["a".into(), "b".into(), "c".into(), "d".into()],
            [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
        )
        .0
    }

    #[test]
    fn roots_start_enqueued_and_bypassed_parents_count_as_satisfied() {
        let d = diamond();
        assert_eq!(
            initial_statuses(&d, &[false; 4]),
            vec![S::Enqueued, S::Pending, S::Pending, S::Pending]
        );
        assert_eq!(
            initial_statuses(&d, &[true, false, true, false]),
            vec![S::Skipped, S::Enqueued, S::Skipped, S::Pending]
        );
    }

    #[test]
    fn claimable_needs_the_right_status_and_an_elapsed_ready_at() {
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(5);
        assert!(is_claimable(S::Enqueued, Some(now), now));
        assert!(!is_claimable(S::WaitingForRetry, Some(later), now));
        assert!(!is_claimable(S::Pending, Some(now), now));
        assert!(!is_claimable(S::Enqueued, None, now));
    }

    #[test]
    fn reconcile_finishes_tasks_by_the_rules() {
        let counts = |s: &[S]| s.iter().copied().collect::<StepCounts>();
        use TaskStatus as T;
        assert_eq!(
            reconcile_task(T::InProgress, &counts(&[S::Complete, S::Skipped])),
            Some(T::Complete)
        );
        assert_eq!(
            reconcile_task(T::InProgress, &counts(&[S::Complete, S::InProgress])),
            None
        );
        assert_eq!(
            reconcile_task(T::InProgress, &counts(&[S::Complete, S::Error, S::Pending])),
            Some(T::Error)
        );
        assert_eq!(
            reconcile_task(T::InProgress, &counts(&[S::Complete, S::ResolvedManually])),
            Some(T::ResolvedManually)
        );
        assert_eq!(
            reconcile_task(T::Error, &counts(&[S::Complete, S::Enqueued])),
            Some(T::InProgress)
        );
        assert_eq!(
            reconcile_task(T::Pending, &counts(&[S::Enqueued, S::Pending])),
            None
        );
        assert_eq!(
            reconcile_task(T::Pending, &counts(&[S::Skipped])),
            Some(T::Complete)
        );
        assert_eq!(reconcile_task(T::Cancelled, &counts(&[S::Enqueued])), None);
        assert_eq!(reconcile_task(T::Error, &counts(&[S::Error])), None);
    }

    #[test]
    fn a_step_waiting_at_its_gate_keeps_its_task_open() {
        use TaskStatus as T;
        let mut counts: StepCounts = [S::Complete, S::Pending].into_iter().collect();
        assert_eq!(reconcile_task(T::InProgress, &counts), Some(T::Error));
        counts.add_held(1);
        assert_eq!(reconcile_task(T::InProgress, &counts), None);
    }

    #[test]
    fn a_scheduled_task_waits_until_a_step_starts_and_may_be_resolved_before() {
        let counts = |s: &[S]| s.iter().copied().collect::<StepCounts>();
        use TaskStatus as T;
        assert_eq!(
            reconcile_task(T::Scheduled, &counts(&[S::Enqueued, S::Pending])),
            None
        );
        assert_eq!(
            reconcile_task(T::Scheduled, &counts(&[S::InProgress, S::Pending])),
            Some(T::InProgress)
        );
        assert_eq!(
            reconcile_task(T::Scheduled, &counts(&[S::ResolvedManually])),
            Some(T::ResolvedManually)
        );
    }

    #[test]
    fn execution_status_reflects_the_steps() {
        let counts = |s: &[S]| s.iter().copied().collect::<StepCounts>();
        use ExecutionStatus as E;
        assert_eq!(execution_status(&counts(&[S::Complete]), 0), E::AllComplete);
        assert_eq!(
            execution_status(&counts(&[S::Enqueued, S::Pending]), 1),
            E::HasReadySteps
        );
        assert_eq!(
            execution_status(&counts(&[S::InProgress, S::Pending]), 0),
            E::Processing
        );
        assert_eq!(
            execution_status(&counts(&[S::Error, S::Pending]), 0),
            E::BlockedByFailures
        );
        assert_eq!(
            execution_status(&counts(&[S::WaitingForRetry]), 0),
            E::WaitingForDependencies
        );
    }
}
