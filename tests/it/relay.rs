//! Events across replicas through Redis: a subscription on one replica sees a
//! task created on another; an unreachable Redis degrades to local mode.

use std::time::Duration;

use serde_json::json;

use crate::support::{TestApp, TestDb, ThrowawayRedis, WsClient, free_port, redis_url, test_config};

async fn relay_status(app: &TestApp) -> serde_json::Value {
    app.get_json("/health/status").await.1["redis"].clone()
}

async fn wait_connected(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while relay_status(app).await["status"] != "ok" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "relay never connected: {}",
            relay_status(app).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two replicas of one database sharing the Redis at `url`, both connected,
/// the `hop` template registered, and on the second a subscription to task
/// creations. The database is returned to outlive them.
async fn two_replicas(url: String) -> (TestDb, TestApp, TestApp, WsClient) {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.redis.url = url;
    config.redis.key_prefix = format!("tasker_test_{}", uuid::Uuid::new_v4().simple());
    let a = TestApp::spawn(config.clone()).await;
    let b = TestApp::spawn(config).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    a.tasker
        .register_template("name: hop\nsteps:\n  - {name: s, handler: noop}\n", false)
        .await
        .expect("registers");
    let mut ws = WsClient::connect(&b.base).await;
    ws.subscribe(
        "e",
        "subscription { events(names: [\"task.initialize_requested\"]) { name taskId namespace } }",
        json!({}),
    )
    .await;
    // Give the subscription a moment to reach B's bus.
    tokio::time::sleep(Duration::from_millis(100)).await;
    (db, a, b, ws)
}

#[tokio::test]
async fn a_subscription_on_one_replica_sees_tasks_created_on_another() {
    let Some(url) = redis_url() else { return };
    let (_db, a, b, mut ws) = two_replicas(url).await;
    let id = a.create_task("hop", json!({})).await;
    let event = ws.next().await;
    let event = &event["payload"]["data"]["events"];
    assert_eq!(event["taskId"], id.as_str(), "{event}");
    assert_eq!(event["namespace"], "default");
    let status = relay_status(&b).await;
    assert_eq!(status["mode"], "distributed");
    assert!(status["events_received"].as_u64() > Some(0), "{status}");
    assert!(relay_status(&a).await["events_published"].as_u64() > Some(0));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn an_unreachable_redis_degrades_to_local_mode() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    // Nothing listens on port 1.
    config.redis.url = "redis://127.0.0.1:1".into();
    let app = TestApp::spawn(config).await;
    app.tasker
        .register_template("name: alone\nsteps:\n  - {name: s, handler: noop}\n", false)
        .await
        .expect("registers");
    let id = app.create_task("alone", json!({})).await;
    let done = app.wait_complete(&id).await;
    assert_eq!(done["data"]["task"]["status"], "COMPLETE");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = relay_status(&app).await;
        if status["errors"].as_u64() > Some(0) {
            assert_eq!(status["mode"], "local", "{status}");
            assert!(status["last_error"].is_string(), "{status}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

async fn wait_mode(app: &TestApp, mode: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = relay_status(app).await;
        if status["mode"] == mode {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {mode}: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Create a task on `a`; `ws` (subscribed on another replica) must see it.
async fn crosses(a: &TestApp, ws: &mut WsClient) {
    let id = a.create_task("hop", json!({})).await;
    loop {
        let event = ws.next().await;
        if event["payload"]["data"]["events"]["taskId"] == id.as_str() {
            return;
        }
    }
}

#[tokio::test]
async fn a_redis_outage_degrades_to_local_mode_and_fan_out_resumes_when_it_returns() {
    // Only under CI=true, or with TASKER_TEST_REDIS_URL set, is a Redis expected here.
    if redis_url().is_none() {
        return;
    }
    let port = free_port();
    let mut redis = ThrowawayRedis::start_on(port);
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let (_db, a, b, mut ws) = two_replicas(url).await;
    crosses(&a, &mut ws).await;

    redis.stop();
    wait_mode(&a, "local").await;
    wait_mode(&b, "local").await;
    // Local mode still runs everything.
    let id = a.create_task("hop", json!({})).await;
    let done = a.wait_complete(&id).await;
    assert_eq!(done["data"]["task"]["status"], "COMPLETE");

    let _back = ThrowawayRedis::start_on(port);
    wait_mode(&a, "distributed").await;
    wait_mode(&b, "distributed").await;
    crosses(&a, &mut ws).await;
    a.stop().await;
    b.stop().await;
}
