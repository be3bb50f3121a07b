//! Operator actions and creation rules: cancel, bypass, manual resolution,
//! retries, idempotency, context validation, timeouts.

use std::time::Duration;

use serde_json::json;
use tasker::domain::{StepStatus, TaskStatus};
use tasker::service::{CreateTask, Error};

use crate::support::{Harness, TestDb};

crate::on_both_backends! {
    cancelling_mid_run_stops_the_running_handler_and_starts_nothing_new => cancel_mid_run;
    bypassed_skippable_steps_are_skipped_and_unblock_their_children => bypass_steps;
    resolving_a_failed_step_by_hand_lets_its_children_run_with_the_given_results => resolve_unblocks_children;
    retrying_a_failed_step_or_task_gives_a_fresh_budget_of_attempts => retry_step_and_task;
    an_idempotency_key_returns_the_same_task_even_under_concurrent_requests => idempotent_creation;
    contexts_are_checked_against_the_schema_and_the_size_limit => context_rules;
    an_attempt_running_past_its_timeout_fails_with_kind_timeout => step_timeout;
}

const CHAIN: &str = "name: chain
steps:
  - {name: a, handler: noop}
  - {name: b, handler: sleep, config: {ms: 60000}}
  - {name: c, handler: noop, depends_on: [b]}
";

async fn cancel_mid_run(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(CHAIN).await;
    let id = h.create("chain", json!({})).await;
    let running = h.wait_for(id, |s| s == TaskStatus::InProgress).await;
    assert_eq!(running.task.status, TaskStatus::InProgress);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.engine.in_flight() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "sleep never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cancelled = h
        .tasker
        .cancel_task(id, Some("customer asked".into()))
        .await
        .expect("cancels");
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    let detail = h.tasker.task_detail(id).await.expect("read").expect("exists");
    let status = |n: &str| detail.steps.iter().find(|s| s.name == n).map(|s| s.status);
    assert_eq!(status("b"), Some(StepStatus::Cancelled));
    assert_eq!(status("c"), Some(StepStatus::Cancelled));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while h.engine.in_flight() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the running sleep was not told to stop"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let c = detail.steps.iter().find(|s| s.name == "c").expect("c");
    assert_eq!(c.attempts, 0, "no new step starts after cancel");
    let again = h
        .tasker
        .cancel_task(id, None)
        .await
        .expect_err("already cancelled");
    assert!(matches!(again, Error::InvalidTransition { .. }), "{again}");
    let transitions = h.tasker.task_transitions(id).await.expect("audit");
    assert_eq!(
        transitions.last().and_then(|t| t.reason.clone()).as_deref(),
        Some("customer asked")
    );
    h.stop().await;
}

async fn bypass_steps(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(
        "name: skippy
steps:
  - {name: a, handler: noop}
  - {name: b, handler: fail_times, config: {times: 99, retryable: false}, skippable: true, depends_on: [a]}
  - {name: c, handler: echo, depends_on: [b]}
",
    )
    .await;
    let input = |bypass: &[&str]| CreateTask {
        name: "skippy".into(),
        context: json!({}),
        bypass_steps: bypass.iter().map(|s| (*s).to_owned()).collect(),
        ..CreateTask::default()
    };
    let created = h.tasker.create_task(input(&["b"])).await.expect("created");
    let detail = h.wait_finished(created.task.id).await;
    assert_eq!(detail.task.status, TaskStatus::Complete);
    let statuses: Vec<StepStatus> = detail.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        vec![StepStatus::Complete, StepStatus::Skipped, StepStatus::Complete]
    );
    let c = &detail.steps[2];
    assert_eq!(
        detail.results[&c.id]["parents"]["b"],
        json!(null),
        "a skipped parent has no results"
    );

    let not_skippable = h
        .tasker
        .create_task(input(&["a"]))
        .await
        .expect_err("a is not skippable");
    assert!(
        matches!(&not_skippable, Error::BadInput { field, .. } if field == "bypassSteps"),
        "{not_skippable}"
    );
    let unknown = h
        .tasker
        .create_task(input(&["zz"]))
        .await
        .expect_err("no such step");
    assert!(unknown.to_string().contains("zz"), "{unknown}");
    h.stop().await;
}

async fn resolve_unblocks_children(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(
        "name: broken
steps:
  - {name: a, handler: noop}
  - {name: b, handler: fail_times, config: {times: 99, retryable: false}, depends_on: [a]}
  - {name: c, handler: echo, depends_on: [b]}
",
    )
    .await;
    let id = h.create("broken", json!({})).await;
    let failed = h.wait_finished(id).await;
    assert_eq!(failed.task.status, TaskStatus::Error);
    let b = failed.steps.iter().find(|s| s.name == "b").expect("b").id;
    let resolved = h
        .tasker
        .resolve_step(b, Some(json!({"fixed": true})), Some("patched by hand".into()))
        .await
        .expect("resolves");
    assert_eq!(resolved.status, StepStatus::ResolvedManually);
    let done = h.wait_for(id, |s| s.is_terminal()).await;
    assert_eq!(done.task.status, TaskStatus::ResolvedManually);
    let c = done.steps.iter().find(|s| s.name == "c").expect("c");
    assert_eq!(c.status, StepStatus::Complete);
    assert_eq!(done.results[&c.id]["parents"]["b"], json!({"fixed": true}));
    let again = h
        .tasker
        .resolve_step(b, None, None)
        .await
        .expect_err("already resolved");
    assert!(matches!(again, Error::InvalidTransition { .. }), "{again}");
    let missing = h
        .tasker
        .resolve_step(uuid::Uuid::now_v7(), None, None)
        .await
        .expect_err("unknown step");
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
    h.stop().await;
}

async fn retry_step_and_task(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(
        "name: fixable
steps:
  - {name: a, handler: noop}
  - {name: b, handler: fail_times, config: {times: 1, retryable: false}, depends_on: [a]}
  - {name: c, handler: fail_times, config: {times: 1, retryable: false}, depends_on: [a]}
  - {name: d, handler: noop, depends_on: [b, c]}
",
    )
    .await;
    let first = h.create("fixable", json!({})).await;
    let failed = h.wait_finished(first).await;
    assert_eq!(failed.task.status, TaskStatus::Error);
    let not_failed = h.tasker.retry_task(h.create("fixable", json!({})).await).await;
    assert!(
        matches!(not_failed, Err(Error::InvalidTransition { .. })),
        "{not_failed:?}"
    );

    let b = failed.steps.iter().find(|s| s.name == "b").expect("b").id;
    let retried = h.tasker.retry_step(b).await.expect("retries b");
    assert_eq!(retried.status, StepStatus::Enqueued);
    let still_blocked = h.wait_for(first, |s| s == TaskStatus::Error).await;
    let b_after = still_blocked.steps.iter().find(|s| s.name == "b").expect("b");
    assert_eq!((b_after.status, b_after.attempts), (StepStatus::Complete, 2));

    let reopened = h.tasker.retry_task(first).await.expect("retries the task");
    assert_ne!(reopened.status, TaskStatus::Error);
    let done = h.wait_for(first, |s| s == TaskStatus::Complete).await;
    assert!(done.steps.iter().all(|s| s.status == StepStatus::Complete));
    let c = done.steps.iter().find(|s| s.name == "c").expect("c");
    assert_eq!(c.attempts, 2, "attempts never reset");
    let audit = h.tasker.step_transitions(&[c.id]).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|(_, t)| t.from.as_deref() == Some("ERROR") && t.to == "ENQUEUED")
    );
    h.stop().await;
}

async fn idempotent_creation(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register("name: once\nsteps:\n  - {name: a, handler: noop}\n")
        .await;
    h.register("name: other\nsteps:\n  - {name: a, handler: noop}\n")
        .await;
    let input = |name: &str| CreateTask {
        name: name.into(),
        context: json!({}),
        idempotency_key: Some("order-42".into()),
        ..CreateTask::default()
    };
    let mut racers = Vec::new();
    for _ in 0..20 {
        let tasker = h.tasker.clone();
        let input = input("once");
        racers.push(tokio::spawn(async move { tasker.create_task(input).await }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for racer in racers {
        let outcome = racer.await.expect("joins").expect("creates or returns");
        created += usize::from(outcome.created);
        ids.push(outcome.task.id);
    }
    ids.dedup();
    assert_eq!((ids.len(), created), (1, 1), "one task, created once");
    let clash = h
        .tasker
        .create_task(input("other"))
        .await
        .expect_err("key used by another template");
    assert!(matches!(clash, Error::Conflict { .. }), "{clash}");
    h.stop().await;
}

async fn context_rules(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(
        "name: typed
context_schema: {type: object, required: [order_id], properties: {order_id: {type: integer}}}
steps:
  - {name: a, handler: noop}
",
    )
    .await;
    let create = |context| {
        h.tasker.create_task(CreateTask {
            name: "typed".into(),
            context,
            ..CreateTask::default()
        })
    };
    let missing = create(json!({})).await.expect_err("order_id missing");
    assert!(
        matches!(&missing, Error::Context(_)) && missing.to_string().contains("order_id"),
        "{missing}"
    );
    let wrong = create(json!({"order_id": "seven"}))
        .await
        .expect_err("wrong type");
    assert!(
        wrong.to_string().contains("/order_id") && !wrong.to_string().contains("seven"),
        "{wrong}"
    );
    let huge = create(json!({"order_id": 1, "blob": "x".repeat(2 * 1024 * 1024)}))
        .await
        .expect_err("too large");
    assert!(matches!(huge, Error::PayloadTooLarge { .. }), "{huge}");
    assert!(create(json!({"order_id": 1})).await.is_ok());
    let unknown = h
        .tasker
        .create_task(CreateTask {
            name: "nope".into(),
            context: json!({}),
            ..CreateTask::default()
        })
        .await
        .expect_err("no template");
    assert!(matches!(unknown, Error::NotFound { .. }), "{unknown}");
    h.stop().await;
}

async fn step_timeout(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(
        "name: slow
steps:
  - {name: a, handler: sleep, config: {ms: 10000}, timeout_ms: 50, retry: {max_attempts: 2, backoff_ms: 10}}
",
    )
    .await;
    let id = h.create("slow", json!({})).await;
    let detail = h.wait_finished(id).await;
    assert_eq!(detail.task.status, TaskStatus::Error);
    let a = &detail.steps[0];
    assert_eq!(a.attempts, 2, "a timeout is retryable");
    let error = a.error.as_ref().expect("error");
    assert_eq!(error.kind.as_str(), "timeout");
    assert!(error.message.contains("50 ms"), "{}", error.message);
    h.stop().await;
}
