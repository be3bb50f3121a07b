//! Child tasks: a `task` step starts a task from another template and
//! completes with its results; a chain three deep completes, each child is
//! created once and knows its parent and root; cancelling a parent cancels
//! the tree; a child that fails (or cannot be created) fails its step.

use serde_json::json;
use tasker::domain::waiting::WaitingFor;
use tasker::domain::{StepStatus, TaskStatus};
use tasker::graphql;
use tasker::service::TaskDetail;
use uuid::Uuid;

use crate::support::{Harness, TestDb, run};

crate::on_both_backends! {
    a_chain_of_child_tasks_three_deep_completes_with_their_results => chain;
    cancelling_a_parent_cancels_its_children_down_the_tree => cascade;
    a_child_that_fails_or_cannot_be_created_fails_its_step => failures;
}

const LEAF: &str = "name: leaf
steps:
  - {name: work, handler: echo, config: {made: leaf}}
";

const MIDDLE: &str = "name: middle
steps:
  - name: run_leaf
    task: {name: leaf, context: \"{'depth': 2, 'order': context.order}\"}
";

const TOP: &str = "name: top
steps:
  - {name: start, handler: noop}
  - {name: run_middle, task: {name: middle}, depends_on: [start]}
  - {name: finish, handler: echo, depends_on: [run_middle]}
";

fn step<'a>(detail: &'a TaskDetail, name: &str) -> &'a tasker::service::StepView {
    detail.steps.iter().find(|s| s.name == name).expect("step")
}

async fn only_child(h: &Harness, id: Uuid) -> Uuid {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let children = h.tasker.child_tasks(id).await.expect("children");
        if let Some(child) = children.first() {
            assert_eq!(children.len(), 1, "one child per step attempt: {children:?}");
            return child.id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {id} started no child"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn chain(db: &TestDb) {
    let h = Harness::start(db).await;
    for yaml in [LEAF, MIDDLE, TOP] {
        h.register(yaml).await;
    }
    let top = h.create("top", json!({"order": "o-7"})).await;
    let done = h.wait_finished(top).await;
    assert_eq!(done.task.status, TaskStatus::Complete, "{:#?}", done.steps);
    let middle = only_child(&h, top).await;
    let leaf = only_child(&h, middle).await;
    let leaf_task = h.tasker.task(leaf).await.expect("read").expect("leaf");
    assert_eq!(leaf_task.context, json!({"depth": 2, "order": "o-7"}));
    assert_eq!(leaf_task.root_task_id, top);
    assert_eq!(leaf_task.parent_task_id, Some(middle));
    assert_eq!(
        leaf_task.initiator.as_deref(),
        Some(format!("task:{middle}").as_str())
    );

    let run_middle = step(&done, "run_middle").id;
    let results = h.tasker.step_results(&[run_middle]).await.expect("results");
    let results = &results[&run_middle];
    assert_eq!(results["task_id"], json!(middle.to_string()));
    assert_eq!(results["status"], "COMPLETE");
    assert_eq!(
        results["results"]["run_leaf"]["results"]["work"]["config"],
        json!({"made": "leaf"}),
        "{results}"
    );

    let schema = graphql::schema(h.tasker.clone(), &graphql::Settings::default());
    let seen = run(
        &schema,
        &h.tasker,
        "query($id: ID!) { task(id: $id) { rootTaskId parent { id } steps { name kind childTasks { id } }
           children { id parentStepId children { id rootTaskId parent { id } } } } }",
        json!({"id": top.to_string()}),
    )
    .await;
    let task = &seen["data"]["task"];
    assert_eq!(task["rootTaskId"], json!(top.to_string()), "{seen}");
    assert_eq!(task["parent"], json!(null));
    assert_eq!(
        task["steps"][1],
        json!({"name": "run_middle", "kind": "TASK", "childTasks": [{"id": middle.to_string()}]})
    );
    assert_eq!(task["steps"][0]["childTasks"], json!([]));
    assert_eq!(task["children"][0]["id"], json!(middle.to_string()));
    assert_eq!(task["children"][0]["parentStepId"], json!(run_middle.to_string()));
    assert_eq!(
        task["children"][0]["children"][0],
        json!({"id": leaf.to_string(), "rootTaskId": top.to_string(), "parent": {"id": middle.to_string()}})
    );
    h.stop().await;
}

const HELD: &str = "name: held
steps:
  - {name: approve, approval: {}}
";

const OUTER: &str = "name: outer
steps:
  - {name: inner, task: {name: inner}}
";

const INNER: &str = "name: inner
steps:
  - {name: held, task: {name: held}}
";

async fn cascade(db: &TestDb) {
    let h = Harness::start(db).await;
    for yaml in [HELD, INNER, OUTER] {
        h.register(yaml).await;
    }
    let outer = h.create("outer", json!({})).await;
    let inner = only_child(&h, outer).await;
    let held = only_child(&h, inner).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let waiting = loop {
        let detail = h.tasker.task_detail(held).await.expect("read").expect("task");
        if detail.steps[0].status == StepStatus::Waiting {
            break detail;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", detail.steps);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let outer_now = h.tasker.task_detail(outer).await.expect("read").expect("task");
    assert_eq!(
        step(&outer_now, "inner").waiting_for(chrono::Utc::now()),
        Some(WaitingFor::ChildTask)
    );
    assert_eq!(waiting.steps[0].status, StepStatus::Waiting);
    h.tasker
        .cancel_task(outer, Some("not needed".into()))
        .await
        .expect("cancels");
    for id in [outer, inner, held] {
        let task = h.tasker.task(id).await.expect("read").expect("task");
        assert_eq!(task.status, TaskStatus::Cancelled, "task {id}");
    }
    let audit = h.tasker.task_transitions(held).await.expect("audit");
    let reason = audit.last().and_then(|t| t.reason.clone()).unwrap_or_default();
    assert_eq!(reason, format!("parent task {inner} was cancelled"));
    h.stop().await;
}

const FAILING: &str = "name: failing
steps:
  - {name: boom, handler: fail_times, config: {times: 99}, retry: {max_attempts: 1}}
";

const CALLER: &str = "name: caller
steps:
  - name: call
    task: {name: CHILD}
    retry: {max_attempts: 2, backoff_ms: 10}
";

async fn failures(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(FAILING).await;
    h.register(&CALLER.replace("CHILD", "failing")).await;
    let id = h.create("caller", json!({})).await;
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Error);
    let call = step(&done, "call");
    assert_eq!(call.attempts, 2, "a failed child is retried with a new child");
    assert_eq!(call.error.as_ref().map(|e| e.kind.as_str()), Some("child_task"));
    assert_eq!(h.tasker.child_tasks(id).await.expect("children").len(), 2);

    // A child cancelled on its own fails its step too.
    h.register(HELD).await;
    h.register(&CALLER.replace("caller", "patient").replace("CHILD", "held"))
        .await;
    let id = h.create("patient", json!({})).await;
    let child = only_child(&h, id).await;
    h.tasker.cancel_task(child, None).await.expect("cancels");
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Error);
    let error = step(&done, "call").error.clone().expect("error");
    assert_eq!(error.kind.as_str(), "child_task");
    assert!(error.message.contains("CANCELLED"), "{error:?}");

    h.register(&CALLER.replace("caller", "orphan").replace("CHILD", "missing"))
        .await;
    let id = h.create("orphan", json!({})).await;
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Error);
    let error = step(&done, "call").error.clone().expect("error");
    assert_eq!(error.kind.as_str(), "child_task");
    assert!(error.message.contains("cannot be created"), "{error:?}");
    h.stop().await;
}
