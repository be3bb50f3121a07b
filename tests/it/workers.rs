//! The external-worker protocol at the service level: claim under a lease,
//! heartbeat, complete or fail with the token; stale tokens change nothing;
//! expired leases make the step claimable again as a new attempt.

use std::time::Duration;

use serde_json::json;
use tasker::domain::{StepStatus, TaskStatus};
use tasker::service::{ClaimRequest, ClaimedStep, Error, FailureReport};
use uuid::Uuid;

use crate::support::{Harness, TestDb};

crate::on_both_backends! {
    a_worker_claims_heartbeats_and_completes_and_children_get_its_results => worker_round_trip;
    an_expired_lease_makes_the_step_claimable_again_as_a_new_attempt => lease_expiry;
    a_worker_failure_follows_the_retry_policy_and_honours_retry_after => worker_failure;
}

const TEMPLATE: &str = "name: checkout
steps:
  - {name: validate, handler: noop}
  - {name: charge, handler: charge_card, external: true, depends_on: [validate], retry: {max_attempts: 3, backoff_ms: 10}}
  - {name: receipt, handler: echo, depends_on: [charge]}
";

fn request(lease_seconds: u32) -> ClaimRequest {
    ClaimRequest {
        worker_id: "worker-1".into(),
        handlers: vec!["charge_card".into()],
        limit: 5,
        lease_seconds,
    }
}

async fn claim_one(h: &Harness, lease_seconds: u32) -> ClaimedStep {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut claimed = h
            .tasker
            .claim_steps(request(lease_seconds))
            .await
            .expect("claims");
        if let Some(step) = claimed.pop() {
            assert!(claimed.is_empty());
            return step;
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing became claimable");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn worker_round_trip(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(TEMPLATE).await;
    let id = h.create("checkout", json!({"amount": 10})).await;
    let claimed = claim_one(&h, 30).await;
    assert_eq!(claimed.step.name, "charge");
    assert_eq!(claimed.attempt, 1);
    assert_eq!(claimed.context, json!({"amount": 10}));
    assert_eq!(claimed.parent_results.get("validate"), Some(&json!({})));
    assert_eq!(claimed.idempotency_key, format!("{id}:charge:1"));

    let extended = h
        .tasker
        .heartbeat_step(claimed.step.id, claimed.lease_token, Some(120))
        .await
        .expect("heartbeat");
    assert!(extended > claimed.lease_expires_at);

    let stale = h
        .tasker
        .complete_step(claimed.step.id, Uuid::new_v4(), Some(json!({"x": 1})))
        .await;
    assert!(matches!(stale, Err(Error::LeaseLost { .. })), "{stale:?}");
    let unchanged = h
        .tasker
        .step(claimed.step.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        unchanged.status,
        StepStatus::InProgress,
        "a stale token changes nothing"
    );

    let done = h
        .tasker
        .complete_step(claimed.step.id, claimed.lease_token, Some(json!({"charged": 10})))
        .await;
    assert_eq!(done.expect("completes").status, StepStatus::Complete);
    let detail = h.wait_finished(id).await;
    assert_eq!(detail.task.status, TaskStatus::Complete);
    let receipt = detail
        .steps
        .iter()
        .find(|s| s.name == "receipt")
        .expect("receipt");
    assert_eq!(
        detail.results[&receipt.id]["parents"]["charge"],
        json!({"charged": 10})
    );

    let late = h
        .tasker
        .heartbeat_step(claimed.step.id, claimed.lease_token, None)
        .await;
    assert!(matches!(late, Err(Error::LeaseLost { .. })), "{late:?}");
    let missing = h
        .tasker
        .heartbeat_step(Uuid::now_v7(), claimed.lease_token, None)
        .await;
    assert!(matches!(missing, Err(Error::NotFound { .. })), "{missing:?}");
    h.stop().await;
}

async fn lease_expiry(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(TEMPLATE).await;
    let mut events = h.tasker.events().subscribe();
    let id = h.create("checkout", json!({})).await;
    let first = claim_one(&h, 1).await;
    // No heartbeat: the engine's poll recovers the step once the lease lapses.
    let second = claim_one(&h, 30).await;
    assert_eq!(second.step.id, first.step.id);
    assert_eq!(second.attempt, 2, "a recovered step runs as a new attempt");
    assert_ne!(second.lease_token, first.lease_token);
    let old = h
        .tasker
        .complete_step(first.step.id, first.lease_token, None)
        .await;
    assert!(matches!(old, Err(Error::LeaseLost { .. })), "{old:?}");
    h.tasker
        .complete_step(second.step.id, second.lease_token, None)
        .await
        .expect("completes");
    assert_eq!(h.wait_finished(id).await.task.status, TaskStatus::Complete);
    let errors = tasker::store::step_errors(h.store.reader(), first.step.id)
        .await
        .expect("history");
    assert_eq!(
        errors.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        vec!["lease_expired"]
    );
    let mut lost = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.name == tasker::events::EventName::StepLeaseExpired {
            lost.push(event.payload());
        }
    }
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0]["to"], "WAITING_FOR_RETRY");
    assert_eq!(lost[0]["attempt"], 1);
    h.stop().await;
}

async fn worker_failure(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(TEMPLATE).await;
    let id = h.create("checkout", json!({})).await;
    let claimed = claim_one(&h, 30).await;
    let failure = FailureReport {
        message: "card declined, try later".into(),
        retryable: true,
        retry_after_seconds: Some(1),
    };
    let waiting = h
        .tasker
        .fail_step(claimed.step.id, claimed.lease_token, failure)
        .await
        .expect("records");
    assert_eq!(waiting.status, StepStatus::WaitingForRetry);
    let wait = waiting.next_attempt_at.expect("next attempt time") - chrono::Utc::now();
    assert!(
        wait.num_milliseconds() > 500,
        "Retry-After (capped at 1 s) wins over the 10 ms backoff: {wait}"
    );
    let nothing_yet = h.tasker.claim_steps(request(30)).await.expect("claims");
    assert!(nothing_yet.is_empty(), "not claimable before its backoff elapsed");

    let again = claim_one(&h, 30).await;
    assert_eq!(again.attempt, 2);
    let permanent = FailureReport {
        message: "card stolen".into(),
        retryable: false,
        retry_after_seconds: None,
    };
    let failed = h
        .tasker
        .fail_step(again.step.id, again.lease_token, permanent)
        .await
        .expect("records");
    assert_eq!(failed.status, StepStatus::Error);
    assert_eq!(failed.error.map(|e| e.kind.as_str()), Some("worker"));
    assert_eq!(h.wait_finished(id).await.task.status, TaskStatus::Error);
    let bad = h
        .tasker
        .claim_steps(ClaimRequest {
            limit: 0,
            ..request(30)
        })
        .await;
    assert!(matches!(bad, Err(Error::BadInput { .. })), "{bad:?}");
    h.stop().await;
}
