//! Three `tasker serve` replicas on one PostgreSQL, events fanned out through
//! Redis: one replica is SIGKILLed mid-run and restarted later. Every task
//! completes, no step completes twice, and a subscription held on a surviving
//! replica sees every task finish, whichever replica finished it.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use tasker::domain::TaskStatus;
use tasker::service::CreateTask;
use uuid::Uuid;

use crate::support::redis_url;
use crate::support::{Server, TestDb, WsClient, completed_once, open_store, services};

const TASKS: usize = 500;
const MAX_CONCURRENCY: usize = 48;

const TEMPLATES: [&str; 3] = [
    "name: c_chain
steps:
  - {name: a, handler: noop}
  - {name: b, handler: sleep, config: {ms: 1500}, depends_on: [a]}
  - {name: c, handler: noop, depends_on: [b]}
",
    "name: c_diamond
steps:
  - {name: a, handler: noop}
  - {name: b, handler: sleep, config: {ms: 1000}, depends_on: [a]}
  - {name: c, handler: sleep, config: {ms: 500}, depends_on: [a]}
  - {name: d, handler: noop, depends_on: [b, c]}
",
    "name: c_fanout
steps:
  - {name: a, handler: noop}
  - {name: f1, handler: sleep, config: {ms: 800}, depends_on: [a]}
  - {name: f2, handler: sleep, config: {ms: 800}, depends_on: [a]}
  - {name: f3, handler: sleep, config: {ms: 800}, depends_on: [a]}
  - {name: f4, handler: sleep, config: {ms: 800}, depends_on: [a]}
  - {name: z, handler: noop, depends_on: [f1, f2, f3, f4]}
",
];

fn replica(db: &TestDb, redis: &str, prefix: &str) -> Server {
    Server::start(
        &[],
        &["--database-url", &db.url],
        &[
            ("TASKER_REDIS__URL", redis),
            ("TASKER_REDIS__KEY_PREFIX", prefix),
            // Short enough to recover the killed replica's steps within the
            // test.
            // Healthy steps must keep their leases throughout: renewals
            // used to deadlock with engine turns, and 800 ms steps lost 3 s
            // leases three times running.
            ("TASKER_ENGINE__LEASE_SECONDS", "3"),
            ("TASKER_ENGINE__POLL_INTERVAL_MS", "100"),
            // Few enough handler slots that the sleeps outlast the restart,
            // so the restarted replica finds work waiting.
            ("TASKER_ENGINE__MAX_CONCURRENCY", &MAX_CONCURRENCY.to_string()),
            ("RUST_LOG", "warn,tasker=info"),
        ],
    )
}

/// The `redis` part of a replica's /health/status.
async fn relay_status(client: &reqwest::Client, base: &str) -> serde_json::Value {
    let status: serde_json::Value = client
        .get(format!("{base}/health/status"))
        .send()
        .await
        .expect("status answers")
        .json()
        .await
        .expect("JSON");
    status["redis"].clone()
}

#[tokio::test]
async fn three_replicas_one_killed_and_restarted_finish_every_task_once_and_keep_subscriptions_fed() {
    let Some(redis) = redis_url() else { return };
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = open_store(&db).await;
    let tasker = services(store, 64);
    for yaml in TEMPLATES {
        tasker.register_template(yaml, false).await.expect("registers");
    }
    // All the work is there before any replica starts: the run lasts long
    // enough for the kill to land in its middle.
    let mut ids = Vec::with_capacity(TASKS);
    for i in 0..TASKS {
        let name = ["c_chain", "c_diamond", "c_fanout"][i % 3];
        let input = CreateTask {
            name: name.into(),
            context: json!({"i": i}),
            ..CreateTask::default()
        };
        ids.push(tasker.create_task(input).await.expect("created").task.id);
    }

    let prefix = format!("tasker_test_{}", Uuid::new_v4().simple());
    let mut replicas: Vec<Server> = (0..3).map(|_| replica(&db, &redis, &prefix)).collect();
    tasker::install_tls_provider();
    let client = reqwest::Client::new();
    for r in &replicas {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while relay_status(&client, &r.base).await["status"] != "ok" {
            assert!(
                tokio::time::Instant::now() < deadline,
                "relay of {} never connected",
                r.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut ws = WsClient::connect(&replicas[0].base).await;
    ws.subscribe(
        "done",
        "subscription { events(names: [\"task.completed\", \"task.failed\"]) { name taskId } }",
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Kill the third replica while work is spread over all three.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    replicas[2].child.kill().expect("SIGKILL");
    replicas[2].child.wait().expect("reaped");
    let killed_at = chrono::Utc::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    replicas[2] = replica(&db, &redis, &prefix);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut finished_after_kill = HashSet::new();
    for id in &ids {
        let task = loop {
            let task = tasker.task(*id).await.expect("read").expect("exists");
            if task.status.is_finished() {
                break task;
            }
            assert!(tokio::time::Instant::now() < deadline, "task {id} never finished");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if task.status != TaskStatus::Complete {
            let detail = tasker.task_detail(*id).await.expect("read").expect("exists");
            let mut errors = Vec::new();
            for step in &detail.steps {
                errors.extend(
                    tasker::store::step_errors(tasker.store().reader(), step.id)
                        .await
                        .expect("errors")
                        .into_iter()
                        .map(|e| (step.name.clone(), e.attempt, e.kind, e.message)),
                );
            }
            panic!("task {id} ended {:?}: {errors:#?}", task.status);
        }
        // Finished by a live replica: its event must reach the subscription.
        // (What the killed one committed but had not yet relayed dies with it.)
        if task
            .completed_at
            .is_some_and(|at| at > killed_at + chrono::Duration::milliseconds(200))
        {
            finished_after_kill.insert(id.to_string());
        }
    }
    assert!(
        finished_after_kill.len() >= TASKS / 10,
        "the kill came too late to matter: {} tasks finished after it",
        finished_after_kill.len()
    );
    let mut seen = HashSet::new();
    while !finished_after_kill.is_subset(&seen) {
        let Ok(message) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await else {
            let missing = finished_after_kill.difference(&seen).count();
            panic!(
                "{missing} of {} tasks finished after the kill never reached the subscription",
                finished_after_kill.len()
            );
        };
        let event = &message["payload"]["data"]["events"];
        assert_eq!(event["name"], "task.completed", "{message}");
        if let Some(id) = event["taskId"].as_str() {
            seen.insert(id.to_owned());
        }
    }
    let restarted = relay_status(&client, &replicas[2].base).await;
    assert!(
        restarted["events_published"].as_u64() > Some(10),
        "the restarted replica took work and relayed its events: {restarted}"
    );

    let mut recovered = 0;
    for id in &ids {
        let detail = completed_once(&tasker, *id).await;
        assert_eq!(detail.task.status, TaskStatus::Complete);
        for step in &detail.steps {
            recovered += usize::from(step.attempts > 1);
        }
    }
    // Only the killed replica's attempts run again: it held leases for at
    // most its handler slots plus as many finished attempts not yet recorded.
    // Healthy replicas keep theirs.
    assert!(
        (1..=2 * MAX_CONCURRENCY).contains(&recovered),
        "{recovered} steps ran more than once; the killed replica held at most {}",
        2 * MAX_CONCURRENCY
    );
    drop(replicas);
}
