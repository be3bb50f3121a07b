//! Concurrency limits: a group (template or step, and the key's value) never
//! has more than its limit running, checked from the transition audit, also
//! with two engines on one database; groups are served in turn; the cancel
//! strategies cancel with a reason; bad keys are refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tasker::domain::{StepStatus, TaskStatus};
use tasker::engine::{Engine, SystemClock};
use tasker::events::EventBus;
use tasker::handlers::HandlerRegistry;
use tasker::service::{ClaimRequest, CreateTask, Error};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{
    Harness, Pairs, Runs, TestDb, most_at_once, open_store, step_runs, test_engine_options, wait_all_complete,
};

crate::on_both_backends! {
    fifty_tasks_with_a_step_limit_of_two_per_key_never_run_more_than_two_per_key_on_two_engines => step_limit;
    a_queued_key_with_one_task_starts_before_the_twentieth_task_of_a_busy_key => round_robin;
    cancel_newest_cancels_the_new_task_and_cancel_in_progress_the_running_one => cancel_strategies;
    a_grouped_external_step_waits_for_a_free_slot_and_says_so => worker_gate;
    keys_that_are_not_valid_or_do_not_evaluate_are_refused_and_nothing_is_stored => bad_keys;
}

const STEP_LIMIT: &str = "name: sync
steps:
  - {name: prepare, handler: noop}
  - name: call_api
    handler: pairs
    config: {ms: 15, key: customer}
    depends_on: [prepare]
    concurrency: {key: context.customer, limit: 2}
  - {name: finish, handler: noop, depends_on: [call_api]}
";

async fn create(h: &Harness, name: &str, context: Value) -> Result<Uuid, Error> {
    let input = CreateTask {
        name: name.into(),
        context,
        ..CreateTask::default()
    };
    h.tasker.create_task(input).await.map(|c| c.task.id)
}

async fn step_limit(db: &TestDb) {
    // The first run of each customer waits for a second to start, so the
    // limit of two is seen used without depending on timing.
    let (mine, theirs) = (HandlerRegistry::with_builtins(), HandlerRegistry::with_builtins());
    Pairs::install(&[&mine, &theirs]);
    let h = Harness::start_with(db, mine, test_engine_options()).await;
    h.register(STEP_LIMIT).await;
    // A second engine on the same database competes for the same groups.
    let store = open_store(db).await;
    let other = Engine::new(
        store,
        theirs,
        EventBus::new(1_000),
        Arc::new(SystemClock),
        test_engine_options(),
    );
    let cancel = CancellationToken::new();
    let second = tokio::spawn(other.run(cancel.clone()));
    let mut ids = Vec::new();
    let mut keys = HashMap::new();
    for i in 0..50 {
        let customer = format!("c{}", i % 3);
        let id = create(&h, "sync", json!({"customer": customer}))
            .await
            .expect("created");
        keys.insert(id, customer);
        ids.push(id);
    }
    wait_all_complete(&h.tasker, &ids, Duration::from_secs(120)).await;
    cancel.cancel();
    second.await.expect("second engine stops");
    for id in &ids {
        let history = h.tasker.task_transitions(*id).await.expect("audit");
        // A step waiting at its gate keeps its task open: never a passing ERROR.
        assert!(history.iter().all(|t| t.to != "ERROR"), "task {id}: {history:?}");
    }
    let most = most_at_once(&step_runs(&h, &ids, "call_api", &keys).await);
    assert_eq!(most.len(), 3, "{most:?}");
    for (group, n) in &most {
        assert!(*n <= 2, "group {group} ran {n} steps at once");
    }
    assert!(most.values().any(|n| *n == 2), "the limit was used: {most:?}");
    h.stop().await;
}

const TASK_LIMIT: &str = "name: report
concurrency: {key: context.customer, limit: 1}
steps:
  - {name: build, handler: sleep, config: {ms: 10}}
";

async fn round_robin(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(TASK_LIMIT).await;
    let mut busy = Vec::new();
    for _ in 0..20 {
        busy.push(
            create(&h, "report", json!({"customer": "busy"}))
                .await
                .expect("created"),
        );
    }
    let second = h.tasker.task(busy[1]).await.expect("read").expect("task");
    if second.status == TaskStatus::Pending {
        let reason = second.queue_reason(Utc::now()).unwrap_or_default();
        assert!(reason.contains("report:busy"), "{reason}");
    }
    let quiet = create(&h, "report", json!({"customer": "quiet"}))
        .await
        .expect("created");
    let mut all = busy.clone();
    all.push(quiet);
    wait_all_complete(&h.tasker, &all, Duration::from_secs(120)).await;
    let started = |id: Uuid| {
        let tasker = h.tasker.clone();
        async move {
            tasker
                .task_transitions(id)
                .await
                .expect("audit")
                .into_iter()
                .find(|t| t.to == "IN_PROGRESS")
                .map(|t| t.at)
                .expect("started")
        }
    };
    let quiet_start = started(quiet).await;
    let last_busy_start = started(busy[19]).await;
    assert!(
        quiet_start < last_busy_start,
        "quiet started at {quiet_start}, after the busy key's 20th at {last_busy_start}"
    );
    let mut runs = Runs::new();
    for id in &busy {
        let history = h.tasker.task_transitions(*id).await.expect("audit");
        let start = history.iter().find(|t| t.to == "IN_PROGRESS").expect("start").at;
        let end = history.iter().find(|t| t.to == "COMPLETE").expect("end").at;
        runs.entry("busy".into()).or_default().push((start, end));
    }
    assert_eq!(most_at_once(&runs)["busy"], 1);
    h.stop().await;
}

const EXTERNAL_TASK: &str = "name: deploy
concurrency: {key: context.env, limit: 1, strategy: STRATEGY}
steps:
  - {name: roll_out, handler: deployer, external: true}
";

async fn cancel_strategies(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(&EXTERNAL_TASK.replace("STRATEGY", "cancel_newest"))
        .await;
    let first = create(&h, "deploy", json!({"env": "prod"}))
        .await
        .expect("created");
    let status = |id: Uuid| {
        let tasker = h.tasker.clone();
        async move { tasker.task(id).await.expect("read").expect("task").status }
    };
    assert_eq!(status(first).await, TaskStatus::InProgress, "admitted at once");
    let created = h
        .tasker
        .create_task(CreateTask {
            name: "deploy".into(),
            context: json!({"env": "prod"}),
            ..CreateTask::default()
        })
        .await
        .expect("created");
    assert_eq!(
        created.task.status,
        TaskStatus::Cancelled,
        "the newest is cancelled"
    );
    let history = h.tasker.task_transitions(created.task.id).await.expect("audit");
    let reason = history.last().and_then(|t| t.reason.clone()).unwrap_or_default();
    assert!(
        reason.contains("deploy:prod") && reason.contains("cancel_newest"),
        "{reason}"
    );
    let other_env = create(&h, "deploy", json!({"env": "staging"}))
        .await
        .expect("created");
    assert_eq!(
        status(other_env).await,
        TaskStatus::InProgress,
        "another key has its own slot"
    );
    assert_eq!(status(first).await, TaskStatus::InProgress);

    // The template's next version supersedes running tasks instead.
    h.tasker
        .register_template(
            &format!(
                "version: 0.2.0\n{}",
                EXTERNAL_TASK.replace("STRATEGY", "cancel_in_progress")
            ),
            false,
        )
        .await
        .expect("registers");
    let newer = create(&h, "deploy", json!({"env": "prod"}))
        .await
        .expect("created");
    assert_eq!(status(newer).await, TaskStatus::InProgress);
    assert_eq!(
        status(first).await,
        TaskStatus::Cancelled,
        "the running one made room"
    );
    let history = h.tasker.task_transitions(first).await.expect("audit");
    let reason = history.last().and_then(|t| t.reason.clone()).unwrap_or_default();
    assert!(reason.contains("make room"), "{reason}");
    h.stop().await;
}

const GROUPED_EXTERNAL: &str = "name: charge
steps:
  - name: call_psp
    handler: psp
    external: true
    concurrency: {key: context.merchant, limit: 1}
";

async fn worker_gate(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(GROUPED_EXTERNAL).await;
    let a = create(&h, "charge", json!({"merchant": "m1"}))
        .await
        .expect("created");
    let b = create(&h, "charge", json!({"merchant": "m1"}))
        .await
        .expect("created");
    let claim = || {
        h.tasker.claim_steps(ClaimRequest {
            worker_id: "w".into(),
            handlers: vec!["psp".into()],
            limit: 10,
            lease_seconds: 60,
        })
    };
    let first = claim().await.expect("claims");
    assert_eq!(first.len(), 1, "one slot: {first:?}");
    assert_eq!(first[0].step.task_id, a, "oldest first");
    assert!(claim().await.expect("claims").is_empty(), "the group is full");
    let waiting = h.tasker.task_detail(b).await.expect("read").expect("task");
    assert_eq!(waiting.steps[0].status, StepStatus::Pending);
    assert_eq!(
        waiting.steps[0].waiting_for(Utc::now()),
        Some(tasker::domain::waiting::WaitingFor::Concurrency)
    );
    h.tasker
        .complete_step(first[0].step.id, first[0].lease_token, None)
        .await
        .expect("completes");
    let next = claim().await.expect("claims");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].step.task_id, b);
    assert_eq!(next[0].attempt, 1, "waiting used no attempt");
    h.stop().await;
}

async fn bad_keys(db: &TestDb) {
    let h = Harness::start(db).await;
    for (yaml, path) in [
        (
            "name: x\nconcurrency: {key: 'context.(', limit: 1}\nsteps: [{name: a, handler: noop}]\n",
            "concurrency.key",
        ),
        (
            "name: x\nconcurrency: {key: order.id, limit: 1}\nsteps: [{name: a, handler: noop}]\n",
            "concurrency.key",
        ),
        (
            "name: x\nconcurrency: {limit: 0}\nsteps: [{name: a, handler: noop}]\n",
            "concurrency.limit",
        ),
        (
            "name: x\nsteps: [{name: a, handler: noop, concurrency: {limit: 1, strategy: cancel_newest}}]\n",
            "steps[0].concurrency.strategy",
        ),
    ] {
        let err = h.tasker.register_template(yaml, false).await.expect_err(path);
        assert!(matches!(err, Error::Template(_)), "{err:?}");
        assert!(err.to_string().contains(path), "{path}: {err}");
    }
    assert!(
        h.tasker.list_templates(None).await.expect("list").is_empty(),
        "nothing stored"
    );
    h.register(TASK_LIMIT).await;
    let err = create(&h, "report", json!({"client": "c"}))
        .await
        .expect_err("no customer");
    assert!(matches!(err, Error::BadInput { .. }), "{err:?}");
    assert!(err.to_string().contains("concurrency.key"), "{err}");
    let stored = h
        .tasker
        .count_tasks(&tasker::store::TaskQuery::default())
        .await
        .expect("count");
    assert_eq!(stored, 0, "nothing stored");
    h.stop().await;
}
