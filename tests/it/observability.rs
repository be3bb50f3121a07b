//! Metrics, status and readiness over real HTTP: `/metrics` parsed by a
//! Prometheus text parser after a task ran, `/health/status` counting it, and
//! readiness that follows the database down and back up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{TestApp, TestDb, test_config};

crate::on_both_backends! {
    metrics_and_status_count_a_finished_task => metrics_and_status;
}

const FLOW: &str = "namespace: shop\nname: ship\nsteps:\n  - {name: pick, handler: noop}\n  - {name: pack, handler: sleep, config: {ms: 20}, depends_on: [pick]}\n";

fn sample(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            _ => f64::NAN,
        })
        .sum()
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text")
}

async fn metrics_and_status(db: &TestDb) {
    let app = TestApp::spawn(test_config(db)).await;
    app.tasker
        .register_template(FLOW, false)
        .await
        .expect("registers");
    let created = app
        .post(
            "mutation Ship { createTask(input: {namespace: \"shop\", name: \"ship\", context: {}}) { task { id } } }",
            json!({}),
        )
        .await;
    let id = created["data"]["createTask"]["task"]["id"].clone();
    app.wait_complete(id.as_str().expect("id is a string")).await;

    // The feed follows events asynchronously: wait for the completion to land.
    let done = [("namespace", "shop"), ("name", "ship"), ("status", "complete")];
    let (content_type, text) = app
        .metrics_when(|text| sample(&parse(text), "tasker_tasks_total", &done) == 1.0)
        .await;
    let s = parse(&text);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let task = [("namespace", "shop"), ("name", "ship")];
    assert_eq!(
        sample(
            &s,
            "tasker_tasks_total",
            &[task[0], task[1], ("status", "complete")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &s,
            "tasker_tasks_total",
            &[task[0], task[1], ("status", "pending")]
        ),
        1.0
    );
    assert_eq!(sample(&s, "tasker_workflow_duration_seconds_count", &task), 1.0);
    let sleep = [("namespace", "shop"), ("handler", "sleep")];
    assert_eq!(
        sample(
            &s,
            "tasker_steps_total",
            &[sleep[0], sleep[1], ("status", "complete")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &s,
            "tasker_step_attempts_total",
            &[sleep[0], sleep[1], ("outcome", "success")]
        ),
        1.0
    );
    assert_eq!(sample(&s, "tasker_step_duration_seconds_count", &sleep), 1.0);
    assert!(sample(&s, "tasker_step_duration_seconds_sum", &sleep) >= 0.02);
    assert_eq!(
        sample(
            &s,
            "tasker_graphql_requests_total",
            &[("operation", "Ship"), ("status", "ok")]
        ),
        1.0
    );
    assert!(sample(&s, "tasker_claim_latency_seconds_count", &[]) >= 1.0);
    assert_eq!(
        sample(&s, "tasker_events_total", &[("event", "task.completed")]),
        1.0
    );
    assert_eq!(sample(&s, "tasker_tasks_in_progress", &[]), 0.0);
    assert_eq!(sample(&s, "tasker_steps_ready", &[]), 0.0);
    assert!(sample(&s, "process_resident_memory_bytes", &[]) > 0.0);

    let response = app.get("/health/status").await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.status(), 200);
    let status: serde_json::Value = response.json().await.expect("json");
    assert_eq!(status["status"], "ok", "{status}");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["database"]["status"], "ok");
    assert_eq!(status["tasks"]["COMPLETE"], 1, "{status}");
    assert_eq!(status["queue"]["steps_ready"], 0);
    assert_eq!(status["leases"]["active"], 0);
    assert_eq!(status["registry"]["templates"], 1);
    assert!(status["engine"]["steps_claimed"].as_u64() >= Some(2), "{status}");
    assert_eq!(status["redis"]["mode"], "local");
    assert_eq!(status["engine"]["dispatch_failures"], 0, "{status}");
    assert_eq!(status["events"]["watched_tasks"], 0, "{status}");
    let autovacuum = &status["database"]["autovacuum"];
    if db.url.starts_with("postgres") {
        assert!(autovacuum == "on" || autovacuum == "off", "{status}");
    } else {
        assert!(autovacuum.is_null(), "{status}");
    }
    app.stop().await;
}

/// A TCP relay to the database that can be cut (every connection dropped,
/// the port closed) and restored on the same port.
struct Relay {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let relay = Relay {
            port,
            target,
            tasks: Arc::default(),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), Arc::clone(&self.tasks));
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().expect("lock").push(pipe);
            }
        });
        self.tasks.lock().expect("lock").push(accept);
    }

    fn cut(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.expect("rebind");
        self.serve(listener);
    }
}

async fn readiness(app: &TestApp) -> (u16, serde_json::Value) {
    let (code, body) = app.get_json("/health/ready").await;
    (code.as_u16(), body)
}

#[tokio::test]
async fn readiness_follows_the_database_down_and_back_up() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let url = reqwest::Url::parse(&db.url).expect("url");
    let target = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    );
    let relay = Relay::start(target).await;
    let mut relayed = url.clone();
    relayed.set_port(Some(relay.port)).expect("port");
    let mut config = test_config(&db);
    config.database.url = relayed.to_string();
    config.database.acquire_timeout_seconds = 1;
    config.database.connect_timeout_seconds = 1;
    let app = TestApp::spawn(config).await;
    assert_eq!(readiness(&app).await.0, 200);

    relay.cut();
    let (code, body) = readiness(&app).await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["checks"]["database"]["status"], "error", "{body}");
    assert_eq!(app.get("/health/status").await.status(), 503);

    relay.restore().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = readiness(&app).await;
        if code == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {code}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}
