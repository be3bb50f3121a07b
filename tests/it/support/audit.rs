//! Checks over tasks run by processes the test does not drive directly.

use std::time::Duration;

use tasker::domain::TaskStatus;
use tasker::service::{TaskDetail, Tasker};
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
