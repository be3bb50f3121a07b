//! Over real HTTP: health endpoints of the service, and the `http` handler
//! calling a local server that fails with 503 + Retry-After before succeeding.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use tasker::app::App;
use tasker::config::Config;
use tasker::domain::{StepStatus, TaskStatus};
use tasker::handlers::HandlerRegistry;
use tokio_util::sync::CancellationToken;

use crate::support::{Harness, TestDb};

async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, base)
}

fn client() -> reqwest::Client {
    tasker::install_tls_provider();
    reqwest::Client::new()
}

#[tokio::test]
async fn health_endpoints_answer_uncached_json() {
    let db = TestDb::sqlite();
    let mut config = Config::default();
    config.database.url = db.url.clone();
    config.templates.dirs = vec![];
    let app = App::build(&config, HandlerRegistry::with_builtins())
        .await
        .expect("builds");
    let (listener, base) = listen().await;
    let cancel = CancellationToken::new();
    let server = tokio::spawn(app.serve_on(listener, cancel.clone()));

    let live = client()
        .get(format!("{base}/health/live"))
        .send()
        .await
        .expect("live");
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(live.headers()["cache-control"], "no-store");
    let ready = client()
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .expect("ready");
    let status = ready.status();
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["migrations"]["status"], "ok");

    cancel.cancel();
    server.await.expect("joins").expect("stops cleanly");
}

#[tokio::test]
async fn the_http_handler_retries_503_after_retry_after_and_sends_an_idempotency_key() {
    let calls = Arc::new(AtomicUsize::new(0));
    let keys = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (c, k) = (Arc::clone(&calls), Arc::clone(&keys));
    let flaky = get(move |headers: HeaderMap| async move {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        k.lock().expect("lock").push(key);
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")], "busy").into_response()
        } else {
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                r#"{"ok":true}"#,
            )
                .into_response()
        }
    });
    let router = Router::new()
        .route("/flaky", flaky)
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }));
    let (listener, base) = listen().await;
    tokio::spawn(async move { axum::serve(listener, router).await });

    let db = TestDb::sqlite();
    let h = Harness::start(&db).await;
    h.register(&format!(
        "name: call_out
steps:
  - {{name: fetch, handler: http, config: {{url: \"{base}/flaky\"}}, retry: {{max_attempts: 3, backoff_ms: 10, max_backoff_ms: 5000}}}}
"
    ))
    .await;
    h.register(&format!("name: call_missing\nsteps:\n  - {{name: fetch, handler: http, config: {{url: \"{base}/missing\"}}}}\n"))
        .await;
    let id = h.create("call_out", json!({})).await;
    let detail = h.wait_finished(id).await;
    assert_eq!(detail.task.status, TaskStatus::Complete);
    let step = &detail.steps[0];
    assert_eq!(step.attempts, 2);
    assert_eq!(
        detail.results[&step.id],
        json!({"status": 200, "body": {"ok": true}})
    );
    let audit = h.tasker.step_transitions(&[step.id]).await.expect("audit");
    let at = |to: &str, attempt| {
        audit
            .iter()
            .find(|(_, t)| t.to == to && t.attempt == Some(attempt))
            .map(|(_, t)| t.at)
    };
    let waited = at("IN_PROGRESS", 2).expect("attempt 2") - at("WAITING_FOR_RETRY", 1).expect("backoff");
    assert!(
        waited >= chrono::Duration::milliseconds(950),
        "Retry-After: 1 was honoured: {waited}"
    );
    assert_eq!(
        *keys.lock().expect("lock"),
        vec![format!("{id}:fetch:1"), format!("{id}:fetch:2")]
    );

    let missing = h.wait_finished(h.create("call_missing", json!({})).await).await;
    assert_eq!(missing.task.status, TaskStatus::Error);
    assert_eq!(
        (missing.steps[0].status, missing.steps[0].attempts),
        (StepStatus::Error, 1),
        "a 404 is not retried"
    );
    h.stop().await;
}
