//! The public contract: the checked-in SDL, and every error code provoked.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tasker::engine::SystemClock;
use tasker::events::EventBus;
use tasker::graphql::{self, RequestInfo, TaskerSchema};
use tasker::handlers::HandlerRegistry;
use tasker::service::Tasker;

use crate::support::{TestDb, codes, open_store, run};

#[test]
fn schema_graphql_is_generated_from_the_code() {
    let checked_in =
        std::fs::read_to_string("schema.graphql").expect("schema.graphql at the repository root");
    assert!(
        checked_in == graphql::sdl(),
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

async fn setup(db: &TestDb, bus_capacity: usize) -> (Tasker, TaskerSchema) {
    let store = open_store(db).await;
    let tasker = Tasker::new(
        store,
        HandlerRegistry::with_builtins(),
        EventBus::new(bus_capacity),
        Arc::new(SystemClock),
        Default::default(),
    );
    let settings = graphql::Settings {
        max_depth: 8,
        max_complexity: 2_000,
        introspection: true,
    };
    let schema = graphql::schema(tasker.clone(), &settings);
    (tasker, schema)
}

const TEMPLATE: &str =
    "name: flow\nsteps:\n  - {name: a, handler: noop}\n  - {name: b, handler: noop, depends_on: [a]}\n";

async fn create(schema: &TaskerSchema, tasker: &Tasker) -> String {
    let response = run(
        schema,
        tasker,
        "mutation { createTask(input: {name: \"flow\", context: {}}) { task { id } } }",
        json!({}),
    )
    .await;
    response["data"]["createTask"]["task"]["id"]
        .as_str()
        .expect("task id")
        .to_owned()
}

async fn expect_code(
    schema: &TaskerSchema,
    tasker: &Tasker,
    query: &str,
    variables: Value,
    code: &str,
) -> Value {
    let response = run(schema, tasker, query, variables).await;
    assert_eq!(codes(&response), vec![code.to_owned()], "{response}");
    response
}

#[tokio::test]
async fn every_error_carries_its_code() {
    let db = TestDb::sqlite();
    let (tasker, schema) = setup(&db, 1_000).await;
    let register = "mutation($y: String!) { registerTaskTemplate(yaml: $y) { fullName } }";
    let ok = run(&schema, &tasker, register, json!({"y": TEMPLATE})).await;
    assert_eq!(
        ok["data"]["registerTaskTemplate"]["fullName"], "default/flow@0.1.0",
        "{ok}"
    );
    let task = create(&schema, &tasker).await;
    let (s, t) = (&schema, &tasker);

    let bad = expect_code(s, t, "{ task(id: \"nope\") { id } }", json!({}), "BAD_USER_INPUT").await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "id");
    expect_code(
        s,
        t,
        register,
        json!({"y": "name: x\nsteps:\n  - {name: a, handler: ghost}\n"}),
        "BAD_USER_INPUT",
    )
    .await;
    expect_code(
        s,
        t,
        "mutation { createTask(input: {context: {}}) { created } }",
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
    let gone = format!(
        "mutation {{ cancelTask(id: \"{}\") {{ id }} }}",
        uuid::Uuid::now_v7()
    );
    expect_code(s, t, &gone, json!({}), "NOT_FOUND").await;
    let changed = TEMPLATE.replace("handler: noop}\n", "handler: echo}\n");
    expect_code(s, t, register, json!({"y": changed}), "CONFLICT").await;
    let cancel = format!("mutation {{ cancelTask(id: \"{task}\") {{ status }} }}");
    assert_eq!(
        run(s, t, &cancel, json!({})).await["data"]["cancelTask"]["status"],
        "CANCELLED"
    );
    expect_code(s, t, &cancel, json!({}), "INVALID_TRANSITION").await;
    let stale = "mutation($s: ID!, $t: String!) { completeStep(stepId: $s, leaseToken: $t) { id } }";
    let step = run(
        s,
        t,
        &format!("{{ task(id: \"{task}\") {{ steps {{ id }} }} }}"),
        json!({}),
    )
    .await;
    let step_id = step["data"]["task"]["steps"][0]["id"].clone();
    expect_code(
        s,
        t,
        stale,
        json!({"s": step_id, "t": uuid::Uuid::new_v4().to_string()}),
        "LEASE_LOST",
    )
    .await;
    let deep = format!(
        "{{ task(id: \"{task}\") {{ steps {{ task {{ steps {{ task {{ steps {{ task {{ steps {{ task {{ id }} }} }} }} }} }} }} }} }} }}"
    );
    expect_code(s, t, &deep, json!({}), "QUERY_TOO_COMPLEX").await;
    let wide = "{ tasks(first: 500) { edges { node { id name status tags steps { id name status } } } } }";
    expect_code(s, t, wide, json!({}), "QUERY_TOO_COMPLEX").await;
    let big = json!({"blob": "x".repeat(2 * 1024 * 1024)});
    let create_big = "mutation($c: JSON!) { createTask(input: {name: \"flow\", context: $c}) { created } }";
    expect_code(s, t, create_big, json!({"c": big}), "PAYLOAD_TOO_LARGE").await;
    expect_code(s, t, "{ tasks { ", json!({}), "GRAPHQL_PARSE_FAILED").await;
    expect_code(
        s,
        t,
        "{ tasks { nosuchfield } }",
        json!({}),
        "GRAPHQL_VALIDATION_FAILED",
    )
    .await;

    // A stored status no code knows is an internal fault: coded, and redacted.
    let task_uuid: uuid::Uuid = task.parse().expect("uuid");
    tasker::entities::task::Entity::update_many()
        .col_expr(
            tasker::entities::task::Column::Status,
            sea_orm::sea_query::Expr::value("BOGUS"),
        )
        .filter(tasker::entities::task::Column::Id.eq(task_uuid))
        .exec(tasker.store().writer())
        .await
        .expect("corrupt a row");
    let internal = expect_code(
        s,
        t,
        &format!("{{ task(id: \"{task}\") {{ id }} }}"),
        json!({}),
        "INTERNAL",
    )
    .await;
    let message = internal["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("internal error (reference ") && !message.contains("BOGUS"),
        "{message}"
    );
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_how_many_events_it_missed() {
    let db = TestDb::sqlite();
    let (tasker, schema) = setup(&db, 4).await;
    tasker
        .register_template(TEMPLATE, false)
        .await
        .expect("registers");
    let request = async_graphql::Request::new("subscription { events { name } }");
    let request = graphql::prepare(
        request,
        &tasker,
        RequestInfo {
            correlation_id: "lag".into(),
        },
    );
    let mut stream = schema.execute_stream(request);
    // Let the subscription start, then publish far more than its queue holds.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stream.next())
            .await
            .is_err()
    );
    for _ in 0..5 {
        create(&schema, &tasker).await;
    }
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an item")
        .expect("open");
    let first = serde_json::to_value(first).expect("json");
    assert_eq!(codes(&first), vec!["LAGGED".to_owned()], "{first}");
    assert!(
        first["errors"][0]["extensions"]["missed"].as_u64().unwrap_or(0) > 0,
        "{first}"
    );
    let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an item")
        .expect("open");
    let next = serde_json::to_value(next).expect("json");
    assert!(
        next["data"]["events"]["name"].is_string(),
        "the stream goes on after a lag: {next}"
    );
}
