//! Checks over tasks run by processes the test does not drive directly.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use tasker::domain::TaskStatus;
use tasker::service::{TaskDetail, Tasker};

use super::Harness;
use uuid::Uuid;

/// Wait until every task of `ids` finished, at most `limit` in all, and
/// assert that each is COMPLETE.
pub async fn wait_all_complete(tasker: &Tasker, ids: &[Uuid], limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    for id in ids {
        loop {
            let detail = tasker.task_detail(*id).await.expect("read").expect("exists");
            if detail.task.status.is_finished() {
                assert_eq!(detail.task.status, TaskStatus::Complete, "{:#?}", detail.steps);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "task {id} never finished");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The task, once its audit shows every step completed exactly once.
pub async fn completed_once(tasker: &Tasker, id: Uuid) -> TaskDetail {
    let detail = tasker.task_detail(id).await.expect("read").expect("exists");
    let step_ids: Vec<_> = detail.steps.iter().map(|s| s.id).collect();
    let audit = tasker.step_transitions(&step_ids).await.expect("audit");
    for step in &detail.steps {
        let completions = audit
            .iter()
            .filter(|(s, t)| *s == step.id && t.to == "COMPLETE")
            .count();
        assert_eq!(
            completions, 1,
            "{} of {id} completed {completions} times",
            step.name
        );
    }
    detail
}

/// Start/end times of runs per group, from the audit: (start, end).
pub type Runs = HashMap<String, Vec<(DateTime<Utc>, DateTime<Utc>)>>;

/// The most runs of one group that overlapped at any moment (a run that ends
/// at the moment another starts does not overlap it).
pub fn most_at_once(runs: &Runs) -> HashMap<String, usize> {
    runs.iter()
        .map(|(group, spans)| {
            let mut edges: Vec<(DateTime<Utc>, i32)> = Vec::new();
            for (start, end) in spans {
                edges.push((*start, 1));
                edges.push((*end, -1));
            }
            // Ends before starts at the same instant.
            edges.sort();
            let (mut now, mut most) = (0i32, 0i32);
            for (_, delta) in edges {
                now += delta;
                most = most.max(now);
            }
            (group.clone(), usize::try_from(most).unwrap_or(0))
        })
        .collect()
}

/// Every IN_PROGRESS span of the named step, by the given key of its task.
pub async fn step_runs(h: &Harness, ids: &[Uuid], step: &str, keys: &HashMap<Uuid, String>) -> Runs {
    let mut runs = Runs::new();
    for id in ids {
        let detail = h.tasker.task_detail(*id).await.expect("read").expect("task");
        let target = detail.steps.iter().find(|s| s.name == step).expect("step");
        let history = h.tasker.step_transitions(&[target.id]).await.expect("audit");
        let mut open = None;
        for (_, t) in history {
            if t.to == "IN_PROGRESS" {
                open = Some(t.at);
            } else if let Some(start) = open.take() {
                runs.entry(keys[id].clone()).or_default().push((start, t.at));
            }
        }
        assert!(open.is_none(), "task {id} has a step still running");
    }
    runs
}
