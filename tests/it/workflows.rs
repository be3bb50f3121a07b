//! Every workflow shape on the happy path, after a permanent failure, and
//! retrying until success.

use std::collections::HashMap;

use serde_json::json;
use tasker::domain::{StepStatus, TaskStatus};

use crate::shapes;
use crate::support::{Harness, TestDb};

crate::on_both_backends! {
    every_shape_completes_and_children_receive_parent_results => happy_path;
    a_permanent_failure_stops_only_its_downstream_and_fails_the_task => permanent_failure;
    a_step_that_fails_twice_succeeds_on_its_third_attempt_after_its_backoff => retry_then_succeed;
    steps_start_first_time_when_the_task_cache_overflows_mid_batch => small_task_cache;
}

async fn happy_path(db: &TestDb) {
    let h = Harness::start(db).await;
    for shape in shapes::all() {
        h.register(&shape.yaml(shape.name, &HashMap::new())).await;
        let id = h.create(shape.name, json!({"order_id": 7})).await;
        let detail = h.wait_finished(id).await;
        assert_eq!(detail.task.status, TaskStatus::Complete, "{}", shape.name);
        assert_eq!(detail.steps.len(), shape.steps.len());
        for step in &detail.steps {
            assert_eq!(step.status, StepStatus::Complete, "{} {}", shape.name, step.name);
            assert_eq!(step.attempts, 1, "{} {}", shape.name, step.name);
            let (_, parents) = shape
                .steps
                .iter()
                .find(|(n, _)| n == &step.name)
                .expect("step in shape");
            let results = &detail.results[&step.id];
            for parent in parents {
                assert!(
                    results["parents"].get(parent).is_some(),
                    "{}: {} lacks {parent}: {results}",
                    shape.name,
                    step.name
                );
            }
        }
    }
    h.stop().await;
}

async fn permanent_failure(db: &TestDb) {
    let h = Harness::start(db).await;
    for shape in shapes::all() {
        let failing = shape.middle().to_owned();
        let special = HashMap::from([(
            failing.as_str(),
            "handler: fail_times\nconfig: {times: 99, retryable: false}",
        )]);
        let name = format!("{}_fails", shape.name);
        h.register(&shape.yaml(&name, &special)).await;
        let id = h.create(&name, json!({})).await;
        let detail = h.wait_finished(id).await;
        assert_eq!(detail.task.status, TaskStatus::Error, "{name}");
        let downstream = shape.descendants(&failing);
        for step in &detail.steps {
            let expected = if step.name == failing {
                StepStatus::Error
            } else if downstream.contains(&step.name) {
                StepStatus::Pending
            } else {
                StepStatus::Complete
            };
            assert_eq!(step.status, expected, "{name}: {}", step.name);
            if expected == StepStatus::Pending {
                assert_eq!(step.attempts, 0, "{name}: {} never started", step.name);
            }
        }
        let failed = detail
            .steps
            .iter()
            .find(|s| s.name == failing)
            .expect("failing step");
        let error = failed.error.as_ref().expect("error recorded");
        assert!(
            error.message.contains("fail_times") && !error.retryable,
            "{error:?}"
        );
        assert_eq!(failed.attempts, 1, "a permanent error is not retried");
        let history = tasker::store::step_errors(h.store.reader(), failed.id)
            .await
            .expect("errors");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].kind, "handler");
    }
    h.stop().await;
}

async fn retry_then_succeed(db: &TestDb) {
    let h = Harness::start(db).await;
    for shape in shapes::all() {
        let flaky = shape.middle().to_owned();
        let body = "handler: fail_times\nconfig: {times: 2}\nretry: {max_attempts: 3, backoff_ms: 40, multiplier: 2.0, jitter: false}";
        let special = HashMap::from([(flaky.as_str(), body)]);
        let name = format!("{}_flaky", shape.name);
        h.register(&shape.yaml(&name, &special)).await;
        let id = h.create(&name, json!({})).await;
        let detail = h.wait_finished(id).await;
        assert_eq!(detail.task.status, TaskStatus::Complete, "{name}");
        let step = detail.steps.iter().find(|s| s.name == flaky).expect("flaky step");
        assert_eq!(step.attempts, 3, "{name}");
        assert!(step.error.is_none(), "a completed step shows no error");
        let transitions = h.tasker.step_transitions(&[step.id]).await.expect("transitions");
        let at = |to: &str, attempt: i32| {
            transitions
                .iter()
                .find(|(_, t)| t.to == to && t.attempt == Some(attempt))
                .map(|(_, t)| t.at)
                .unwrap_or_else(|| panic!("{name}: no {to} for attempt {attempt}: {transitions:#?}"))
        };
        let first_wait = at("IN_PROGRESS", 2) - at("WAITING_FOR_RETRY", 1);
        let second_wait = at("IN_PROGRESS", 3) - at("WAITING_FOR_RETRY", 2);
        assert!(
            first_wait.num_milliseconds() >= 40,
            "{name}: first backoff {first_wait}"
        );
        assert!(
            second_wait.num_milliseconds() >= 80,
            "{name}: second backoff {second_wait}"
        );
        assert!(
            second_wait.num_milliseconds() < 1_000,
            "{name}: retry timer woke late: {second_wait}"
        );
    }
    h.stop().await;
}

crate::on_both_backends! {
    progress_names_the_tasks_still_unfinished_and_the_window_of_the_rest => progress_window;
}

async fn progress_window(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register("name: quick\nsteps:\n  - {name: a, handler: noop}\n")
        .await;
    // An external step nobody claims keeps its task unfinished.
    h.register("name: waiting\nsteps:\n  - {name: a, handler: nobody_claims, external: true}\n")
        .await;
    let done = h.create("quick", json!({})).await;
    let open = h.create("waiting", json!({})).await;
    let unknown = uuid::Uuid::now_v7();
    let finished = h.wait_finished(done).await;
    let p = tasker::store::progress(h.tasker.store().reader(), &[done, open, unknown])
        .await
        .expect("reads");
    assert_eq!(p.unfinished.len(), 2, "{:?}", p.unfinished);
    assert!(p.unfinished.contains(&open) && p.unfinished.contains(&unknown));
    assert_eq!(p.last_finished, finished.task.completed_at);
    assert_eq!(p.first_created, Some(finished.task.created_at));
    let (count, _, _) = tasker::store::finished_window(h.tasker.store().reader(), &[done, open])
        .await
        .expect("reads");
    assert_eq!(count, 1);
}

/// With far more tasks in flight than the engine caches contexts for, the
/// cache is dropped again and again, also between a batch finding a task in it
/// and starting that task's steps: no step may fail to start for that.
async fn small_task_cache(db: &TestDb) {
    let options = tasker::engine::Options {
        task_cache: 3,
        ..crate::support::test_engine_options()
    };
    let h = Harness::start_with(db, tasker::handlers::HandlerRegistry::with_builtins(), options).await;
    h.register(
        "name: wide
steps:
  - {name: a, handler: noop}
  - {name: b, handler: noop, depends_on: [a]}
  - {name: c, handler: noop, depends_on: [a]}
  - {name: d, handler: noop, depends_on: [b, c]}
",
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(h.create("wide", json!({"i": i})).await);
    }
    for id in ids {
        let detail = h.wait_finished(id).await;
        assert_eq!(detail.task.status, TaskStatus::Complete);
        for step in &detail.steps {
            assert_eq!(step.attempts, 1, "{} was started more than once", step.name);
        }
    }
    let stats = h.engine.stats();
    assert_eq!(stats.failed.load(std::sync::atomic::Ordering::Relaxed), 0);
    h.stop().await;
}
