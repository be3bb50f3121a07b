//! GraphQL over real HTTP: correlation ids, request limits, introspection
//! switch, and the idempotency race.

use serde_json::json;

use crate::support::{TestApp, TestDb, codes, test_config};

crate::on_both_backends! {
    twenty_concurrent_creates_with_one_idempotency_key_make_one_task => idempotency_race;
}

#[tokio::test]
async fn the_correlation_id_is_echoed_and_attached_to_the_task() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    app.tasker
        .register_template("name: one\nsteps:\n  - {name: a, handler: noop}\n", false)
        .await
        .expect("registers");
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("x-correlation-id", "req-42")
        .json(&json!({"query": "mutation { createTask(input: {name: \"one\", context: {}}) { task { id correlationId } } }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["x-correlation-id"], "req-42");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(
        body["data"]["createTask"]["task"]["correlationId"], "req-42",
        "{body}"
    );

    let generated = app
        .client
        .get(format!("{}/health/live", app.base))
        .send()
        .await
        .expect("request");
    let id = generated.headers()["x-correlation-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "a generated id: {id}");
    let hostile = app
        .client
        .get(format!("{}/health/live", app.base))
        .header("x-correlation-id", "<script>")
        .send()
        .await
        .expect("request");
    assert_ne!(
        hostile.headers()["x-correlation-id"],
        "<script>",
        "unsafe ids are replaced"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_ten_megabyte_request_is_refused_and_the_server_keeps_serving() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    let huge = json!({"query": "mutation($c: JSON!) { createTask(input: {name: \"x\", context: $c}) { created } }",
                      "variables": {"c": {"blob": "x".repeat(10 * 1024 * 1024)}}});
    let (status, body) = app.post_raw(&huge).await;
    assert_eq!(status, reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(codes(&body), vec!["PAYLOAD_TOO_LARGE".to_owned()], "{body}");
    let garbage = app
        .client
        .post(format!("{}/graphql", app.base))
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(garbage.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = garbage.json().await.expect("json");
    assert_eq!(codes(&body), vec!["GRAPHQL_PARSE_FAILED".to_owned()], "{body}");
    let alive = app.post("{ namespaces { name } }", json!({})).await;
    assert!(alive["errors"].is_null(), "{alive}");
    app.stop().await;
}

/// GraphiQL, graphql-codegen's URL loader and most IDEs send this query; it
/// nests 15 fields deep, which the default limits must admit.
#[tokio::test]
async fn the_standard_introspection_query_passes_the_default_limits() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    let response = app.post(include_str!("introspection.graphql"), json!({})).await;
    assert!(response["errors"].is_null(), "{response}");
    let types = response["data"]["__schema"]["types"].as_array().expect("types");
    assert!(types.iter().any(|t| t["name"] == "Task"));
    app.stop().await;
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.graphql.introspection = false;
    let app = TestApp::spawn(config).await;
    let response = app.post("{ __schema { queryType { name } } }", json!({})).await;
    assert!(
        response["data"]["__schema"].is_null(),
        "no schema is revealed: {response}"
    );
    let typed = app.post("{ __type(name: \"Task\") { name } }", json!({})).await;
    assert!(typed["data"]["__type"].is_null(), "{typed}");
    app.stop().await;
}

async fn idempotency_race(db: &TestDb) {
    let app = TestApp::spawn(test_config(db)).await;
    app.tasker
        .register_template("name: once\nsteps:\n  - {name: a, handler: noop}\n", false)
        .await
        .expect("registers");
    let query = "mutation { createTask(input: {name: \"once\", context: {}, idempotencyKey: \"order-7\"}) { created task { id } } }";
    let mut racers = Vec::new();
    for _ in 0..20 {
        let (client, url) = (app.client.clone(), format!("{}/graphql", app.base));
        racers.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"query": query}))
                .send()
                .await
                .expect("request");
            response.json::<serde_json::Value>().await.expect("json")
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for racer in racers {
        let body = racer.await.expect("joins");
        assert!(body["errors"].is_null(), "{body}");
        created += usize::from(body["data"]["createTask"]["created"] == true);
        ids.insert(
            body["data"]["createTask"]["task"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    assert_eq!(
        (ids.len(), created),
        (1, 1),
        "one task, created by exactly one request"
    );
    app.stop().await;
}
