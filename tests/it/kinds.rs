//! Steps the engine runs itself: `when` conditions skip steps (their children
//! still run), durable sleeps hold no handler slot and survive a restart,
//! approvals wait for a decision that records who made it, and bad programs
//! are refused at registration.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tasker::domain::kind::StepKind;
use tasker::domain::waiting::WaitingFor;
use tasker::domain::{StepStatus, TaskStatus};
use tasker::engine;
use tasker::graphql;
use tasker::handlers::HandlerRegistry;
use tasker::service::{Error, TaskDetail};
use uuid::Uuid;

use crate::support::{Harness, TestDb, run, test_engine_options};

crate::on_both_backends! {
    a_false_condition_skips_its_step_with_the_reason_and_the_children_still_run => conditions;
    sleeps_hold_no_handler_slot_and_end_on_time_after_a_restart => sleeps;
    approvals_wait_for_a_decision_that_records_who_made_it => approvals;
    an_approval_without_a_decision_times_out_as_a_failure => approval_timeout;
}

const REVIEW: &str = "name: review
steps:
  - {name: score, handler: echo, config: {risk: 0.2}}
  - name: manual_review
    handler: noop
    depends_on: [score]
    when: parents.score.config.risk > 0.5
  - name: auto_approve
    handler: echo
    depends_on: [score]
    when: parents.score.config.risk <= 0.5 && context.country == 'DE'
  - {name: finish, handler: noop, depends_on: [manual_review, auto_approve]}
";

fn step<'a>(detail: &'a TaskDetail, name: &str) -> &'a tasker::service::StepView {
    detail.steps.iter().find(|s| s.name == name).expect("step")
}

async fn conditions(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(REVIEW).await;
    let id = h.create("review", json!({"country": "DE"})).await;
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Complete);
    let skipped = step(&done, "manual_review");
    assert_eq!(skipped.status, StepStatus::Skipped);
    assert_eq!(
        skipped.condition.as_deref(),
        Some("parents.score.config.risk > 0.5")
    );
    let audit = h.tasker.step_transitions(&[skipped.id]).await.expect("audit");
    let reason = audit
        .iter()
        .find(|(_, t)| t.to == "SKIPPED")
        .and_then(|(_, t)| t.reason.clone());
    assert_eq!(
        reason.as_deref(),
        Some("condition \"parents.score.config.risk > 0.5\" is false")
    );
    assert_eq!(step(&done, "auto_approve").status, StepStatus::Complete);
    assert_eq!(step(&done, "finish").status, StepStatus::Complete);

    // A condition that cannot be evaluated fails its step for good.
    let other = h.create("review", json!({})).await;
    let failed = h.wait_finished(other).await;
    assert_eq!(failed.task.status, TaskStatus::Error);
    let error = step(&failed, "auto_approve").error.clone().expect("an error");
    assert_eq!(error.kind.as_str(), "expression");
    assert!(error.message.contains("context.country"), "{error:?}");
    h.stop().await;
}

const NAP: &str = "name: nap
steps:
  - {name: rest, sleep: {ms: 1500}}
  - {name: wake, handler: noop, depends_on: [rest]}
";

const QUICK: &str = "name: quick
steps:
  - {name: go, handler: noop}
";

/// Wait until `done` holds for the task, at most 30 s.
async fn until(h: &Harness, id: Uuid, done: impl Fn(&TaskDetail) -> bool) -> TaskDetail {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let detail = h.tasker.task_detail(id).await.expect("read").expect("task");
        if done(&detail) {
            return detail;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", detail.steps);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn results_of(h: &Harness, id: Uuid) -> Option<serde_json::Value> {
    h.tasker.step_results(&[id]).await.expect("results").remove(&id)
}

fn one_slot() -> engine::Options {
    engine::Options {
        max_concurrency: 1,
        ..test_engine_options()
    }
}

async fn sleeps(db: &TestDb) {
    let h = Harness::start_with(db, HandlerRegistry::with_builtins(), one_slot()).await;
    h.register(NAP).await;
    h.register(QUICK).await;
    let mut naps = Vec::new();
    for _ in 0..3 {
        naps.push(h.create("nap", json!({})).await);
    }
    let mut ends: Vec<DateTime<Utc>> = Vec::new();
    for id in &naps {
        let waiting = until(&h, *id, |d| step(d, "rest").status == StepStatus::Waiting).await;
        let rest = step(&waiting, "rest");
        assert_eq!(rest.kind, StepKind::Sleep);
        assert_eq!(rest.handler, "tasker:sleep");
        assert_eq!(rest.waiting_for(Utc::now()), Some(WaitingFor::Sleep));
        ends.push(rest.next_attempt_at.expect("the sleep's end"));
    }
    // Three sleeping steps hold none of the one handler slot.
    let quick = h.create("quick", json!({})).await;
    let quick = h.wait_finished(quick).await;
    assert_eq!(quick.task.status, TaskStatus::Complete);
    let quick_end = quick.task.completed_at.expect("completed");
    assert!(ends.iter().all(|end| quick_end < *end), "{quick_end} {ends:?}");

    // Stopped and started again, the sleeps still end on time.
    h.stop().await;
    let h = Harness::start_with(db, HandlerRegistry::with_builtins(), one_slot()).await;
    for (id, end) in naps.iter().zip(&ends) {
        let done = h.wait_finished(*id).await;
        assert_eq!(done.task.status, TaskStatus::Complete);
        let rest = step(&done, "rest");
        let woke = rest.completed_at.expect("woke");
        assert!(woke >= *end, "woke at {woke}, before {end}");
        assert!(
            woke - *end < chrono::Duration::seconds(1),
            "woke at {woke}, more than a second after {end}"
        );
        assert_eq!(rest.attempts, 1);
        let results = results_of(&h, rest.id).await;
        assert!(results.is_some_and(|r| r["slept_until"].is_string()));
    }
    h.stop().await;
}

const SIGN_OFF: &str = "name: sign_off
steps:
  - {name: prepare, handler: noop}
  - {name: approve, approval: {}, depends_on: [prepare]}
  - {name: ship, handler: echo, depends_on: [approve]}
";

const DECIDE: &str = "mutation($id: ID!, $comment: String) {
  approveStep(id: $id, comment: $comment) { status kind waitingFor }
}";

async fn approvals(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(SIGN_OFF).await;
    let schema = graphql::schema(h.tasker.clone(), &graphql::Settings::default());
    let id = h.create("sign_off", json!({})).await;
    let waiting = until(&h, id, |d| step(d, "approve").status == StepStatus::Waiting).await;
    let approve = step(&waiting, "approve").id;
    let seen = run(
        &schema,
        &h.tasker,
        "query($id: ID!) { task(id: $id) { steps { name kind status waitingFor nextAttemptAt } } }",
        json!({"id": id.to_string()}),
    )
    .await;
    let steps = seen["data"]["task"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let shown = steps.iter().find(|s| s["name"] == "approve").cloned();
    assert_eq!(
        shown,
        Some(json!({"name": "approve", "kind": "APPROVAL", "status": "WAITING",
                    "waitingFor": "APPROVAL", "nextAttemptAt": null})),
        "{seen}"
    );
    let decided = run(
        &schema,
        &h.tasker,
        DECIDE,
        json!({"id": approve.to_string(), "comment": "looks good"}),
    )
    .await;
    assert_eq!(
        decided["data"]["approveStep"],
        json!({"status": "COMPLETE", "kind": "APPROVAL", "waitingFor": null}),
        "{decided}"
    );
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Complete);
    let results = results_of(&h, approve).await;
    assert_eq!(
        results,
        Some(json!({"approved": true, "by": "anonymous", "comment": "looks good"}))
    );
    let ship = results_of(&h, step(&done, "ship").id).await;
    assert_eq!(
        ship.map(|r| r["parents"]["approve"]["approved"].clone()),
        Some(json!(true))
    );
    let audit = h.tasker.step_transitions(&[approve]).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|(_, t)| t.reason.as_deref() == Some("approved by anonymous: looks good")),
        "{audit:?}"
    );

    // Deciding twice, or on a step that is no approval, is a conflict.
    let again = run(&schema, &h.tasker, DECIDE, json!({"id": approve.to_string()})).await;
    assert_eq!(again["errors"][0]["extensions"]["code"], "CONFLICT", "{again}");
    let not_one = step(&done, "ship").id;
    let wrong = h.tasker.decide_step(not_one, approve_as("ops")).await;
    assert!(matches!(wrong, Err(Error::Conflict { .. })), "{wrong:?}");

    // A rejection fails the step for good, and its task with it.
    let id = h.create("sign_off", json!({})).await;
    let waiting = until(&h, id, |d| step(d, "approve").status == StepStatus::Waiting).await;
    let approve = step(&waiting, "approve").id;
    let empty = run(
        &schema,
        &h.tasker,
        "mutation($id: ID!) { rejectStep(id: $id, reason: \" \") { status } }",
        json!({"id": approve.to_string()}),
    )
    .await;
    assert_eq!(
        empty["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{empty}"
    );
    let rejected = run(
        &schema,
        &h.tasker,
        "mutation($id: ID!) { rejectStep(id: $id, reason: \"not this week\") { status error { kind message } } }",
        json!({"id": approve.to_string()}),
    )
    .await;
    assert_eq!(
        rejected["data"]["rejectStep"],
        json!({"status": "ERROR", "error": {"kind": "rejected", "message": "rejected by anonymous: not this week"}}),
        "{rejected}"
    );
    let failed = h.wait_finished(id).await;
    assert_eq!(failed.task.status, TaskStatus::Error);
    assert_eq!(step(&failed, "ship").status, StepStatus::Pending);
    h.stop().await;
}

fn approve_as(by: &str) -> tasker::store::Decision {
    tasker::store::Decision::Approve {
        by: by.to_owned(),
        comment: None,
    }
}

const DEADLINE: &str = "name: deadline
steps:
  - name: approve
    approval: {timeout_ms: 300}
    retry: {max_attempts: 2, backoff_ms: 10}
";

async fn approval_timeout(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(DEADLINE).await;
    let id = h.create("deadline", json!({})).await;
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Error);
    let approve = step(&done, "approve");
    assert_eq!(approve.attempts, 2, "the timeout is retried per the policy");
    let error = approve.error.clone().expect("an error");
    assert_eq!(error.kind.as_str(), "timeout");
    let audit = h.tasker.step_transitions(&[approve.id]).await.expect("audit");
    let waits = audit.iter().filter(|(_, t)| t.to == "WAITING").count();
    assert_eq!(waits, 2, "{audit:?}");
    h.stop().await;
}

/// Programs that are not valid are refused, naming where.
#[tokio::test]
async fn bad_programs_are_refused_at_registration() {
    let db = TestDb::sqlite();
    let h = Harness::start(&db).await;
    let cases = [
        (
            "steps:\n  - {name: a, handler: noop, when: 'context.('}",
            "steps[0].when",
        ),
        (
            "steps:\n  - {name: a, handler: noop, sleep: {ms: 5}}",
            "steps[0].handler",
        ),
        ("steps:\n  - {name: a, sleep: {}}", "steps[0].sleep"),
        (
            "steps:\n  - {name: a, approval: {}, external: true}",
            "steps[0].external",
        ),
        ("steps:\n  - {name: a}", "steps[0].handler"),
        (
            "steps:\n  - {name: a, handler: 'tasker:sleep'}",
            "steps[0].handler",
        ),
    ];
    for (steps, path) in cases {
        let yaml = format!("name: bad\n{steps}\n");
        let err = h.tasker.register_template(&yaml, false).await.expect_err(path);
        let text = err.to_string();
        assert!(text.contains(path), "{path}: {text}");
    }
    h.stop().await;
}
