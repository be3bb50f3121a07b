//! Priorities and delayed starts: claims take more urgent work first and then
//! older work, ageing lifts waiting low-priority work, and a task with a later
//! start is SCHEDULED, starts no step before its time and can be cancelled.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tasker::domain::TaskStatus;
use tasker::engine::Clock;
use tasker::events::EventBus;
use tasker::graphql;
use tasker::handlers::HandlerRegistry;
use tasker::service::{ClaimRequest, CreateTask, Settings, Tasker};
use tasker::store::storage_time;
use uuid::Uuid;

use crate::support::{Harness, TestApp, TestDb, codes, open_store, run, test_config};

crate::on_both_backends! {
    claims_take_more_urgent_tasks_first_then_older_ones => urgent_first;
    a_low_priority_step_that_waited_past_its_ageing_goes_before_newer_urgent_work => ageing;
    a_delayed_task_is_scheduled_until_its_time_then_runs => delayed_start;
    a_scheduled_task_can_be_cancelled_before_it_starts => cancel_scheduled;
    bad_priorities_and_start_times_are_refused_and_nothing_is_stored => bad_flow_inputs;
}

const EXTERNAL: &str = "name: job
priority: 3
steps:
  - {name: work, handler: batch_job, external: true}
";

/// A clock tests move by hand.
struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().expect("clock");
        *now += chrono::Duration::from_std(by).expect("duration");
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

async fn services_at(db: &TestDb, clock: Arc<ManualClock>) -> Tasker {
    let store = open_store(db).await;
    let tasker = Tasker::new(
        store,
        HandlerRegistry::with_builtins(),
        EventBus::new(1_000),
        clock,
        Settings::default(),
    );
    tasker
        .register_template(EXTERNAL, false)
        .await
        .expect("registers");
    tasker
}

async fn create_with(tasker: &Tasker, priority: Option<i64>) -> Uuid {
    let input = CreateTask {
        name: "job".into(),
        context: json!({}),
        priority,
        ..CreateTask::default()
    };
    tasker.create_task(input).await.expect("created").task.id
}

/// The tasks of the next `n` claims of one step each, in claim order.
async fn claim_order(tasker: &Tasker, n: usize) -> Vec<Uuid> {
    let mut order = Vec::new();
    for _ in 0..n {
        let claimed = tasker
            .claim_steps(ClaimRequest {
                worker_id: "w".into(),
                handlers: vec!["batch_job".into()],
                limit: 1,
                lease_seconds: 60,
            })
            .await
            .expect("claims");
        assert_eq!(claimed.len(), 1, "a step was claimable");
        order.push(claimed[0].step.task_id);
    }
    order
}

fn start() -> DateTime<Utc> {
    storage_time(Utc::now())
}

async fn urgent_first(db: &TestDb) {
    let clock = Arc::new(ManualClock(Mutex::new(start())));
    let tasker = services_at(db, Arc::clone(&clock)).await;
    let mut ids = Vec::new();
    for priority in [Some(1), Some(2), Some(4), None, Some(2)] {
        ids.push(create_with(&tasker, priority).await);
        clock.advance(Duration::from_millis(1));
    }
    let stored = tasker.task(ids[3]).await.expect("read").expect("task");
    assert_eq!(stored.priority.get(), 3, "the template's priority applies");
    let [low, normal, urgent, template, normal_later] = ids[..] else {
        unreachable!()
    };
    assert_eq!(
        claim_order(&tasker, 5).await,
        vec![urgent, template, normal, normal_later, low]
    );
}

async fn ageing(db: &TestDb) {
    let clock = Arc::new(ManualClock(Mutex::new(start())));
    let tasker = services_at(db, Arc::clone(&clock)).await;
    // Default ageing is a minute a level: after 100 s a priority-1 step has
    // not yet made up three levels, after 200 s it has.
    let low = create_with(&tasker, Some(1)).await;
    clock.advance(Duration::from_secs(100));
    let urgent = create_with(&tasker, Some(4)).await;
    assert_eq!(claim_order(&tasker, 1).await, vec![urgent]);
    clock.advance(Duration::from_secs(100));
    let urgent_again = create_with(&tasker, Some(4)).await;
    assert_eq!(claim_order(&tasker, 2).await, vec![low, urgent_again]);
}

const TWO_STEPS: &str = "name: later
steps:
  - {name: first, handler: noop}
  - {name: second, handler: noop, depends_on: [first]}
";

const CREATE: &str = "mutation($input: CreateTaskInput!) {
  createTask(input: $input) {
    task { id status priority runAt queueReason steps { name status waitingFor nextAttemptAt } }
  }
}";

async fn delayed_start(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(TWO_STEPS).await;
    let schema = graphql::schema(h.tasker.clone(), &graphql::Settings::default());
    let body = run(
        &schema,
        &h.tasker,
        CREATE,
        json!({"input": {"name": "later", "context": {}, "delaySeconds": 1, "priority": 4}}),
    )
    .await;
    let task = &body["data"]["createTask"]["task"];
    assert_eq!(task["status"], "SCHEDULED", "{body}");
    assert_eq!(task["priority"], 4);
    let run_at: DateTime<Utc> = task["runAt"].as_str().expect("runAt").parse().expect("time");
    assert!(
        task["queueReason"]
            .as_str()
            .is_some_and(|r| r.contains("scheduled")),
        "{task}"
    );
    assert_eq!(task["steps"][0]["status"], "ENQUEUED");
    assert_eq!(task["steps"][0]["waitingFor"], "SCHEDULE");
    assert_eq!(task["steps"][1]["waitingFor"], Value::Null);

    let id: Uuid = task["id"].as_str().expect("id").parse().expect("uuid");
    let detail = h.wait_finished(id).await;
    assert_eq!(detail.task.status, TaskStatus::Complete);
    let first = detail.steps.iter().find(|s| s.name == "first").expect("first");
    let started = first.started_at.expect("started");
    assert!(started >= run_at, "started {started} before its runAt {run_at}");
    let history: Vec<(Option<String>, String)> = h
        .tasker
        .task_transitions(id)
        .await
        .expect("transitions")
        .into_iter()
        .map(|t| (t.from, t.to))
        .collect();
    let expected = [
        (None, "PENDING"),
        (Some("PENDING"), "SCHEDULED"),
        (Some("SCHEDULED"), "IN_PROGRESS"),
        (Some("IN_PROGRESS"), "COMPLETE"),
    ];
    let expected: Vec<(Option<String>, String)> = expected
        .iter()
        .map(|(f, t)| (f.map(str::to_owned), (*t).to_owned()))
        .collect();
    assert_eq!(history, expected);
    h.stop().await;
}

async fn cancel_scheduled(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(TWO_STEPS).await;
    let schema = graphql::schema(h.tasker.clone(), &graphql::Settings::default());
    let run_at = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let body = run(
        &schema,
        &h.tasker,
        CREATE,
        json!({"input": {"name": "later", "context": {}, "runAt": run_at}}),
    )
    .await;
    let task = &body["data"]["createTask"]["task"];
    assert_eq!(task["status"], "SCHEDULED", "{body}");
    let id = task["id"].as_str().expect("id").to_owned();
    let cancelled = run(
        &schema,
        &h.tasker,
        "mutation($id: ID!) { cancelTask(id: $id, reason: \"not needed\") { status queueReason steps { status } } }",
        json!({"id": id}),
    )
    .await;
    let task = &cancelled["data"]["cancelTask"];
    assert_eq!(task["status"], "CANCELLED", "{cancelled}");
    assert_eq!(task["queueReason"], Value::Null);
    assert!(
        task["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .all(|s| s["status"] == "CANCELLED"),
        "{task}"
    );
    let detail = h
        .tasker
        .task_detail(id.parse().expect("uuid"))
        .await
        .expect("read")
        .expect("task");
    assert!(
        detail
            .steps
            .iter()
            .all(|s| s.attempts == 0 && s.started_at.is_none())
    );
    h.stop().await;
}

async fn bad_flow_inputs(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(TWO_STEPS).await;
    let schema = graphql::schema(h.tasker.clone(), &graphql::Settings::default());
    let soon = (Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
    let far = (Utc::now() + chrono::Duration::days(20 * 366)).to_rfc3339();
    let cases = [
        (json!({"priority": 0}), "priority"),
        (json!({"priority": 5}), "priority"),
        (json!({"delaySeconds": -1}), "delaySeconds"),
        (json!({"delaySeconds": 400_000_000}), "delaySeconds"),
        (json!({"delaySeconds": 5, "runAt": soon}), "delaySeconds"),
        (json!({"runAt": far}), "runAt"),
    ];
    for (extra, field) in cases {
        let mut input = json!({"name": "later", "context": {}});
        for (k, v) in extra.as_object().expect("object") {
            input[k] = v.clone();
        }
        let body = run(&schema, &h.tasker, CREATE, json!({ "input": input })).await;
        assert_eq!(codes(&body), vec!["BAD_USER_INPUT"], "{extra}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{extra}: {message}");
    }
    let count = run(&schema, &h.tasker, "{ tasks { totalCount } }", json!({})).await;
    assert_eq!(count["data"]["tasks"]["totalCount"], 0, "{count}");
    h.stop().await;
}

#[tokio::test]
async fn rest_creates_a_scheduled_task_with_its_priority_and_start() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    app.tasker
        .register_template(TWO_STEPS, false)
        .await
        .expect("registers");
    let response = reqwest::Client::new()
        .post(format!("{}/tasks", app.base))
        .json(&json!({"name": "later", "priority": 1, "delay_seconds": 3600}))
        .send()
        .await
        .expect("POST /tasks");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let task: Value = response.json().await.expect("json");
    assert_eq!(task["status"], "SCHEDULED", "{task}");
    assert_eq!(task["priority"], 1);
    assert!(task["run_at"].is_string(), "{task}");
    assert!(
        task["queue_reason"]
            .as_str()
            .is_some_and(|r| r.contains("scheduled")),
        "{task}"
    );
    let refused = reqwest::Client::new()
        .post(format!("{}/tasks", app.base))
        .json(&json!({"name": "later", "priority": 9}))
        .send()
        .await
        .expect("POST /tasks");
    assert_eq!(refused.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}
