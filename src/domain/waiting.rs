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
    /// A free slot of its concurrency group.
    Concurrency,
    /// A place in the window of one of its rate limits.
    RateLimit,
    /// The end of its sleep.
    Sleep,
    /// A person's decision.
    Approval,
    /// An event from outside.
    Event,
    /// Its child task.
    ChildTask,
    /// The instances of its map.
    MapItems,
}

/// The gate a step waits at once its parents are satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Gate {
    /// It belongs to a concurrency group.
    pub concurrency: bool,
    /// Its starts count against rate limits.
    pub rate_limited: bool,
}

/// What a step waits for at `now`, if anything beyond its parents or its
/// retry backoff: a root step of a task that starts later becomes claimable
/// at the start time; a step at a gate (`gate`) whose time has come waits for
/// a free slot of its group. A rate-limited step sent back by its limit is
/// claimable again when a place frees, so a time ahead is read as the rate
/// limit (it also covers a delayed task's start, which the task's queue
/// reason tells).
pub fn step_waiting_for(
    status: StepStatus,
    claimable_from: Option<DateTime<Utc>>,
    gate: Option<Gate>,
    now: DateTime<Utc>,
) -> Option<WaitingFor> {
    let waiting = matches!(
        status,
        StepStatus::Pending | StepStatus::Enqueued | StepStatus::WaitingForRetry
    );
    let fresh = matches!(status, StepStatus::Enqueued | StepStatus::Pending);
    match (gate, claimable_from) {
        (Some(g), Some(at)) if g.rate_limited && fresh && at > now => Some(WaitingFor::RateLimit),
        (_, Some(at)) if fresh && at > now => Some(WaitingFor::Schedule),
        (Some(g), Some(at)) if waiting && at <= now && g.concurrency => Some(WaitingFor::Concurrency),
        (Some(_), Some(at)) if waiting && at <= now => Some(WaitingFor::RateLimit),
        _ => None,
    }
}

/// The concurrency group a task waits in, for its queue reason.
#[derive(Debug, Clone, Copy)]
pub struct Queued<'a> {
    /// The group's key.
    pub group: &'a str,
    /// Its limit.
    pub limit: u32,
}

/// Why a task has not started at `now`, in words, if it waits for anything
/// but a free handler slot.
pub fn task_queue_reason(
    status: TaskStatus,
    run_at: Option<DateTime<Utc>>,
    queued: Option<Queued<'_>>,
    now: DateTime<Utc>,
) -> Option<String> {
    match (status, run_at, queued) {
        (TaskStatus::Scheduled, Some(at), _) if at > now => Some(format!(
            "scheduled: no step starts before {}",
            at.to_rfc3339_opts(SecondsFormat::Millis, true)
        )),
        (TaskStatus::Pending | TaskStatus::Scheduled, _, Some(q)) => Some(format!(
            "queued: concurrency group {} has its limit of {} tasks running",
            q.group, q.limit
        )),
        (TaskStatus::Scheduled, _, None) => {
            Some("scheduled start reached: waiting for a free slot".to_owned())
        }
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
            step_waiting_for(StepStatus::Enqueued, Some(at(5)), None, now),
            Some(WaitingFor::Schedule)
        );
        assert_eq!(
            step_waiting_for(StepStatus::Enqueued, Some(at(0)), None, now),
            None
        );
        // A retry's backoff is nextAttemptAt's business, not a wait.
        assert_eq!(
            step_waiting_for(StepStatus::WaitingForRetry, Some(at(5)), None, now),
            None
        );
        assert_eq!(step_waiting_for(StepStatus::Pending, None, None, now), None);
    }

    #[test]
    fn a_step_at_its_gate_waits_for_its_group_once_due() {
        let now = at(0);
        let group = Some(Gate {
            concurrency: true,
            rate_limited: false,
        });
        for status in [
            StepStatus::Pending,
            StepStatus::WaitingForRetry,
            StepStatus::Enqueued,
        ] {
            assert_eq!(
                step_waiting_for(status, Some(at(-1)), group, now),
                Some(WaitingFor::Concurrency),
                "{status}"
            );
        }
        assert_eq!(
            step_waiting_for(StepStatus::Pending, Some(at(9)), group, now),
            Some(WaitingFor::Schedule)
        );
        assert_eq!(step_waiting_for(StepStatus::InProgress, None, group, now), None);
        // Between attempts a grouped step waits for its backoff first.
        assert_eq!(
            step_waiting_for(StepStatus::WaitingForRetry, Some(at(9)), group, now),
            None
        );
    }

    #[test]
    fn a_rate_limited_step_waits_for_a_place_in_its_window() {
        let now = at(0);
        let rated = Some(Gate {
            concurrency: false,
            rate_limited: true,
        });
        assert_eq!(
            step_waiting_for(StepStatus::Pending, Some(at(3)), rated, now),
            Some(WaitingFor::RateLimit)
        );
        assert_eq!(
            step_waiting_for(StepStatus::Pending, Some(at(-1)), rated, now),
            Some(WaitingFor::RateLimit)
        );
        let both = Some(Gate {
            concurrency: true,
            rate_limited: true,
        });
        assert_eq!(
            step_waiting_for(StepStatus::Pending, Some(at(-1)), both, now),
            Some(WaitingFor::Concurrency)
        );
        assert_eq!(
            step_waiting_for(StepStatus::WaitingForRetry, Some(at(3)), rated, now),
            None
        );
    }

    #[test]
    fn a_scheduled_task_says_when_it_starts() {
        let now = at(0);
        let reason = task_queue_reason(TaskStatus::Scheduled, Some(at(60)), None, now).expect("reason");
        assert!(reason.contains("2027-01-15T08:01:00.000Z"), "{reason}");
        let due = task_queue_reason(TaskStatus::Scheduled, Some(at(-1)), None, now).expect("reason");
        assert!(due.contains("reached"), "{due}");
        assert_eq!(
            task_queue_reason(TaskStatus::InProgress, Some(at(60)), None, now),
            None
        );
        assert_eq!(task_queue_reason(TaskStatus::Pending, None, None, now), None);
    }

    #[test]
    fn a_queued_task_names_its_group() {
        let q = Queued {
            group: "billing/invoice:c1",
            limit: 2,
        };
        let reason = task_queue_reason(TaskStatus::Pending, None, Some(q), at(0)).expect("reason");
        assert!(
            reason.contains("billing/invoice:c1") && reason.contains('2'),
            "{reason}"
        );
        assert_eq!(
            task_queue_reason(TaskStatus::InProgress, None, Some(q), at(0)),
            None
        );
    }
}
