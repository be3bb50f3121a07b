//! Subscriptions over a real websocket (graphql-transport-ws).

use serde_json::json;

use crate::support::{TestApp, TestDb, WsClient, test_config};

crate::on_both_backends! {
    a_diamond_is_followed_to_complete_through_task_updated => diamond_over_websocket;
    task_updated_shows_a_step_waiting_for_approval_and_resuming => waiting_over_websocket;
}

const DIAMOND: &str = "name: diamond
steps:
  - {name: a, handler: sleep, config: {ms: 30}}
  - {name: b, handler: sleep, config: {ms: 30}, depends_on: [a]}
  - {name: c, handler: echo, depends_on: [a]}
  - {name: d, handler: echo, depends_on: [b, c]}
";

const TASK_UPDATED: &str = "subscription($id: ID!) { taskUpdated(id: $id) { status steps { name status } } }";

async fn create(app: &TestApp, name: &str) -> String {
    app.create_task(name, json!({})).await
}

async fn diamond_over_websocket(db: &TestDb) {
    let app = TestApp::spawn(test_config(db)).await;
    app.tasker
        .register_template(DIAMOND, false)
        .await
        .expect("registers");
    let id = create(&app, "diamond").await;
    let mut ws = WsClient::connect(&app.base).await;
    ws.subscribe("1", TASK_UPDATED, json!({"id": id})).await;
    let mut statuses = Vec::new();
    loop {
        let message = ws.next().await;
        match message["type"].as_str() {
            Some("next") => {
                let task = &message["payload"]["data"]["taskUpdated"];
                statuses.push(task["status"].as_str().expect("status").to_owned());
                if task["status"] == "COMPLETE" {
                    assert!(
                        task["steps"]
                            .as_array()
                            .expect("steps")
                            .iter()
                            .all(|s| s["status"] == "COMPLETE")
                    );
                }
            }
            Some("complete") => break,
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("COMPLETE"),
        "{statuses:?}"
    );
    assert!(
        statuses.len() >= 2,
        "the first snapshot, then updates: {statuses:?}"
    );
    // A subscription to a task that is already finished yields it once and ends.
    ws.subscribe("2", TASK_UPDATED, json!({"id": id})).await;
    assert_eq!(
        ws.next().await["payload"]["data"]["taskUpdated"]["status"],
        "COMPLETE"
    );
    assert_eq!(ws.next().await["type"], "complete");
    app.stop().await;
}

const GATED: &str = "name: gated
steps:
  - {name: approve, approval: {}}
  - {name: ship, handler: noop, depends_on: [approve]}
";

const STEPS_UPDATED: &str =
    "subscription($id: ID!) { taskUpdated(id: $id) { status steps { id name status waitingFor } } }";

async fn waiting_over_websocket(db: &TestDb) {
    let app = TestApp::spawn(test_config(db)).await;
    app.tasker
        .register_template(GATED, false)
        .await
        .expect("registers");
    let id = create(&app, "gated").await;
    let mut ws = WsClient::connect(&app.base).await;
    ws.subscribe("1", STEPS_UPDATED, json!({"id": id})).await;
    // The step stays WAITING until decided, so an update shows it.
    let approve = loop {
        let message = ws.next().await;
        assert_eq!(message["type"], "next", "{message}");
        let step = message["payload"]["data"]["taskUpdated"]["steps"][0].clone();
        if step["status"] == "WAITING" {
            assert_eq!(step["waitingFor"], "APPROVAL", "{message}");
            break step["id"].as_str().expect("id").to_owned();
        }
    };
    let decided = app
        .post(
            "mutation($id: ID!) { approveStep(id: $id) { status } }",
            json!({"id": approve}),
        )
        .await;
    assert_eq!(decided["data"]["approveStep"]["status"], "COMPLETE", "{decided}");
    let mut last = serde_json::Value::Null;
    loop {
        let message = ws.next().await;
        match message["type"].as_str() {
            Some("next") => last = message["payload"]["data"]["taskUpdated"].clone(),
            Some("complete") => break,
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
    assert_eq!(last["status"], "COMPLETE", "resumed and finished: {last}");
    assert_eq!(last["steps"][0]["status"], "COMPLETE");
    app.stop().await;
}

#[tokio::test]
async fn events_are_filtered_by_name_task_and_namespace() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    app.tasker
        .register_template(DIAMOND, false)
        .await
        .expect("registers");
    let mut ws = WsClient::connect(&app.base).await;
    let query = "subscription($ns: String) { events(names: [\"step.completed\", \"task.*\"], namespace: $ns) { name taskId stepId namespace payload correlationId } }";
    ws.subscribe("other-ns", query, json!({"ns": "elsewhere"})).await;
    ws.subscribe("events", query, json!({"ns": "default"})).await;
    // graphql-ws does not acknowledge a subscription, and a task created at once
    // can commit its first events before the server has read the subscribe
    // message: a first task, followed to its end, proves both are listening.
    let warm_up = create(&app, "diamond").await;
    loop {
        let message = ws.next().await;
        assert_eq!(
            message["id"], "events",
            "nothing for another namespace: {message}"
        );
        let event = &message["payload"]["data"]["events"];
        if event["taskId"] == warm_up.as_str() && event["name"] == "task.completed" {
            break;
        }
    }
    let id = create(&app, "diamond").await;
    let mut names = Vec::new();
    while !names.contains(&"task.completed".to_owned()) {
        let message = ws.next().await;
        assert_eq!(
            message["id"], "events",
            "nothing for another namespace: {message}"
        );
        let event = &message["payload"]["data"]["events"];
        assert_eq!(event["taskId"], id.as_str());
        assert_eq!(event["namespace"], "default");
        assert!(event["correlationId"].is_string(), "{event}");
        let name = event["name"].as_str().expect("name").to_owned();
        if name == "step.completed" {
            assert!(
                event["stepId"].is_string() && event["payload"]["to"] == "COMPLETE",
                "{event}"
            );
        }
        names.push(name);
    }
    assert_eq!(
        names.iter().filter(|n| *n == "step.completed").count(),
        4,
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n == "step.completed" || n.starts_with("task.")),
        "{names:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn work_available_wakes_a_worker_when_its_external_step_is_ready() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    app.tasker
        .register_template(
            "name: pay\nsteps:\n  - {name: check, handler: noop}\n  - {name: charge, handler: charge_card, external: true, depends_on: [check]}\n",
            false,
        )
        .await
        .expect("registers");
    let mut ws = WsClient::connect(&app.base).await;
    ws.subscribe(
        "w",
        "subscription { workAvailable(handlers: [\"charge_card\", \"refund\"]) }",
        json!({}),
    )
    .await;
    create(&app, "pay").await;
    let message = ws.next().await;
    assert_eq!(
        message["payload"]["data"]["workAvailable"],
        json!(["charge_card"]),
        "{message}"
    );
    app.stop().await;
}
