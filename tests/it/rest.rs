//! The REST API: each route's happy path and refusals, the checked-in
//! OpenAPI document, and one state behind two doors (REST and GraphQL).

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, test_config};

const FLOW: &str = "name: flow\nnamespace: rest\nversion: 1.0.0\nsteps:\n  - {name: start, handler: noop}\n  - {name: gate, handler: approval, external: true, depends_on: [start]}\n  - {name: finish, handler: echo, depends_on: [gate]}\n";
const FLAKY: &str = "name: flaky\nnamespace: rest\nversion: 1.0.0\nsteps:\n  - name: once\n    handler: fail_times\n    config: {times: 1}\n    retry: {max_attempts: 1}\n";

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<(&str, &str)>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app.client.request(method, format!("{}{path}", app.base));
    if let Some((content_type, text)) = body {
        request = request.header("content-type", content_type).body(text.to_owned());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(app: &TestApp, path: &str) -> Reply {
    call(app, Method::GET, path, None, &[]).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> Reply {
    call(
        app,
        Method::POST,
        path,
        Some(("application/json", &body.to_string())),
        &[],
    )
    .await
}

/// `(status, code, field)` of a refusal.
fn refusal(reply: &Reply) -> (u16, &str, Option<&str>) {
    (
        reply.status.as_u16(),
        reply.body["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code in {}", reply.body)),
        reply.body["field"].as_str(),
    )
}

/// A server with FLOW and FLAKY registered (and the database it keeps).
async fn app_with_templates() -> (TestDb, TestApp) {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    for yaml in [FLOW, FLAKY] {
        let registered = call(
            &app,
            Method::POST,
            "/templates",
            Some(("application/yaml", yaml)),
            &[],
        )
        .await;
        assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
    }
    (db, app)
}

async fn wait_status(app: &TestApp, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let task = get(app, &format!("/tasks/{id}")).await.body;
        if task["status"] == status {
            return task;
        }
        assert!(Instant::now() < deadline, "task {id} never {status}: {task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn step_named(app: &TestApp, task: &str, name: &str) -> Value {
    let steps = get(app, &format!("/tasks/{task}/steps")).await;
    assert_eq!(steps.status, StatusCode::OK, "{}", steps.body);
    steps.body["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no step {name}: {}", steps.body))
}

async fn keyed(app: &TestApp, key: &str) -> Reply {
    let body = r#"{"namespace": "rest", "name": "flow"}"#;
    call(
        app,
        Method::POST,
        "/tasks",
        Some(("application/json", body)),
        &[("idempotency-key", key)],
    )
    .await
}

async fn yaml(app: &TestApp, text: &str) -> Reply {
    call(
        app,
        Method::POST,
        "/templates",
        Some(("application/yaml", text)),
        &[],
    )
    .await
}

#[test]
fn openapi_json_is_generated_from_the_code() {
    let checked_in = std::fs::read_to_string("openapi.json").expect("openapi.json at the repository root");
    assert!(
        tasker::http::openapi_json() == checked_in,
        "openapi.json is out of date: run `cargo run -- openapi > openapi.json` and commit it"
    );
    let document: Value = serde_json::from_str(&checked_in).expect("JSON");
    assert!(
        document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
        "{}",
        document["openapi"]
    );
    let operations: Vec<&str> = document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let mut unique = operations.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        (operations.len(), unique.len()),
        (14, 14),
        "one unique operationId each: {operations:?}"
    );
    let created = &document["paths"]["/tasks"]["post"]["responses"]["201"]["links"];
    assert_eq!(created["GetTask"]["operationId"], "getTask", "{created}");
    assert_eq!(created["GetTask"]["parameters"]["id"], "$response.body#/id");
    // The documented limits are the services' own.
    let create = &document["components"]["schemas"]["CreateTask"]["properties"];
    assert_eq!(create["initiator"]["maxLength"], tasker::service::MAX_TEXT_CHARS);
    assert_eq!(create["reason"]["maxLength"], tasker::service::MAX_TEXT_CHARS);
    assert_eq!(create["tags"]["maxItems"], tasker::service::MAX_TAGS);
    assert_eq!(
        document["components"]["schemas"]["Tag"]["maxLength"],
        tasker::service::MAX_TAG_CHARS
    );
    let key = document["paths"]["/tasks"]["post"]["parameters"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "Idempotency-Key"))
        .expect("the Idempotency-Key header");
    assert_eq!(key["schema"]["maxLength"], tasker::service::MAX_KEY_CHARS);
    let limit = document["paths"]["/tasks"]["get"]["parameters"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "limit"))
        .expect("the limit parameter");
    assert_eq!(limit["schema"]["maximum"], tasker::service::MAX_PAGE_SIZE);
    for path in [
        "/tasks",
        "/tasks/{id}",
        "/tasks/{id}/cancel",
        "/tasks/{id}/retry",
        "/tasks/{id}/steps",
        "/steps/{id}",
        "/steps/{id}/retry",
        "/steps/{id}/resolve",
        "/templates",
        "/handlers",
        "/handlers/{namespace}",
        "/handlers/{namespace}/{name}",
        "/events/{name}",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is not documented");
    }
}

#[tokio::test]
async fn tasks_are_created_read_listed_and_followed_over_rest() {
    let (_db, app) = app_with_templates().await;
    let served = get(&app, "/openapi.json").await;
    assert_eq!(served.status, StatusCode::OK);
    let document: Value = serde_json::from_str(&tasker::http::openapi_json()).expect("JSON");
    assert_eq!(served.body, document, "/openapi.json serves the document");

    let created = call(
        &app,
        Method::POST,
        "/tasks",
        Some((
            "application/json",
            r#"{"namespace": "rest", "name": "flow", "context": {"order": 1}, "tags": ["t1"]}"#,
        )),
        &[("x-correlation-id", "rest-create-1")],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(created.headers[LOCATION], format!("/tasks/{id}").as_str());
    assert_eq!(created.headers["x-correlation-id"], "rest-create-1");
    assert_eq!(created.body["correlation_id"], "rest-create-1");
    assert_eq!(created.body["context"], json!({"order": 1}));
    assert!(created.body.get("dependency_graph").is_none());

    // The gate waits for a worker: the task stays IN_PROGRESS.
    let gate = loop {
        let gate = step_named(&app, &id, "gate").await;
        if gate["status"] == "ENQUEUED"
            || gate["status"] == "PENDING" && step_named(&app, &id, "start").await["status"] == "COMPLETE"
        {
            break gate;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let start = step_named(&app, &id, "start").await;
    let one = get(&app, &format!("/steps/{}", start["id"].as_str().expect("id"))).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["status"], "COMPLETE");
    assert_eq!(one.body["task_id"], id.as_str());

    let graph = get(&app, &format!("/tasks/{id}?include_dependencies=true")).await;
    assert_eq!(graph.status, StatusCode::OK);
    assert_eq!(
        graph.body["dependency_graph"]["roots"],
        json!(["start"]),
        "{}",
        graph.body
    );

    // Resolved by hand: its children run and the task completes.
    let resolved = post(
        &app,
        &format!("/steps/{}/resolve", gate["id"].as_str().expect("id")),
        json!({"results": {"approved": true}, "reason": "by hand"}),
    )
    .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(resolved.body["status"], "RESOLVED_MANUALLY");
    assert_eq!(resolved.body["results"], json!({"approved": true}));
    // A task with a step resolved by hand ends RESOLVED_MANUALLY.
    let done = wait_status(&app, &id, "RESOLVED_MANUALLY").await;
    assert!(done["completed_at"].is_string());
    let again = post(&app, &format!("/tasks/{id}/cancel"), json!({})).await;
    assert_eq!(refusal(&again), (409, "INVALID_TRANSITION", None));

    // Pages: newest first, `next` and a Link header until the last one.
    for _ in 0..2 {
        let more = post(&app, "/tasks", json!({"namespace": "rest", "name": "flow"})).await;
        assert_eq!(more.status, StatusCode::CREATED);
    }
    let first = get(&app, "/tasks?namespace=rest&name=flow&limit=2").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["tasks"].as_array().map(Vec::len), Some(2));
    let next = first.body["next"].as_str().expect("a next cursor").to_owned();
    let link = first.headers["link"].to_str().expect("ascii");
    assert!(
        link.contains("namespace=rest")
            && link.contains(&format!("after={next}"))
            && link.ends_with("rel=\"next\""),
        "{link}"
    );
    let last = get(
        &app,
        &format!("/tasks?namespace=rest&name=flow&limit=2&after={next}"),
    )
    .await;
    assert_eq!(last.body["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(last.body["tasks"][0]["id"], id.as_str(), "the oldest last");
    assert!(last.body["next"].is_null() && last.headers.get("link").is_none());
    let completed = get(
        &app,
        "/tasks?status=RESOLVED_MANUALLY,ERROR&tag=t1&include_dependencies=true",
    )
    .await;
    assert_eq!(
        completed.body["tasks"].as_array().map(Vec::len),
        Some(1),
        "{}",
        completed.body
    );
    assert!(completed.body["tasks"][0]["dependency_graph"].is_object());
}

#[tokio::test]
async fn cancel_and_retry_of_tasks_and_steps() {
    let (_db, app) = app_with_templates().await;
    let flow = post(&app, "/tasks", json!({"namespace": "rest", "name": "flow"})).await;
    let flow_id = flow.body["id"].as_str().expect("id").to_owned();
    let cancelled = call(&app, Method::POST, &format!("/tasks/{flow_id}/cancel"), None, &[]).await;
    assert_eq!(
        cancelled.status,
        StatusCode::OK,
        "no body is fine: {}",
        cancelled.body
    );
    assert_eq!(cancelled.body["status"], "CANCELLED");

    let flaky = post(&app, "/tasks", json!({"namespace": "rest", "name": "flaky"})).await;
    let flaky_id = flaky.body["id"].as_str().expect("id").to_owned();
    wait_status(&app, &flaky_id, "ERROR").await;
    let step = step_named(&app, &flaky_id, "once").await;
    assert_eq!(step["error"]["retryable"], true, "{step}");
    let step_id = step["id"].as_str().expect("id").to_owned();
    let retried = post(&app, &format!("/steps/{step_id}/retry"), json!(null)).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    wait_status(&app, &flaky_id, "COMPLETE").await;
    let not_failed = post(&app, &format!("/tasks/{flaky_id}/retry"), json!(null)).await;
    assert_eq!(refusal(&not_failed), (409, "INVALID_TRANSITION", None));
    let step_again = post(&app, &format!("/steps/{step_id}/retry"), json!(null)).await;
    assert_eq!(refusal(&step_again).1, "INVALID_TRANSITION");

    let flaky2 = post(&app, "/tasks", json!({"namespace": "rest", "name": "flaky"})).await;
    let flaky2_id = flaky2.body["id"].as_str().expect("id").to_owned();
    wait_status(&app, &flaky2_id, "ERROR").await;
    let retried = post(&app, &format!("/tasks/{flaky2_id}/retry"), json!(null)).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    wait_status(&app, &flaky2_id, "COMPLETE").await;

    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/tasks/{unknown}/cancel"),
        format!("/tasks/{unknown}/retry"),
        format!("/steps/{unknown}/retry"),
        format!("/steps/{unknown}/resolve"),
    ] {
        assert_eq!(
            refusal(&post(&app, &path, json!({})).await),
            (404, "NOT_FOUND", None),
            "{path}"
        );
    }
    for path in [
        format!("/tasks/{unknown}"),
        format!("/tasks/{unknown}/steps"),
        format!("/steps/{unknown}"),
    ] {
        assert_eq!(
            refusal(&get(&app, &path).await),
            (404, "NOT_FOUND", None),
            "{path}"
        );
    }
}

#[tokio::test]
async fn bad_requests_name_the_field_and_lose_nothing() {
    let (_db, app) = app_with_templates().await;
    let json_post = |body: &'static str| {
        call(
            &app,
            Method::POST,
            "/tasks",
            Some(("application/json", body)),
            &[],
        )
    };
    assert_eq!(
        refusal(&json_post(r#"{"name": "flow""#).await),
        (400, "BAD_USER_INPUT", None)
    );
    assert_eq!(
        refusal(&json_post("{}").await),
        (422, "BAD_USER_INPUT", Some("name"))
    );
    assert_eq!(
        refusal(&json_post(r#"{"name": 5}"#).await),
        (422, "BAD_USER_INPUT", Some("name"))
    );
    assert_eq!(
        refusal(&json_post(r#"{"name": "flow", "tags": ["a", 1]}"#).await).2,
        Some("tags[1]")
    );
    let unknown = json_post(r#"{"name": "flow", "namespace": "rest", "colour": "red"}"#).await;
    assert_eq!(refusal(&unknown), (422, "BAD_USER_INPUT", Some("colour")));
    assert!(
        unknown.body["message"]
            .as_str()
            .expect("message")
            .contains("colour")
    );
    let form = call(
        &app,
        Method::POST,
        "/tasks",
        Some(("application/x-www-form-urlencoded", "name=flow")),
        &[],
    )
    .await;
    assert_eq!(refusal(&form), (415, "BAD_USER_INPUT", None));
    let huge = format!(
        r#"{{"name": "flow", "namespace": "rest", "context": {{"blob": "{}"}}}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    let too_large = call(
        &app,
        Method::POST,
        "/tasks",
        Some(("application/json", &huge)),
        &[],
    )
    .await;
    assert_eq!(refusal(&too_large), (413, "PAYLOAD_TOO_LARGE", None));
    let nul = post(
        &app,
        "/tasks",
        json!({"namespace": "rest", "name": "flow", "initiator": "a\u{0}b"}),
    )
    .await;
    assert_eq!(
        refusal(&nul),
        (422, "BAD_USER_INPUT", Some("initiator")),
        "{}",
        nul.body
    );
    let nul_tag = post(
        &app,
        "/tasks",
        json!({"namespace": "rest", "name": "flow", "tags": ["\u{0}"]}),
    )
    .await;
    assert_eq!(refusal(&nul_tag).2, Some("tags"));
    assert_eq!(
        refusal(&post(&app, "/tasks", json!({"name": "nope"})).await),
        (404, "NOT_FOUND", None)
    );

    assert_eq!(
        refusal(&get(&app, "/tasks?limit=0").await),
        (400, "BAD_USER_INPUT", Some("limit"))
    );
    assert_eq!(
        refusal(&get(&app, "/tasks?limit=lots").await),
        (400, "BAD_USER_INPUT", Some("limit"))
    );
    assert_eq!(
        refusal(&get(&app, "/tasks?status=DONE").await),
        (400, "BAD_USER_INPUT", Some("status"))
    );
    assert_eq!(
        refusal(&get(&app, "/tasks?after=zzz").await),
        (400, "BAD_USER_INPUT", Some("after"))
    );
    assert_eq!(
        refusal(&get(&app, "/tasks?colour=red").await),
        (400, "BAD_USER_INPUT", Some("colour"))
    );
    assert_eq!(
        refusal(&get(&app, "/tasks/not-a-uuid").await),
        (400, "BAD_USER_INPUT", Some("id"))
    );
    assert_eq!(
        refusal(&get(&app, "/steps/not-a-uuid").await),
        (400, "BAD_USER_INPUT", Some("id"))
    );
    let resolve = post(
        &app,
        &format!("/steps/{}/resolve", uuid::Uuid::now_v7()),
        json!({"results": 1, "why": "x"}),
    )
    .await;
    assert_eq!(refusal(&resolve), (422, "BAD_USER_INPUT", Some("why")));

    // Nothing was created by any of them.
    let listed = get(&app, "/tasks").await;
    assert_eq!(listed.body["tasks"], json!([]), "{}", listed.body);
}

#[tokio::test]
async fn idempotency_keys_return_the_first_task() {
    let (_db, app) = app_with_templates().await;
    let first = keyed(&app, "order-17").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = keyed(&app, "order-17").await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(second.body["id"], first.body["id"]);
    assert_eq!(second.body["idempotency_key"], "order-17");
    let other = keyed(&app, "order-18").await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert_ne!(other.body["id"], first.body["id"]);
    let other_template = call(
        &app,
        Method::POST,
        "/tasks",
        Some(("application/json", r#"{"namespace": "rest", "name": "flaky"}"#)),
        &[("idempotency-key", "order-17")],
    )
    .await;
    assert_eq!(refusal(&other_template).1, "CONFLICT", "{}", other_template.body);
}

#[tokio::test]
async fn templates_register_as_yaml_or_json() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    let created = yaml(&app, FLOW).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.headers[LOCATION], "/handlers/rest/flow?version=1.0.0");
    assert_eq!(created.body["full_name"], "rest/flow@1.0.0");
    assert_eq!(created.body["step_templates"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        yaml(&app, FLOW).await.status,
        StatusCode::OK,
        "the same content again"
    );
    let changed = FLOW.replace("echo", "noop");
    assert_eq!(refusal(&yaml(&app, &changed).await), (409, "CONFLICT", None));
    let replaced = call(
        &app,
        Method::POST,
        "/templates?replace=true",
        Some(("application/yaml", &changed)),
        &[],
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    let cycle = "name: loop\nsteps:\n  - {name: a, handler: noop, depends_on: [b]}\n  - {name: b, handler: noop, depends_on: [a]}\n";
    let refused = yaml(&app, cycle).await;
    assert_eq!(refusal(&refused).0, 422);
    assert!(
        refused.body["message"]
            .as_str()
            .expect("message")
            .contains("cycle"),
        "{}",
        refused.body
    );
    assert_eq!(refusal(&yaml(&app, "name: [").await).0, 422);
    let json_template =
        json!({"name": "j", "namespace": "rest", "steps": [{"name": "only", "handler": "noop"}]});
    assert_eq!(
        post(&app, "/templates", json_template).await.status,
        StatusCode::CREATED
    );
    let text = call(&app, Method::POST, "/templates", Some(("text/plain", FLOW)), &[]).await;
    assert_eq!(refusal(&text), (415, "BAD_USER_INPUT", None));
    let handler = get(&app, "/handlers/rest/j").await;
    assert_eq!(handler.status, StatusCode::OK);
    assert_eq!(handler.body["step_templates"][0]["name"], "only");
}

#[tokio::test]
async fn one_state_two_doors() {
    let (_db, app) = app_with_templates().await;
    // Created over REST, finished over GraphQL (a worker's completeStep), read over both.
    let created = post(
        &app,
        "/tasks",
        json!({"namespace": "rest", "name": "flow", "context": {"n": 1}}),
    )
    .await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let claimed = app
        .wait_until(
            "mutation { claimSteps(input: {workerId: \"w\", handlers: [\"approval\"], limit: 1, leaseSeconds: 30}) { step { id task { id } } leaseToken } }",
            json!({}),
            |r| r["data"]["claimSteps"].as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
    let claim = &claimed["data"]["claimSteps"][0];
    assert_eq!(claim["step"]["task"]["id"], id.as_str());
    let done = app
        .post(
            "mutation($id: ID!, $t: String!) { completeStep(stepId: $id, leaseToken: $t, results: {ok: true}) { status } }",
            json!({"id": claim["step"]["id"], "t": claim["leaseToken"]}),
        )
        .await;
    assert_eq!(done["data"]["completeStep"]["status"], "COMPLETE", "{done}");
    let finished = wait_status(&app, &id, "COMPLETE").await;
    let over_graphql = app
        .post(
            "query($id: ID!) { task(id: $id) { status context } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(over_graphql["data"]["task"]["status"], finished["status"]);
    assert_eq!(over_graphql["data"]["task"]["context"], finished["context"]);

    // Created over GraphQL, followed to its end over REST.
    let quick = "name: quick\nnamespace: rest\nsteps:\n  - {name: a, handler: noop}\n  - {name: b, handler: echo, depends_on: [a]}\n";
    assert_eq!(yaml(&app, quick).await.status, StatusCode::CREATED);
    let gql = app
        .post(
            "mutation { createTask(input: {namespace: \"rest\", name: \"quick\", context: {}}) { task { id } } }",
            json!({}),
        )
        .await;
    let quick_id = gql["data"]["createTask"]["task"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{gql}"))
        .to_owned();
    wait_status(&app, &quick_id, "COMPLETE").await;
    assert_eq!(step_named(&app, &quick_id, "b").await["status"], "COMPLETE");

    // Created over GraphQL, cancelled over REST, seen cancelled over GraphQL.
    let gql = app
        .post(
            "mutation { createTask(input: {namespace: \"rest\", name: \"flow\", context: {}}) { task { id } } }",
            json!({}),
        )
        .await;
    let gql_id = gql["data"]["createTask"]["task"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{gql}"))
        .to_owned();
    assert_eq!(
        get(&app, &format!("/tasks/{gql_id}")).await.body["namespace"],
        "rest"
    );
    let cancelled = post(
        &app,
        &format!("/tasks/{gql_id}/cancel"),
        json!({"reason": "over REST"}),
    )
    .await;
    assert_eq!(cancelled.body["status"], "CANCELLED", "{}", cancelled.body);
    let seen = app
        .post(
            "query($id: ID!) { task(id: $id) { status } }",
            json!({"id": gql_id}),
        )
        .await;
    assert_eq!(seen["data"]["task"]["status"], "CANCELLED");
}

#[tokio::test]
async fn rest_routes_ask_for_the_same_permissions_as_graphql() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.auth.enabled = true;
    config.auth.secret = crate::auth::SECRET.into();
    config.auth.issuer = crate::auth::ISSUER.into();
    let app = TestApp::spawn(config).await;
    let admin = format!("Bearer {}", crate::auth::token(&["*"], 600));
    let reader = format!("Bearer {}", crate::auth::token(&["tasker.task:read@rest"], 600));
    let registered = call(
        &app,
        Method::POST,
        "/templates",
        Some(("application/yaml", FLOW)),
        &[("authorization", &admin)],
    )
    .await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
    let body = r#"{"namespace": "rest", "name": "flow"}"#;
    let anonymous = call(
        &app,
        Method::POST,
        "/tasks",
        Some(("application/json", body)),
        &[],
    )
    .await;
    assert_eq!(refusal(&anonymous), (401, "UNAUTHENTICATED", None));
    assert_eq!(anonymous.headers["www-authenticate"], "Bearer");
    let lacking = call(
        &app,
        Method::POST,
        "/tasks",
        Some(("application/json", body)),
        &[("authorization", &reader)],
    )
    .await;
    assert_eq!(refusal(&lacking), (403, "FORBIDDEN", None));
    assert!(
        lacking.body["message"]
            .as_str()
            .expect("message")
            .contains("tasker.task:create"),
        "{}",
        lacking.body
    );
    let created = call(
        &app,
        Method::POST,
        "/tasks",
        Some(("application/json", body)),
        &[("authorization", &admin)],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().expect("id");
    let read = call(
        &app,
        Method::GET,
        &format!("/tasks/{id}"),
        None,
        &[("authorization", &reader)],
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);
    let cancel = call(
        &app,
        Method::POST,
        &format!("/tasks/{id}/cancel"),
        None,
        &[("authorization", &reader)],
    )
    .await;
    assert_eq!(refusal(&cancel), (403, "FORBIDDEN", None));
    let other = format!(
        "Bearer {}",
        crate::auth::token(&["tasker.task:read@elsewhere"], 600)
    );
    let hidden = call(&app, Method::GET, "/tasks", None, &[("authorization", &other)]).await;
    assert_eq!(
        hidden.body["tasks"],
        json!([]),
        "tasks of other namespaces are not listed"
    );
    let forbidden = call(
        &app,
        Method::GET,
        &format!("/tasks/{id}"),
        None,
        &[("authorization", &other)],
    )
    .await;
    assert_eq!(refusal(&forbidden).0, 403);
}
