//! Auth on: every guarded operation called without a token, with an expired,
//! a tampered, an `alg: none` one, one lacking the permission, one scoped to
//! another namespace, and a correct one — and the exact outcome of each.

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use futures::StreamExt;
use tasker::client::{ClientError, Subscription};

use crate::support::{TestApp, TestDb, codes, test_config};

pub(crate) const SECRET: &str = "a test secret that is long enough for HS256";
pub(crate) const ISSUER: &str = "tasker-tests";
/// base64url of `{"alg":"none","typ":"JWT"}`.
const ALG_NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) fn token(permissions: &[&str], expires_in: i64) -> String {
    let claims = json!({
        "sub": "tester", "iss": ISSUER, "iat": now(), "nbf": now() - 5,
        "exp": now() + expires_in, "permissions": permissions,
    });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("signs")
}

/// The same token with one character of its signature changed.
fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let at = chars.len() - 10;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// A token claiming `alg: none`, with no signature.
fn unsigned(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("payload");
    format!("{ALG_NONE_HEADER}.{payload}.")
}

async fn call(app: &TestApp, bearer: Option<&str>, query: &str, variables: &Value) -> Value {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request").json().await.expect("JSON")
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Code(&'static str),
    /// The guard let it through (whatever the operation then answered).
    Passes,
}

struct Op {
    query: &'static str,
    /// What the correct token grants.
    grant: &'static str,
    /// The outcome with the permission scoped to another namespace.
    other_namespace: Expect,
}

const PAYMENTS: &str = "name: charge\nnamespace: payments\nversion: 1.0.0\nsteps:\n  - {name: start, handler: noop}\n  - {name: card, handler: card_api, external: true, depends_on: [start]}\n";

fn operations() -> Vec<Op> {
    use Expect::{Code, Passes};
    const FORBIDDEN: Expect = Code("FORBIDDEN");
    let op = |query, grant, other_namespace| Op {
        query,
        grant,
        other_namespace,
    };
    vec![
        op("{ namespaces { name } }", "tasker.template:read", Passes),
        op("{ handlers { fullName } }", "tasker.template:read", Passes),
        op(
            "{ handler(namespace: \"payments\", name: \"charge\") { fullName } }",
            "tasker.template:read@payments",
            FORBIDDEN,
        ),
        op("{ stepHandlers { name } }", "tasker.handler:read", Passes),
        op(
            "query($t: ID!) { task(id: $t) { id } }",
            "tasker.task:read@payments",
            FORBIDDEN,
        ),
        op("{ tasks { totalCount } }", "tasker.task:read", Passes),
        op(
            "query($s: ID!) { step(id: $s) { id } }",
            "tasker.task:read@payments",
            FORBIDDEN,
        ),
        op(
            "query($t: ID!) { dependencyGraph(taskId: $t) { maxParallelism } }",
            "tasker.task:read@payments",
            FORBIDDEN,
        ),
        op("{ eventCatalog { name } }", "tasker.event:read", Passes),
        op("{ events { id } }", "tasker.event:read", FORBIDDEN),
        op("{ metrics { body } }", "tasker.metrics:read", FORBIDDEN),
        op("{ metricsCache { chosen } }", "tasker.metrics:read", FORBIDDEN),
        op("{ overview { at } }", "tasker.metrics:read", FORBIDDEN),
        op("{ explorer { version } }", "tasker.task:read", Passes),
        op(
            "query($y: String!) { validateTaskTemplate(yaml: $y) { valid } }",
            "tasker.template:read",
            Passes,
        ),
        op("{ registries { name } }", "tasker.registry:read", FORBIDDEN),
        op(
            "{ searchRegistries(query: \"noop\") { name } }",
            "tasker.registry:read",
            FORBIDDEN,
        ),
        op(
            "mutation($y: String!) { registerTaskTemplate(yaml: $y) { fullName } }",
            "tasker.template:register@payments",
            FORBIDDEN,
        ),
        op(
            "mutation { createTask(input: {namespace: \"payments\", name: \"charge\", context: {}}) { created } }",
            "tasker.task:create@payments",
            FORBIDDEN,
        ),
        op(
            "mutation($t: ID!) { retryTask(id: $t) { id } }",
            "tasker.task:retry@payments",
            FORBIDDEN,
        ),
        op(
            "mutation($s: ID!) { retryStep(id: $s) { id } }",
            "tasker.step:retry@payments",
            FORBIDDEN,
        ),
        op(
            "mutation($s: ID!) { resolveStepManually(id: $s) { id } }",
            "tasker.step:resolve@payments",
            FORBIDDEN,
        ),
        op(
            "mutation { sendEvent(name: \"payments.paid\", payload: {}) { duplicate } }",
            "tasker.event:send",
            FORBIDDEN,
        ),
        op(
            "mutation($s: ID!) { approveStep(id: $s) { id } }",
            "tasker.step:approve@payments",
            FORBIDDEN,
        ),
        op(
            "mutation($s: ID!) { rejectStep(id: $s, reason: \"no\") { id } }",
            "tasker.step:approve@payments",
            FORBIDDEN,
        ),
        op(
            "mutation { claimSteps(input: {workerId: \"w\", handlers: [\"nothing_here\"]}) { leaseToken } }",
            "tasker.step:claim",
            FORBIDDEN,
        ),
        op(
            "mutation($s: ID!, $l: String!) { heartbeatStep(stepId: $s, leaseToken: $l) }",
            "tasker.step:claim@payments",
            FORBIDDEN,
        ),
        op(
            "mutation($s: ID!, $l: String!) { completeStep(stepId: $s, leaseToken: $l) { id } }",
            "tasker.step:claim@payments",
            FORBIDDEN,
        ),
        op(
            "mutation($s: ID!, $l: String!) { failStep(stepId: $s, leaseToken: $l, error: \"x\") { id } }",
            "tasker.step:claim@payments",
            FORBIDDEN,
        ),
        op("{ schedules { id } }", "tasker.task:read", Passes),
        op(
            "query($h: ID!) { schedule(id: $h) { id } }",
            "tasker.task:read@payments",
            FORBIDDEN,
        ),
        op(
            "mutation { createSchedule(input: {namespace: \"payments\", name: \"charge\", cron: \"0 2 * * *\"}) { id } }",
            "tasker.task:create@payments",
            FORBIDDEN,
        ),
        op(
            "mutation($h: ID!) { pauseSchedule(id: $h) { paused } }",
            "tasker.task:create@payments",
            FORBIDDEN,
        ),
        op(
            "mutation($h: ID!) { resumeSchedule(id: $h) { paused } }",
            "tasker.task:create@payments",
            FORBIDDEN,
        ),
        // After the others that use the schedule.
        op(
            "mutation($h: ID!) { deleteSchedule(id: $h) }",
            "tasker.task:create@payments",
            FORBIDDEN,
        ),
        // Last: it ends the task the others use.
        op(
            "mutation($t: ID!) { cancelTask(id: $t) { status } }",
            "tasker.task:cancel@payments",
            FORBIDDEN,
        ),
    ]
}

fn secured_config(db: &TestDb) -> tasker::config::Config {
    let mut config = test_config(db);
    config.auth.enabled = true;
    config.auth.secret = SECRET.into();
    config.auth.issuer = ISSUER.into();
    config.auth.metrics_auth_required = true;
    config
}

fn outcome(response: &Value) -> Expect {
    let found = codes(response);
    match found
        .iter()
        .find(|c| *c == "UNAUTHENTICATED" || *c == "FORBIDDEN")
    {
        Some(code) if code == "UNAUTHENTICATED" => Expect::Code("UNAUTHENTICATED"),
        Some(_) => Expect::Code("FORBIDDEN"),
        None => Expect::Passes,
    }
}

/// Register the `charge` template in each namespace.
async fn register_in(app: &TestApp, namespaces: &[&str]) {
    for ns in namespaces {
        app.tasker
            .register_template(&PAYMENTS.replace("payments", ns), false)
            .await
            .expect("registers");
    }
}

/// A new `charge` task in `namespace`.
async fn charge_in(app: &TestApp, namespace: &str) -> uuid::Uuid {
    let input = tasker::service::CreateTask {
        namespace: Some(namespace.into()),
        name: "charge".into(),
        ..Default::default()
    };
    app.tasker.create_task(input).await.expect("creates").task.id
}

#[tokio::test]
async fn every_guarded_operation_refuses_what_it_must_and_admits_the_right_token() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(secured_config(&db)).await;
    register_in(&app, &["payments"]).await;
    let created = charge_in(&app, "payments").await;
    let task = created.to_string();
    let detail = app
        .tasker
        .task_detail(created)
        .await
        .expect("reads")
        .expect("task");
    let step = detail.steps[0].id.to_string();
    let schedule = app
        .tasker
        .create_schedule(tasker::service::NewSchedule {
            namespace: Some("payments".into()),
            name: "charge".into(),
            cron: "0 2 * * *".into(),
            context: json!({}),
            ..Default::default()
        })
        .await
        .expect("schedules")
        .row
        .id
        .to_string();
    let variables =
        json!({"t": task, "s": step, "h": schedule, "l": uuid::Uuid::new_v4().to_string(), "y": PAYMENTS});

    // Every root field of the schema is in the table.
    let roots = call(
        &app,
        Some(&token(&["*"], 300)),
        "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
        &json!({}),
    )
    .await;
    let table: String = operations().iter().map(|op| op.query).collect();
    for kind in ["queryType", "mutationType"] {
        for field in roots["data"]["__schema"][kind]["fields"]
            .as_array()
            .expect("fields")
        {
            let name = field["name"].as_str().expect("name");
            assert!(
                table.contains(&format!("{name}(")) || table.contains(&format!("{{ {name} ")),
                "{name} is not in the table"
            );
        }
    }

    let expired = token(&["*"], -3_600);
    for op in operations() {
        let right = token(&[op.grant], 300);
        let scoped_elsewhere = format!("{}@shipping", op.grant.split('@').next().unwrap_or_default());
        let elsewhere = token(&[scoped_elsewhere.as_str()], 300);
        let lacking = token(&["tasker.nothing:read"], 300);
        let cases: [(&str, Option<String>, Expect); 7] = [
            ("no token", None, Expect::Code("UNAUTHENTICATED")),
            ("expired", Some(expired.clone()), Expect::Code("UNAUTHENTICATED")),
            (
                "tampered",
                Some(tampered(&right)),
                Expect::Code("UNAUTHENTICATED"),
            ),
            (
                "alg none",
                Some(unsigned(&right)),
                Expect::Code("UNAUTHENTICATED"),
            ),
            ("lacking the permission", Some(lacking), Expect::Code("FORBIDDEN")),
            ("scoped to another namespace", Some(elsewhere), op.other_namespace),
            ("correct", Some(right), Expect::Passes),
        ];
        for (case, bearer, expected) in cases {
            let response = call(&app, bearer.as_deref(), op.query, &variables).await;
            assert_eq!(
                outcome(&response),
                expected,
                "{} with {case}: {response}",
                op.query
            );
            let text = response.to_string();
            if let Some(bearer) = &bearer {
                assert!(
                    !text.contains(bearer.as_str()),
                    "the token is never echoed: {text}"
                );
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn lists_show_only_what_the_caller_may_read() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(secured_config(&db)).await;
    register_in(&app, &["payments", "shipping"]).await;
    for ns in ["payments", "shipping"] {
        charge_in(&app, ns).await;
    }
    let reader = token(
        &["tasker.task:read@payments", "tasker.template:read@payments"],
        300,
    );
    let listed = call(
        &app,
        Some(&reader),
        "{ tasks { totalCount nodes { namespace } } namespaces { name } handlers { namespace } }",
        &json!({}),
    )
    .await;
    assert_eq!(listed["data"]["tasks"]["totalCount"], 1, "{listed}");
    assert_eq!(
        listed["data"]["tasks"]["nodes"],
        json!([{"namespace": "payments"}])
    );
    assert_eq!(listed["data"]["namespaces"], json!([{"name": "payments"}]));
    assert_eq!(listed["data"]["handlers"], json!([{"namespace": "payments"}]));
    let everything = token(&["tasker.task:read"], 300);
    let all = call(&app, Some(&everything), "{ tasks { totalCount } }", &json!({})).await;
    assert_eq!(all["data"]["tasks"]["totalCount"], 2, "{all}");
    app.stop().await;
}

#[tokio::test]
async fn rest_routes_answer_401_403_or_200_and_health_probes_stay_open() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(secured_config(&db)).await;
    register_in(&app, &["payments"]).await;
    let get = |path: &'static str, bearer: Option<String>| {
        let mut request = app.client.get(format!("{}{path}", app.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.expect("request") }
    };
    for path in ["/health/live", "/health/ready", "/playground/"] {
        assert_eq!(get(path, None).await.status(), 200, "{path}");
    }
    for (path, grant) in [
        ("/handlers", "tasker.handler:read"),
        ("/handlers/payments", "tasker.handler:read@payments"),
        ("/metrics", "tasker.metrics:read"),
        ("/health/status", "tasker.health_status:read"),
    ] {
        let anonymous = get(path, None).await;
        assert_eq!(anonymous.status(), 401, "{path}");
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer", "{path}");
        let body: Value = anonymous.json().await.expect("JSON");
        assert_eq!(body["code"], "UNAUTHENTICATED", "{path}");
        let wrong = get(path, Some(token(&["tasker.task:read"], 300))).await;
        assert_eq!(wrong.status(), 403, "{path}");
        let body: Value = wrong.json().await.expect("JSON");
        assert_eq!(body["code"], "FORBIDDEN", "{path}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains(grant.split('@').next().unwrap_or_default())),
            "{path}: {body}"
        );
        assert_eq!(
            get(path, Some(token(&[grant], 300))).await.status(),
            200,
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn introspection_and_subscriptions_need_a_valid_token() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(secured_config(&db)).await;
    let anonymous = call(&app, None, "{ __schema { queryType { name } } }", &json!({})).await;
    assert!(anonymous["data"]["__schema"].is_null(), "{anonymous}");
    let known = call(
        &app,
        Some(&token(&["tasker.nothing:read"], 300)),
        "{ __schema { queryType { name } } }",
        &json!({}),
    )
    .await;
    assert_eq!(known["data"]["__schema"]["queryType"]["name"], "Query", "{known}");

    // Websockets authenticate in connection_init (the library's client puts
    // its token there).
    let url = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1));
    let payload = || json!({"query": "subscription { workAvailable(handlers: [\"x\"]) }"});
    let refusal = |result: Result<Subscription, ClientError>| match result {
        Ok(_) => panic!("the connection was accepted"),
        Err(error) => error.to_string(),
    };
    let anonymous = refusal(Subscription::open(&url, None, payload()).await);
    assert!(anonymous.contains("UNAUTHENTICATED"), "{anonymous}");
    let expired = token(&["*"], -3_600);
    let expired = refusal(Subscription::open(&url, Some(&expired), payload()).await);
    assert!(
        expired.contains("UNAUTHENTICATED") && expired.contains("expired"),
        "{expired}"
    );

    let lacking = token(&["tasker.task:read"], 300);
    let open = Subscription::open(&url, Some(&lacking), payload())
        .await
        .expect("connects");
    let first = std::pin::pin!(open.into_stream::<Value>()).next().await;
    assert!(
        matches!(&first, Some(Err(e)) if e.code() == Some("FORBIDDEN")),
        "{first:?}"
    );

    let worker = token(&["tasker.step:claim"], 300);
    let open = Subscription::open(&url, Some(&worker), payload())
        .await
        .expect("connects");
    let mut stream = std::pin::pin!(open.into_stream::<Value>());
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(500), stream.next()).await;
    assert!(quiet.is_err(), "subscribed, and no work to report: {quiet:?}");

    // Events of other namespaces are skipped; a task of another namespace is refused.
    register_in(&app, &["payments", "shipping"]).await;
    let reader = token(&["tasker.event:read@payments", "tasker.task:read@shipping"], 300);
    let events = json!({"query": "subscription { events(names: [\"task.*\"]) { name namespace } }"});
    let open = Subscription::open(&url, Some(&reader), events)
        .await
        .expect("connects");
    let mut events = std::pin::pin!(open.into_stream::<Value>());
    let mut ids = Vec::new();
    for ns in ["shipping", "payments"] {
        ids.push(charge_in(&app, ns).await);
    }
    let first = events.next().await.expect("an event").expect("no error");
    assert_eq!(first["events"]["namespace"], "payments", "{first}");
    let follow = json!({"query": "subscription($id: ID!) { taskUpdated(id: $id) { status } }", "variables": {"id": ids[1].to_string()}});
    let open = Subscription::open(&url, Some(&reader), follow)
        .await
        .expect("connects");
    let first = std::pin::pin!(open.into_stream::<Value>()).next().await;
    assert!(
        matches!(&first, Some(Err(e)) if e.code() == Some("FORBIDDEN")),
        "{first:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn api_keys_authenticate_requests_and_websockets() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let (key, hash) = tasker::auth::api_key::generate("ci-bot").expect("generates");
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.auth.enabled = true;
    config.auth.api_keys = vec![tasker::config::ApiKeyConfig {
        name: "ci-bot".into(),
        hash,
        permissions: vec!["tasker.task:read".into()],
    }];
    let app = TestApp::spawn(config).await;
    let with_key = |key: &str, query: &str| {
        let request = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("x-api-key", key)
            .json(&json!({"query": query}));
        async move {
            request
                .send()
                .await
                .expect("request")
                .json::<Value>()
                .await
                .expect("JSON")
        }
    };
    let listed = with_key(&key, "{ tasks { totalCount } }").await;
    assert_eq!(outcome(&listed), Expect::Passes, "{listed}");
    let metrics = with_key(&key, "{ metrics { body } }").await;
    assert_eq!(outcome(&metrics), Expect::Code("FORBIDDEN"), "{metrics}");
    let wrong = with_key("ci-bot.0000", "{ tasks { totalCount } }").await;
    assert_eq!(outcome(&wrong), Expect::Code("UNAUTHENTICATED"), "{wrong}");
    assert!(
        !wrong.to_string().contains("ci-bot.0000"),
        "the key is never echoed"
    );
    // No JWT is configured, so a bearer token is not accepted at all.
    let bearer = call(
        &app,
        Some(&token(&["*"], 300)),
        "{ tasks { totalCount } }",
        &json!({}),
    )
    .await;
    assert_eq!(outcome(&bearer), Expect::Code("UNAUTHENTICATED"), "{bearer}");

    let url = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connects");
    let init = json!({"type": "connection_init", "payload": {"apiKey": key}});
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .expect("sends");
    let ack = socket.next().await.expect("a message").expect("no error");
    assert!(
        ack.to_text().is_ok_and(|t| t.contains("connection_ack")),
        "{ack:?}"
    );
    app.stop().await;
}
