//! The event catalog end to end: every audit row publishes exactly one event,
//! orchestration and handler events come with it, payloads carry the keys the
//! catalog promises, and the catalog is browsable through GraphQL.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tasker::events::{Event, EventName};
use tasker::graphql;
use tokio::sync::broadcast::Receiver;
use uuid::Uuid;

use crate::support::{Harness, TestApp, TestDb, WsClient, run, test_config};

crate::on_both_backends! {
    every_audit_row_publishes_one_event_with_the_orchestration_events_around_it => lifecycle;
}

const DIAMOND: &str = "name: fan
steps:
  - {name: a, handler: noop}
  - {name: b, handler: echo, depends_on: [a]}
  - {name: c, handler: echo, depends_on: [a]}
  - {name: d, handler: noop, depends_on: [b, c]}
";

/// Every event of task `id` until its finalization is published.
async fn until_finalized(rx: &mut Receiver<Arc<Event>>, id: Uuid) -> Vec<Arc<Event>> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the task finishes in time")
            .expect("no event is missed");
        if event.task_id != Some(id) {
            continue;
        }
        let done = event.name == EventName::WorkflowTaskFinalizationCompleted;
        seen.push(event);
        if done {
            return seen;
        }
    }
}

async fn lifecycle(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(DIAMOND).await;
    let mut rx = h.tasker.events().subscribe();
    let id = h.create("fan", json!({})).await;
    let events = until_finalized(&mut rx, id).await;
    let detail = h.wait_finished(id).await;
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();

    let step_ids: Vec<Uuid> = detail.steps.iter().map(|s| s.id).collect();
    let task_rows = h.tasker.task_transitions(id).await.expect("task audit").len();
    let step_rows = h
        .tasker
        .step_transitions(&step_ids)
        .await
        .expect("step audit")
        .len();
    let state_events = events.iter().filter(|e| e.name.is_state_change()).count();
    assert_eq!(state_events, task_rows + step_rows, "{names:?}");
    assert!(
        events
            .iter()
            .all(|e| e.name.is_state_change() == e.change.is_some())
    );

    let count = |name: &str| names.iter().filter(|n| **n == name).count();
    assert_eq!(count("step.handle"), 4, "one handler call per step: {names:?}");
    assert_eq!(count("step.completed"), 4);
    assert_eq!(count("task.start_requested"), 1);
    assert_eq!(count("workflow.task_started"), 1);
    assert_eq!(count("workflow.task_finalization_started"), 1);
    let position = |name: &str| names.iter().position(|n| *n == name).expect(name);
    assert!(position("task.start_requested") < position("workflow.task_started"));
    assert!(position("workflow.task_finalization_started") < position("task.completed"));
    // Roots at creation, b and c after a, d after both.
    assert!(count("workflow.viable_steps_discovered") >= 3, "{names:?}");
    let handle = events
        .iter()
        .find(|e| e.name == EventName::StepHandle)
        .expect("step.handle");
    assert!(handle.step_id.is_some());
    assert_eq!(handle.payload()["namespace"], "default");

    for event in &events {
        let payload = event.payload();
        let keys: HashSet<&str> = payload
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let declared: HashSet<&str> = event.name.payload_fields().iter().copied().collect();
        assert_eq!(keys, declared, "{}", event.name.as_str());
    }
    h.stop().await;
}

#[tokio::test]
async fn the_catalog_is_browsable_and_documented() {
    let db = TestDb::sqlite();
    let h = Harness::start(&db).await;
    let schema = graphql::schema(h.tasker.clone(), &graphql::Settings::default());
    let all = run(
        &schema,
        &h.tasker,
        "{ eventCatalog { name description payloadFields stateChange } }",
        json!({}),
    )
    .await;
    let entries = all["data"]["eventCatalog"].as_array().expect("catalog");
    assert_eq!(entries.len(), EventName::ALL.len());
    let lease = entries
        .iter()
        .find(|e| e["name"] == "step.lease_expired")
        .expect("listed");
    assert_eq!(lease["stateChange"], true);
    assert!(
        lease["payloadFields"]
            .as_array()
            .expect("fields")
            .contains(&json!("attempt"))
    );

    let steps = run(
        &schema,
        &h.tasker,
        "{ eventCatalog(names: [\"workflow.*\"]) { name } }",
        json!({}),
    )
    .await;
    let names: Vec<&str> = steps["data"]["eventCatalog"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("workflow.")));

    let readme = std::fs::read_to_string("README.md").expect("README");
    for name in EventName::ALL {
        assert!(
            readme.contains(&format!("`{}`", name.as_str())),
            "README lacks {}",
            name.as_str()
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn subscribing_to_an_unknown_event_name_is_refused() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    let mut ws = WsClient::connect(&app.base).await;
    ws.subscribe(
        "bad",
        "subscription { events(names: [\"stepp.*\"]) { name } }",
        json!({}),
    )
    .await;
    let message = ws.next().await;
    assert_eq!(message["payload"]["data"], serde_json::Value::Null, "{message}");
    let error = &message["payload"]["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{message}");
    assert_eq!(error["extensions"]["field"], "names", "{message}");
    app.stop().await;
}

struct Collect(tokio::sync::mpsc::UnboundedSender<Arc<Event>>);

#[async_trait::async_trait]
impl tasker::events::Subscriber for Collect {
    async fn handle(&self, event: Arc<Event>) {
        let _ = self.0.send(event);
    }
}

#[tokio::test]
async fn registries_are_listed_searched_and_publish_their_changes() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    app.tasker
        .subscribers()
        .subscribe(
            "audit_log",
            &["handler.*", "step.completed"],
            Arc::new(Collect(tx)),
            false,
        )
        .expect("subscribes");
    app.tasker
        .handlers()
        .register(Some("payments"), "charge_card", Arc::new(tasker_noop()), false)
        .expect("registers");
    let registered = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(registered.name, EventName::HandlerRegistered);
    assert_eq!(registered.payload()["name"], "payments/charge_card");

    let listed = app
        .post(
            "{ registries { name healthy problems stats { size registrations rejections } } }",
            json!({}),
        )
        .await;
    let registries = listed["data"]["registries"].as_array().expect("list");
    let names: Vec<&str> = registries.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["handlers", "subscribers", "exporters"]);
    assert!(registries.iter().all(|r| r["healthy"] == true), "{listed}");
    // The metrics feed and the subscriber above.
    assert_eq!(registries[1]["stats"]["size"], 2, "{listed}");

    let found = app
        .post(
            "query($q: String!) { searchRegistries(query: $q) { registry name } }",
            json!({"q": "*CHARGE_*"}),
        )
        .await;
    assert_eq!(
        found["data"]["searchRegistries"],
        json!([{"registry": "handlers", "name": "payments/charge_card"}])
    );
    let found = app
        .post(
            "query($q: String!) { searchRegistries(query: $q) { registry name } }",
            json!({"q": "teleme"}),
        )
        .await;
    assert_eq!(
        found["data"]["searchRegistries"],
        json!([{"registry": "subscribers", "name": "telemetry"}])
    );
    let too_long = app
        .post(
            "query($q: String!) { searchRegistries(query: $q) { name } }",
            json!({"q": "x".repeat(257)}),
        )
        .await;
    assert_eq!(crate::support::codes(&too_long), ["BAD_USER_INPUT"], "{too_long}");

    // A refused registration changes nothing and says why.
    let refused = app
        .tasker
        .handlers()
        .register(None, "bad name", Arc::new(tasker_noop()), false);
    assert!(refused.is_err());
    let failed = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(failed.name, EventName::HandlerValidationFailed);
    assert!(
        failed.payload()["error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid name"))
    );

    // The typed subscriber sees only what it asked for.
    app.tasker
        .register_template("name: one\nsteps:\n  - {name: only, handler: noop}\n", false)
        .await
        .expect("registers");
    app.create_task("one", json!({})).await;
    let completed = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(completed.name, EventName::StepCompleted);
    app.stop().await;
}

fn tasker_noop() -> impl tasker::handlers::StepHandler {
    struct Noop;
    #[async_trait::async_trait]
    impl tasker::handlers::StepHandler for Noop {
        async fn handle(
            &self,
            _: tasker::handlers::StepContext,
        ) -> Result<serde_json::Value, tasker::handlers::HandlerError> {
            Ok(serde_json::Value::Null)
        }
    }
    Noop
}

struct Leaky;

#[async_trait::async_trait]
impl tasker::handlers::StepHandler for Leaky {
    async fn handle(
        &self,
        _: tasker::handlers::StepContext,
    ) -> Result<serde_json::Value, tasker::handlers::HandlerError> {
        Err(tasker::handlers::HandlerError::permanent(
            "upstream refused https://bank.test/pay?api_key=abc123&amount=5 with {\"password\": \"hunter2\"}",
        ))
    }
}

#[tokio::test]
async fn sensitive_values_never_reach_published_payloads() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    app.tasker
        .handlers()
        .register(None, "leaky", Arc::new(Leaky), false)
        .expect("registers");
    app.tasker
        .register_template("name: leak\nsteps:\n  - {name: pay, handler: leaky}\n", false)
        .await
        .expect("registers");
    let mut ws = WsClient::connect(&app.base).await;
    ws.subscribe(
        "e",
        "subscription { events(names: [\"step.failed\"]) { payload } }",
        json!({}),
    )
    .await;
    app.create_task("leak", json!({"card": {"number": "4111", "cvv": "123"}}))
        .await;
    let message = ws.next().await;
    let reason = message["payload"]["data"]["events"]["payload"]["reason"]
        .as_str()
        .expect("reason")
        .to_owned();
    assert!(reason.contains("upstream refused"), "{reason}");
    assert!(
        !reason.contains("abc123") && !reason.contains("hunter2"),
        "{reason}"
    );
    assert!(reason.contains("api_key=[FILTERED]&amount=5"), "{reason}");
    app.stop().await;
}
