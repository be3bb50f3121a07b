//! Process-level crash: SIGKILL a `tasker serve` mid-run, start another, and
//! every task still finishes; abandoned attempts come back as new attempts.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tasker::domain::StepStatus;
use tasker::service::CreateTask;

use crate::support::{TestDb, completed_once, open_store, services, wait_all_complete};

crate::on_both_backends! {
    a_server_killed_mid_run_loses_nothing_and_a_restarted_one_finishes_every_task => crash_and_restart;
    a_server_killed_while_steps_wait_for_events_and_sleeps_loses_no_wait => waits_survive;
}

/// `tasker serve` on `db` with short leases and polls.
pub fn serve(db: &TestDb, templates: &std::path::Path) -> Child {
    serve_with(db, templates, &[])
}

/// [`serve`] with extra environment (configuration) variables.
pub fn serve_with(db: &TestDb, templates: &std::path::Path, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tasker"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
            "--templates",
        ])
        .arg(templates)
        .env("TASKER_ENGINE__LEASE_SECONDS", "1")
        .env("TASKER_ENGINE__POLL_INTERVAL_MS", "100")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .envs(env.iter().copied())
        .spawn()
        .expect("tasker serve starts")
}

async fn crash_and_restart(db: &TestDb) {
    let store = open_store(db).await;
    let tasker = services(store.clone(), 64);
    tasker
        .register_template(
            "name: slow_chain
steps:
  - {name: a, handler: noop}
  - {name: b, handler: sleep, config: {ms: 1500}, depends_on: [a]}
  - {name: c, handler: noop, depends_on: [b]}
",
            false,
        )
        .await
        .expect("registers");
    let mut ids = Vec::new();
    for i in 0..20 {
        let input = CreateTask {
            name: "slow_chain".into(),
            context: json!({"i": i}),
            ..CreateTask::default()
        };
        ids.push(tasker.create_task(input).await.expect("created").task.id);
    }
    let templates = tempfile::tempdir().expect("empty template dir");

    let mut first = serve(db, templates.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let running_b = |detail: &tasker::service::TaskDetail| {
        detail
            .steps
            .iter()
            .any(|s| s.name == "b" && s.status == StepStatus::InProgress)
    };
    loop {
        let mut busy = 0;
        for id in &ids {
            busy += usize::from(running_b(
                &tasker.task_detail(*id).await.expect("read").expect("exists"),
            ));
        }
        if busy >= 5 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first server never started the sleeps"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let mut second = serve(db, templates.path());
    wait_all_complete(&tasker, &ids, Duration::from_secs(60)).await;
    second.kill().expect("stop");
    second.wait().expect("reaped");

    let mut recovered = 0;
    for id in &ids {
        let detail = completed_once(&tasker, *id).await;
        for step in &detail.steps {
            if step.attempts > 1 {
                recovered += 1;
                let errors = tasker::store::step_errors(store.reader(), step.id)
                    .await
                    .expect("errors");
                assert!(errors.iter().all(|e| e.kind == "lease_expired"), "{errors:?}");
            }
        }
    }
    assert!(
        recovered >= 5,
        "the killed attempts ran again as new attempts (recovered {recovered})"
    );
}

/// 50 waits (25 sleeps, 25 waits for events) outlive a SIGKILL: events sent
/// before and after the crash are each delivered once, and the sleeps end on
/// time on the next server.
async fn waits_survive(db: &TestDb) {
    let store = open_store(db).await;
    let tasker = services(store.clone(), 64);
    tasker
        .register_template(
            "name: hold
steps:
  - {name: nap, sleep: {ms: 4000}}
  - {name: paid, wait_for: {event: shop.paid, match: event.i == context.i}}
  - {name: done, handler: noop, depends_on: [nap, paid]}
",
            false,
        )
        .await
        .expect("registers");
    let mut ids = Vec::new();
    for i in 0..25 {
        let input = CreateTask {
            name: "hold".into(),
            context: json!({"i": i}),
            ..CreateTask::default()
        };
        ids.push(tasker.create_task(input).await.expect("created").task.id);
    }
    let templates = tempfile::tempdir().expect("empty template dir");
    let mut first = serve(db, templates.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut ends = std::collections::HashMap::new();
    loop {
        ends.clear();
        let mut waiting = 0;
        for id in &ids {
            let detail = tasker.task_detail(*id).await.expect("read").expect("exists");
            for step in detail.steps.iter().filter(|s| s.status == StepStatus::Waiting) {
                waiting += 1;
                if step.name == "nap" {
                    ends.insert(step.id, step.next_attempt_at.expect("the sleep's end"));
                }
            }
        }
        if waiting == 50 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {waiting} of 50 steps began to wait"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..12 {
        tasker
            .send_event("shop.paid", json!({"i": i}), None)
            .await
            .expect("sent");
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    for i in 12..25 {
        tasker
            .send_event("shop.paid", json!({"i": i}), None)
            .await
            .expect("sent");
    }
    let mut second = serve(db, templates.path());
    wait_all_complete(&tasker, &ids, Duration::from_secs(60)).await;
    second.kill().expect("stop");
    second.wait().expect("reaped");
    for id in &ids {
        let detail = completed_once(&tasker, *id).await;
        let nap = detail.steps.iter().find(|s| s.name == "nap").expect("nap");
        let (end, woke) = (ends[&nap.id], nap.completed_at.expect("woke"));
        assert!(woke >= end, "woke at {woke}, before {end}");
        assert!(
            woke - end < chrono::Duration::seconds(1),
            "woke at {woke}, more than a second after {end}"
        );
        let paid = detail.steps.iter().find(|s| s.name == "paid").expect("paid");
        assert_eq!(paid.attempts, 1, "the wait was not run again");
    }
    let events = tasker
        .inbound_events(Some("shop.paid"), 100)
        .await
        .expect("events");
    assert_eq!(events.len(), 25);
    assert!(events.iter().all(|e| e.delivered == 1), "{events:?}");
}
