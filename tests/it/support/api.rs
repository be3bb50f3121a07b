//! GraphQL in-process (schema.execute) and over a real server.

use std::time::Duration;

use serde_json::{Value, json};
use tasker::app::App;
use tasker::config::Config;
use tasker::graphql::{self, RequestInfo, TaskerSchema};
use tasker::handlers::HandlerRegistry;
use tasker::service::Tasker;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::TestDb;

/// Run a GraphQL document against a schema, as a client would see the JSON.
pub async fn run(schema: &TaskerSchema, tasker: &Tasker, query: &str, variables: Value) -> Value {
    let request =
        async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(variables));
    let request = graphql::prepare(
        request,
        tasker,
        RequestInfo {
            correlation_id: "test".into(),
        },
    );
    serde_json::to_value(schema.execute(request).await).expect("response serializes")
}

/// Every `extensions.code` of a response.
pub fn codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The configuration tests serve with.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config::default();
    config.database.url = db.url.clone();
    config.templates.dirs = vec![];
    config.engine.poll_interval_ms = 50;
    config.engine.lease_seconds = 5;
    config.engine.shutdown_grace_seconds = 2;
    config.backoff.base_seconds = 0.01;
    config.backoff.max_backoff_seconds = 1.0;
    config.backoff.jitter = false;
    config
}

/// A running `tasker serve` in this process.
pub struct TestApp {
    pub base: String,
    pub tasker: Tasker,
    pub client: reqwest::Client,
    cancel: CancellationToken,
    join: Option<JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(config: Config) -> TestApp {
        tasker::install_tls_provider();
        let app = App::build(&config, HandlerRegistry::with_builtins())
            .await
            .expect("app builds");
        let tasker = app.tasker().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let cancel = CancellationToken::new();
        let serving = cancel.clone();
        let join = tokio::spawn(async move {
            app.serve_on(listener, serving).await.expect("serves");
        });
        TestApp {
            base,
            tasker,
            client: reqwest::Client::new(),
            cancel,
            join: Some(join),
        }
    }

    /// POST a GraphQL request; the JSON body.
    pub async fn post(&self, query: &str, variables: Value) -> Value {
        self.post_raw(&json!({"query": query, "variables": variables}))
            .await
            .1
    }

    /// Create a task from template `name` (default namespace); its id.
    pub async fn create_task(&self, name: &str, context: Value) -> String {
        let query =
            "mutation($n: String!, $c: JSON!) { createTask(input: {name: $n, context: $c}) { task { id } } }";
        let body = self.post(query, json!({"n": name, "c": context})).await;
        body["data"]["createTask"]["task"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("created: {body}"))
            .to_owned()
    }

    /// GET a path of the service.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    /// GET a path; status and JSON body.
    pub async fn get_json(&self, path: &str) -> (reqwest::StatusCode, Value) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }

    /// `/metrics` once `ready` holds for its text, or as it stands after about
    /// 2 s (polling every 20 ms): the telemetry subscriber records an event a
    /// little after it is published (it gathers events for up to 50 ms). Its
    /// content type and text.
    pub async fn metrics_when(&self, ready: impl Fn(&str) -> bool) -> (String, String) {
        let mut tries = 0;
        loop {
            let response = self.get("/metrics").await;
            assert_eq!(response.status(), 200);
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .to_owned();
            let text = response.text().await.expect("metrics text");
            if ready(&text) || tries == 100 {
                return (content_type, text);
            }
            tries += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// POST any JSON body; status and JSON body.
    pub async fn post_raw(&self, body: &Value) -> (reqwest::StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }

    /// Wait until `query`'s JSON satisfies `done` (polling every 20 ms, 30 s at most).
    pub async fn wait_until(&self, query: &str, variables: Value, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let response = self.post(query, variables.clone()).await;
            if done(&response) {
                return response;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition never held; last response: {response}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until task `id` is COMPLETE (as [`Self::wait_until`]); its `task { status }`.
    pub async fn wait_complete(&self, id: &str) -> Value {
        self.wait_until(
            "query($id: ID!) { task(id: $id) { status } }",
            json!({"id": id}),
            |r| r["data"]["task"]["status"] == "COMPLETE",
        )
        .await
    }

    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(join) = self.join.take() {
            join.await.expect("server stops");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
