//! SIGTERM: a replica stops claiming, lets running attempts finish within its
//! grace period, hands back the leases of those that do not, and exits 0.

use std::process::{Child, ExitStatus};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use serde_json::json;
use tasker::domain::StepStatus;
use tasker::service::{CreateTask, Tasker};
use uuid::Uuid;

use crate::restart::{serve, serve_with};
use crate::support::{TestDb, open_store, services, wait_all_complete};

crate::on_both_backends! {
    sigterm_lets_running_attempts_finish_claims_nothing_more_and_exits_0 => finishes_within_grace;
    sigterm_past_the_grace_period_hands_running_steps_back_at_once => releases_after_grace;
}

/// Register a chain whose middle step sleeps `ms` and create `count` tasks.
async fn chains(tasker: &Tasker, ms: u64, count: usize) -> Vec<Uuid> {
    let template = format!(
        "name: term_chain
steps:
  - {{name: a, handler: noop}}
  - {{name: b, handler: sleep, config: {{ms: {ms}}}, depends_on: [a]}}
  - {{name: c, handler: noop, depends_on: [b]}}
"
    );
    tasker
        .register_template(&template, false)
        .await
        .expect("registers");
    let mut ids = Vec::new();
    for i in 0..count {
        let input = CreateTask {
            name: "term_chain".into(),
            context: json!({"i": i}),
            ..CreateTask::default()
        };
        ids.push(tasker.create_task(input).await.expect("created").task.id);
    }
    ids
}

/// The `b` steps running now.
async fn running_b(tasker: &Tasker, ids: &[Uuid]) -> Vec<Uuid> {
    let mut running = Vec::new();
    for id in ids {
        let detail = tasker.task_detail(*id).await.expect("read").expect("exists");
        running.extend(
            detail
                .steps
                .iter()
                .filter(|s| s.name == "b" && s.status == StepStatus::InProgress)
                .map(|s| s.id),
        );
    }
    running
}

/// Wait until at least `n` sleeps run, then SIGTERM the server; the running ones.
async fn terminate_mid_run(tasker: &Tasker, ids: &[Uuid], server: &Child, n: usize) -> Vec<Uuid> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let running = loop {
        let running = running_b(tasker, ids).await;
        if running.len() >= n {
            break running;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never started the sleeps"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let pid = Pid::from_child(server);
    kill_process(pid, Signal::TERM).expect("SIGTERM");
    running
}

/// The server's exit status, waiting at most `limit`.
async fn exit_within(server: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(status) = server.try_wait().expect("wait") {
            return status;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = server.kill();
            panic!("the server did not exit within {limit:?} of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn finishes_within_grace(db: &TestDb) {
    let tasker = services(open_store(db).await, 64);
    let ids = chains(&tasker, 1500, 10).await;
    let templates = tempfile::tempdir().expect("empty template dir");
    let mut server = serve_with(
        db,
        templates.path(),
        &[("TASKER_ENGINE__SHUTDOWN_GRACE_SECONDS", "20")],
    );
    let running = terminate_mid_run(&tasker, &ids, &server, 3).await;
    let status = exit_within(&mut server, Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status:?}");

    let mut finished_in_grace = 0;
    for id in &ids {
        let detail = tasker.task_detail(*id).await.expect("read").expect("exists");
        let step = |name: &str| detail.steps.iter().find(|s| s.name == name).expect("step");
        let (b, c) = (step("b"), step("c"));
        assert!(
            detail.steps.iter().all(|s| s.status != StepStatus::InProgress),
            "nothing is left leased: {:#?}",
            detail.steps
        );
        if running.contains(&b.id) {
            finished_in_grace += 1;
            assert_eq!(
                b.status,
                StepStatus::Complete,
                "a running attempt finished in the grace period"
            );
            assert_eq!(b.attempts, 1, "and ran once");
        }
        if b.status == StepStatus::Complete && c.status != StepStatus::Complete {
            assert_eq!(c.attempts, 0, "nothing was claimed after SIGTERM");
        }
    }
    assert!(finished_in_grace >= 3);
    let unfinished = ids.len()
        - futures::future::join_all(ids.iter().map(|id| tasker.task(*id)))
            .await
            .into_iter()
            .filter(|t| {
                t.as_ref()
                    .expect("read")
                    .as_ref()
                    .is_some_and(|t| t.status.is_finished())
            })
            .count();
    assert!(unfinished > 0, "the terminated server left work for others");
}

async fn releases_after_grace(db: &TestDb) {
    let store = open_store(db).await;
    let tasker = services(store.clone(), 64);
    let ids = chains(&tasker, 4000, 6).await;
    let templates = tempfile::tempdir().expect("empty template dir");
    // Leases far longer than the test: only a release can free the steps in time.
    let long_lease = [
        ("TASKER_ENGINE__SHUTDOWN_GRACE_SECONDS", "1"),
        ("TASKER_ENGINE__LEASE_SECONDS", "600"),
    ];
    let mut server = serve_with(db, templates.path(), &long_lease);
    let running = terminate_mid_run(&tasker, &ids, &server, 3).await;
    let status = exit_within(&mut server, Duration::from_secs(10)).await;
    assert!(status.success(), "exit status {status:?}");
    for step_id in &running {
        let errors = tasker::store::step_errors(store.reader(), *step_id)
            .await
            .expect("errors");
        assert_eq!(
            errors.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["shutdown"],
            "the stopped attempt was handed back as a shutdown failure"
        );
    }
    assert!(
        running_b(&tasker, &ids).await.is_empty(),
        "no step is left leased"
    );

    // Another replica (its own short leases) takes every step over at once.
    let mut next = serve(db, templates.path());
    wait_all_complete(&tasker, &ids, Duration::from_secs(60)).await;
    next.kill().expect("stop");
    next.wait().expect("reaped");
    for step_id in &running {
        let errors = tasker::store::step_errors(store.reader(), *step_id)
            .await
            .expect("errors");
        assert!(
            errors.iter().all(|e| e.kind == "shutdown"),
            "no lease had to expire: {errors:?}"
        );
    }
}
