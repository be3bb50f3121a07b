//! The events of one committed batch: one state-change event per transition,
//! in commit order, plus the orchestration (`workflow.*`) events that the
//! batch implies, derived here rather than published by hand so that they can
//! never disagree with the audit trail.

// hashbrown's hasher (foldhash, seeded per process): std's SipHash was a
// tenth of publishing a batch.
use hashbrown::HashMap;
use uuid::Uuid;

use super::{Event, EventName};
use crate::domain::change::{Change, TaskChange};
use crate::domain::{StepStatus, TaskStatus};

#[derive(Default)]
struct Progress {
    discovered: Vec<String>,
    settled: Vec<String>,
    finished: bool,
    at: Option<chrono::DateTime<chrono::Utc>>,
}

fn about_task(name: EventName, t: &TaskChange) -> Event {
    Event::new(name, t.at)
        .task(t.task_id)
        .with("namespace", t.namespace.clone())
        .with("name", t.name.clone())
}

/// Hand `emit` every event a committed batch of changes publishes, in order.
/// Each is handed over as soon as it is known: a turn of the engine commits
/// hundreds of changes, and collecting their events first cost one large
/// allocation on every turn (a fifth of publishing them, in a profile).
pub fn events_for(changes: Vec<Change>, mut emit: impl FnMut(Event)) {
    let mut order: Vec<Uuid> = Vec::new();
    let mut progress: HashMap<Uuid, Progress> = HashMap::new();
    for change in changes {
        let task_id = match &change {
            Change::Task(t) => t.task_id,
            Change::Step(s) => s.task_id,
        };
        let p = progress.entry(task_id).or_insert_with(|| {
            order.push(task_id);
            Progress::default()
        });
        match &change {
            Change::Task(t) => {
                let finishing = t.to.is_finished();
                if finishing {
                    p.finished = true;
                    let started = about_task(EventName::WorkflowTaskFinalizationStarted, t);
                    emit(started.with("to", t.to.as_str()));
                }
                let starting = matches!(t.from, Some(TaskStatus::Pending | TaskStatus::Scheduled))
                    && t.to == TaskStatus::InProgress;
                let follow_up = if starting {
                    Some(about_task(EventName::WorkflowTaskStarted, t))
                } else if finishing {
                    let ms = (t.at - t.created_at).num_milliseconds().max(0);
                    let done = about_task(EventName::WorkflowTaskFinalizationCompleted, t);
                    Some(done.with("to", t.to.as_str()).with("duration_ms", ms))
                } else {
                    None
                };
                emit(Event::from_change(change));
                follow_up.into_iter().for_each(&mut emit);
            }
            Change::Step(s) => {
                if s.from == Some(StepStatus::Pending) && s.to == StepStatus::Enqueued {
                    p.discovered.push(s.step_name.clone());
                } else if s.from == Some(StepStatus::InProgress) && s.to.satisfies_dependents() {
                    p.settled.push(s.step_name.clone());
                }
                p.at = Some(s.at);
                emit(Event::from_change(change));
            }
        }
    }
    for task_id in order {
        let Some(p) = progress.remove(&task_id) else {
            continue;
        };
        let Some(at) = p.at else { continue };
        if !p.discovered.is_empty() {
            let count = p.discovered.len();
            let event = Event::new(EventName::WorkflowViableStepsDiscovered, at).task(task_id);
            emit(event.with("step_names", p.discovered).with("count", count));
        } else if !p.settled.is_empty() && !p.finished {
            let event = Event::new(EventName::WorkflowNoViableSteps, at).task(task_id);
            emit(event.with("settled_steps", p.settled).with(
                "reason",
                "no step became ready: the task waits on running or retrying steps",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::change::StepChange;

    fn task(id: Uuid, from: Option<TaskStatus>, to: TaskStatus) -> Change {
        Change::Task(TaskChange {
            task_id: id,
            namespace: "ns".into(),
            name: "t".into(),
            created_at: Utc::now(),
            correlation_id: None,
            trace_parent: None,
            from,
            to,
            sequence: 1,
            reason: None,
            at: Utc::now(),
        })
    }

    fn step(task_id: Uuid, name: &str, from: StepStatus, to: StepStatus) -> Change {
        Change::Step(StepChange {
            step_id: Uuid::now_v7(),
            task_id,
            step_name: name.into(),
            handler: "noop".into(),
            external: false,
            from: Some(from),
            to,
            attempt: 1,
            started_at: None,
            sequence: 2,
            reason: None,
            failure: None,
            at: Utc::now(),
        })
    }

    fn events_of(changes: Vec<Change>) -> Vec<Event> {
        let mut events = Vec::new();
        events_for(changes, |e| events.push(e));
        events
    }

    fn names(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn a_completed_parent_that_readies_children_announces_them() {
        let t = Uuid::now_v7();
        let events = events_of(vec![
            step(t, "a", StepStatus::InProgress, StepStatus::Complete),
            step(t, "b", StepStatus::Pending, StepStatus::Enqueued),
            step(t, "c", StepStatus::Pending, StepStatus::Enqueued),
        ]);
        assert_eq!(
            names(&events),
            [
                "step.completed",
                "step.enqueued",
                "step.enqueued",
                "workflow.viable_steps_discovered"
            ]
        );
        let payload = events[3].payload();
        assert_eq!(payload["count"], 2);
        assert_eq!(payload["step_names"], serde_json::json!(["b", "c"]));
    }

    #[test]
    fn a_settled_step_that_readies_nothing_says_so_unless_the_task_finished() {
        let t = Uuid::now_v7();
        let waiting = events_of(vec![step(t, "a", StepStatus::InProgress, StepStatus::Complete)]);
        assert_eq!(names(&waiting), ["step.completed", "workflow.no_viable_steps"]);
        let finished = events_of(vec![
            step(t, "a", StepStatus::InProgress, StepStatus::Complete),
            task(t, Some(TaskStatus::InProgress), TaskStatus::Complete),
        ]);
        assert_eq!(
            names(&finished),
            [
                "step.completed",
                "workflow.task_finalization_started",
                "task.completed",
                "workflow.task_finalization_completed"
            ]
        );
        assert!(finished[3].payload()["duration_ms"].is_i64());
    }

    #[test]
    fn a_starting_task_publishes_start_requested_then_task_started() {
        let t = Uuid::now_v7();
        let events = events_of(vec![task(t, Some(TaskStatus::Pending), TaskStatus::InProgress)]);
        assert_eq!(names(&events), ["task.start_requested", "workflow.task_started"]);
    }

    #[test]
    fn every_state_change_is_published_exactly_once_and_payloads_match_the_catalog() {
        let t = Uuid::now_v7();
        let changes = vec![
            task(t, None, TaskStatus::Pending),
            step(t, "a", StepStatus::Pending, StepStatus::Enqueued),
            task(t, Some(TaskStatus::Pending), TaskStatus::InProgress),
            step(t, "a", StepStatus::InProgress, StepStatus::Complete),
            task(t, Some(TaskStatus::InProgress), TaskStatus::Complete),
        ];
        let events = events_of(changes.clone());
        let state: Vec<&Change> = events.iter().filter_map(|e| e.change.as_ref()).collect();
        assert_eq!(state, changes.iter().collect::<Vec<_>>());
        for event in &events {
            assert_eq!(
                event.name.is_state_change(),
                event.change.is_some(),
                "{:?}",
                event.name
            );
            let mut keys: Vec<String> = event
                .payload()
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            let mut declared: Vec<String> = event
                .name
                .payload_fields()
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            keys.sort();
            declared.sort();
            assert_eq!(keys, declared, "{}", event.name.as_str());
        }
    }
}
