//! The audit trail: every finished task's transitions replay through the
//! state machine, sequences have no gaps, and each attempt starts once.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;
use tasker::domain::state::replay;
use tasker::domain::{StepStatus, TaskStatus};

use crate::shapes;
use crate::support::{Harness, TestDb};

crate::on_both_backends! {
    the_transition_audit_of_finished_tasks_replays_through_the_state_machine => audit_replays;
}

async fn audit_replays(db: &TestDb) {
    let h = Harness::start(db).await;
    let shape = shapes::all()
        .into_iter()
        .find(|s| s.name == "diamond")
        .expect("diamond");
    let body = "handler: fail_times\nconfig: {times: 1}\nretry: {max_attempts: 2, backoff_ms: 5}";
    h.register(&shape.yaml("audited", &HashMap::from([("b", body)])))
        .await;
    h.register(&shape.yaml(
        "broken",
        &HashMap::from([("c", "handler: fail_times\nconfig: {times: 5, retryable: false}")]),
    ))
    .await;
    let ids = [
        h.create("audited", json!({})).await,
        h.create("broken", json!({})).await,
    ];
    for id in ids {
        let detail = h.wait_finished(id).await;
        let task_history: Vec<(Option<TaskStatus>, TaskStatus)> = h
            .tasker
            .task_transitions(id)
            .await
            .expect("task audit")
            .iter()
            .enumerate()
            .map(|(i, t)| {
                assert_eq!(t.sequence as usize, i + 1, "task sequence has no gaps");
                (
                    t.from.as_deref().map(|s| s.parse().expect("status")),
                    t.to.parse().expect("status"),
                )
            })
            .collect();
        assert_eq!(
            replay(&task_history, TaskStatus::can_transition),
            Ok(Some(detail.task.status))
        );

        let step_ids: Vec<_> = detail.steps.iter().map(|s| s.id).collect();
        let mut by_step: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for (step_id, t) in h.tasker.step_transitions(&step_ids).await.expect("step audit") {
            by_step.entry(step_id).or_default().push(t);
        }
        for step in &detail.steps {
            let history = &by_step[&step.id];
            let pairs: Vec<(Option<StepStatus>, StepStatus)> = history
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    assert_eq!(t.sequence as usize, i + 1, "{}: sequence has no gaps", step.name);
                    (
                        t.from.as_deref().map(|s| s.parse().expect("status")),
                        t.to.parse().expect("status"),
                    )
                })
                .collect();
            assert_eq!(
                replay(&pairs, StepStatus::can_transition),
                Ok(Some(step.status)),
                "{}",
                step.name
            );
            assert_eq!(
                pairs[0],
                (None, StepStatus::Pending),
                "{} starts PENDING",
                step.name
            );
            let starts: Vec<i32> = history
                .iter()
                .filter(|t| t.to == "IN_PROGRESS")
                .filter_map(|t| t.attempt)
                .collect();
            let expected: Vec<i32> = (1..=step.attempts as i32).collect();
            assert_eq!(starts, expected, "{}: one IN_PROGRESS row per attempt", step.name);
        }
    }
    h.stop().await;
}
