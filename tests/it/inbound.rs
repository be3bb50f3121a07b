//! Waiting for events from outside: an event completes every waiting step
//! whose match holds (once, also when sent again with its key), an event that
//! arrived shortly before a wait began is still received, a wait without its
//! event times out, events racing waits that start are never lost, and
//! webhooks check their source and signature before storing anything.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tasker::domain::inbound::sign;
use tasker::domain::waiting::WaitingFor;
use tasker::domain::{StepStatus, TaskStatus};
use tasker::service::TaskDetail;
use uuid::Uuid;

use crate::support::{Harness, TestApp, TestDb, completed_once, test_config, wait_all_complete};

crate::on_both_backends! {
    an_event_completes_every_matching_wait_once => matching;
    an_event_sent_shortly_before_the_wait_began_is_received => lookback;
    a_wait_without_its_event_times_out => timeout;
    events_racing_waits_that_start_are_each_delivered_once => racing;
    webhooks_check_their_source_and_signature_before_storing => webhooks;
}

const PAYMENT: &str = "name: payment
steps:
  - name: paid
    wait_for:
      event: payments.paid
      match: event.order == context.order
      timeout_ms: 60000
  - {name: ship, handler: echo, depends_on: [paid]}
";

fn step<'a>(detail: &'a TaskDetail, name: &str) -> &'a tasker::service::StepView {
    detail.steps.iter().find(|s| s.name == name).expect("step")
}

async fn waiting(h: &Harness, id: Uuid) -> TaskDetail {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let detail = h.tasker.task_detail(id).await.expect("read").expect("task");
        if step(&detail, "paid").status == StepStatus::Waiting {
            return detail;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", detail.steps);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn matching(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(PAYMENT).await;
    let mut ids = Vec::new();
    for order in ["o1", "o1", "o2"] {
        ids.push(h.create("payment", json!({"order": order})).await);
    }
    for id in &ids {
        let detail = waiting(&h, *id).await;
        let paid = step(&detail, "paid");
        assert_eq!(paid.waiting_for(chrono::Utc::now()), Some(WaitingFor::Event));
        assert!(paid.next_attempt_at.is_some(), "the timeout shows");
    }
    let payload = json!({"order": "o1", "amount": 5});
    let sent = h
        .tasker
        .send_event("payments.paid", payload.clone(), Some("k1".into()))
        .await
        .expect("sent");
    assert!(!sent.duplicate);
    assert_eq!(sent.delivered.len(), 2, "{sent:?}");
    wait_all_complete(&h.tasker, &ids[..2], Duration::from_secs(30)).await;
    for id in &ids[..2] {
        let done = completed_once(&h.tasker, *id).await;
        let ship = step(&done, "ship").id;
        let results = h.tasker.step_results(&[ship]).await.expect("results");
        assert_eq!(results[&ship]["parents"]["paid"], payload);
    }
    let other = h.tasker.task_detail(ids[2]).await.expect("read").expect("task");
    assert_eq!(step(&other, "paid").status, StepStatus::Waiting);

    let again = h
        .tasker
        .send_event("payments.paid", json!({"order": "o2"}), Some("k1".into()))
        .await
        .expect("sent");
    assert!(again.duplicate, "the key was used");
    assert!(again.delivered.is_empty());
    assert_eq!(again.event.id, sent.event.id);
    let stored = h
        .tasker
        .inbound_events(Some("payments.paid"), 10)
        .await
        .expect("events");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].delivered, 2);
    let bad = h.tasker.send_event("has space", json!({}), None).await;
    assert!(bad.is_err());
    h.stop().await;
}

async fn lookback(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(PAYMENT).await;
    h.tasker
        .send_event("payments.paid", json!({"order": "early"}), None)
        .await
        .expect("sent");
    let id = h.create("payment", json!({"order": "early"})).await;
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Complete);
    let audit = h
        .tasker
        .step_transitions(&[step(&done, "paid").id])
        .await
        .expect("audit");
    assert!(
        audit.iter().any(|(_, t)| t
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("received before the wait began"))),
        "{audit:?}"
    );
    h.stop().await;
}

const SHORT: &str = "name: short
steps:
  - name: paid
    wait_for: {event: payments.paid, timeout_ms: 200}
    retry: {max_attempts: 1}
";

async fn timeout(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(SHORT).await;
    let id = h.create("short", json!({})).await;
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Error);
    let error = step(&done, "paid").error.clone().expect("error");
    assert_eq!(error.kind.as_str(), "timeout");
    assert!(error.message.contains("no matching event"), "{error:?}");
    h.stop().await;
}

async fn racing(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(PAYMENT).await;
    // Tasks are created while their events are sent: each event arrives
    // before, while or after its step begins to wait.
    let tasker = h.tasker.clone();
    let sender = tokio::spawn(async move {
        for i in 0..30 {
            let order = format!("r{i}");
            tasker
                .send_event("payments.paid", json!({"order": order}), None)
                .await
                .expect("sent");
            tokio::task::yield_now().await;
        }
    });
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(h.create("payment", json!({"order": format!("r{i}")})).await);
    }
    sender.await.expect("sender");
    wait_all_complete(&h.tasker, &ids, Duration::from_secs(60)).await;
    for id in &ids {
        completed_once(&h.tasker, *id).await;
    }
    h.stop().await;
}

async fn webhooks(db: &TestDb) {
    let mut config = test_config(db);
    config.inbound_events.sources.insert(
        "stripe".into(),
        tasker::config::EventSourceConfig {
            secret: "s3cret".into(),
        },
    );
    config
        .inbound_events
        .sources
        .insert("internal".into(), tasker::config::EventSourceConfig::default());
    let app = TestApp::spawn(config).await;
    let send = |name: &str, body: &'static str, signature: Option<String>| {
        let mut request = app
            .client
            .post(format!("{}/events/{name}", app.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-tasker-signature", signature);
        }
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("JSON");
            (status, body)
        }
    };
    let body = r#"{"order": "w1"}"#;
    let (status, refused) = send("stripe.paid", body, Some(sign("wrong", body.as_bytes()))).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{refused}"
    );
    let (status, _) = send("stripe.paid", body, None).await;
    assert_eq!(status, 401);
    let (status, unknown) = send("github.push", body, None).await;
    assert_eq!(
        (status, unknown["code"].as_str()),
        (404, Some("NOT_FOUND")),
        "{unknown}"
    );
    let listed = app.post("{ events { name } }", json!({})).await;
    assert_eq!(
        listed["data"]["events"],
        json!([]),
        "nothing was stored: {listed}"
    );

    let (status, accepted) = send("stripe.paid", body, Some(sign("s3cret", body.as_bytes()))).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["name"], "stripe.paid");
    assert_eq!(accepted["duplicate"], false);
    let (status, plain) = send("internal.deploy", "{}", None).await;
    assert_eq!(status, 200, "{plain}");
    let sent = app
        .post(
            "mutation { sendEvent(name: \"internal.deploy\", payload: {env: \"prod\"}, idempotencyKey: \"d1\") { duplicate deliveredStepIds event { name payload } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        sent["data"]["sendEvent"],
        json!({"duplicate": false, "deliveredStepIds": [],
               "event": {"name": "internal.deploy", "payload": {"env": "prod"}}}),
        "{sent}"
    );
    let listed = app
        .post("{ events(first: 10) { name delivered } }", json!({}))
        .await;
    let names: Vec<&str> = listed["data"]["events"]
        .as_array()
        .map(|all| all.iter().filter_map(|e| e["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        ["internal.deploy", "internal.deploy", "stripe.paid"],
        "{listed}"
    );
    let counts: HashMap<&str, usize> = names.iter().fold(HashMap::new(), |mut m, n| {
        *m.entry(*n).or_default() += 1;
        m
    });
    assert_eq!(counts["stripe.paid"], 1);
    app.stop().await;
}
