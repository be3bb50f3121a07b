//! Why work that could run does not run yet: what a task's `queueReason` and a
//! step's `waitingFor` tell people.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::{StepStatus, TaskStatus};

/// What holds back a step whose parents are satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WaitingFor {
    /// Its task starts later (`runAt`).
    Schedule,
}

/// What a step waits for at `now`, if anything beyond its parents or its
/// retry backoff: a root step of a task that starts later is ENQUEUED with
/// the start time as the moment it becomes claimable.
pub fn step_waiting_for(
    status: StepStatus,
    claimable_from: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<WaitingFor> {
    match (status, claimable_from) {
        (StepStatus::Enqueued, Some(at)) if at > now => Some(WaitingFor::Schedule),
        _ => None,
    }
}

/// Why a task has not started at `now`, in words, if it waits for anything
/// but a free handler slot.
pub fn task_queue_reason(
    status: TaskStatus,
    run_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<String> {
    match (status, run_at) {
        (TaskStatus::Scheduled, Some(at)) if at > now => Some(format!(
            "scheduled: no step starts before {}",
            at.to_rfc3339_opts(SecondsFormat::Millis, true)
        )),
        (TaskStatus::Scheduled, _) => Some("scheduled start reached: waiting for a free slot".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    #[test]
    fn an_enqueued_step_claimable_later_waits_for_its_schedule() {
        let now = at(0);
        assert_eq!(
            step_waiting_for(StepStatus::Enqueued, Some(at(5)), now),
            Some(WaitingFor::Schedule)
        );
        assert_eq!(step_waiting_for(StepStatus::Enqueued, Some(at(0)), now), None);
        // A retry's backoff is nextAttemptAt's business, not a wait.
        assert_eq!(
            step_waiting_for(StepStatus::WaitingForRetry, Some(at(5)), now),
            None
        );
        assert_eq!(step_waiting_for(StepStatus::Pending, None, now), None);
    }

    #[test]
    fn a_scheduled_task_says_when_it_starts() {
        let now = at(0);
        let reason = task_queue_reason(TaskStatus::Scheduled, Some(at(60)), now).expect("reason");
        assert!(reason.contains("2027-01-15T08:01:00.000Z"), "{reason}");
        let due = task_queue_reason(TaskStatus::Scheduled, Some(at(-1)), now).expect("reason");
        assert!(due.contains("reached"), "{due}");
        assert_eq!(task_queue_reason(TaskStatus::InProgress, Some(at(60)), now), None);
        assert_eq!(task_queue_reason(TaskStatus::Pending, None, now), None);
    }
}
