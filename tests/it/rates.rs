//! Rate limits: no window of `per` ever holds more than `limit` starts of one
//! key, checked from the transition audit, also with two engines on one
//! database; a step held by its limit uses no attempt and says why; handler
//! limits from the configuration apply to every template; bad limits are
//! refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tasker::domain::StepStatus;
use tasker::domain::rate::{Period, RateLimitSpec};
use tasker::domain::waiting::WaitingFor;
use tasker::engine::{Engine, SystemClock};
use tasker::events::{EventBus, EventName};
use tasker::graphql;
use tasker::handlers::HandlerRegistry;
use tasker::service::{ClaimRequest, CreateTask, Error};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{
    Harness, TestDb, open_store, run, test_engine_options, test_settings, wait_all_complete,
};

crate::on_both_backends! {
    starts_of_a_key_never_exceed_its_limit_in_any_window_on_two_engines => sliding_window;
    a_handler_limit_from_the_configuration_holds_a_workers_third_claim_without_an_attempt => handler_limit;
    bad_rate_limits_are_refused_and_nothing_is_stored => bad_limits;
}

const LIMITED: &str = "name: notify
steps:
  - name: send
    handler: noop
    rate_limit: {key: context.account, limit: 4, per: 1s}
  - {name: record, handler: noop, depends_on: [send]}
";

/// Start times of the named step, by the given key of its task, from the audit.
async fn starts(
    h: &Harness,
    ids: &[Uuid],
    step: &str,
    keys: &HashMap<Uuid, String>,
) -> HashMap<String, Vec<DateTime<Utc>>> {
    let mut found: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for id in ids {
        let detail = h.tasker.task_detail(*id).await.expect("read").expect("task");
        let target = detail.steps.iter().find(|s| s.name == step).expect("step");
        assert_eq!(target.attempts, 1, "waiting for the limit used no attempt");
        let history = h.tasker.step_transitions(&[target.id]).await.expect("audit");
        for (_, t) in history.into_iter().filter(|(_, t)| t.to == "IN_PROGRESS") {
            found.entry(keys[id].clone()).or_default().push(t.at);
        }
    }
    for times in found.values_mut() {
        times.sort();
    }
    found
}

/// The most starts in any half-open window of `per` (each window that can
/// hold the most begins at a start).
fn most_in_a_window(times: &[DateTime<Utc>], per: chrono::Duration) -> usize {
    times
        .iter()
        .map(|from| times.iter().filter(|t| **t >= *from && **t < *from + per).count())
        .max()
        .unwrap_or(0)
}

async fn create(h: &Harness, name: &str, context: Value) -> Result<Uuid, Error> {
    let input = CreateTask {
        name: name.into(),
        context,
        ..CreateTask::default()
    };
    h.tasker.create_task(input).await.map(|c| c.task.id)
}

async fn sliding_window(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(LIMITED).await;
    let other = Engine::new(
        open_store(db).await,
        HandlerRegistry::with_builtins(),
        EventBus::new(1_000),
        Arc::new(SystemClock),
        test_engine_options(),
    );
    let cancel = CancellationToken::new();
    let second = tokio::spawn(other.run(cancel.clone()));
    let mut ids = Vec::new();
    let mut keys = HashMap::new();
    // Sixteen starts of a busy key need four windows; the quiet key's two,
    // created among them, do not wait for the busy key's turns.
    for i in 0..18 {
        let account = if i % 9 == 3 { "quiet" } else { "busy" };
        let id = create(&h, "notify", json!({"account": account}))
            .await
            .expect("created");
        keys.insert(id, account.to_owned());
        ids.push(id);
    }
    wait_all_complete(&h.tasker, &ids, Duration::from_secs(120)).await;
    cancel.cancel();
    second.await.expect("second engine stops");
    let found = starts(&h, &ids, "send", &keys).await;
    let second_long = chrono::Duration::seconds(1);
    let busy = &found["busy"];
    assert_eq!(busy.len(), 16);
    assert_eq!(
        most_in_a_window(busy, second_long),
        4,
        "the limit was used, never passed: {busy:?}"
    );
    assert!(
        busy[15] - busy[0] >= chrono::Duration::seconds(3),
        "sixteen starts at four a second span three windows at least: {busy:?}"
    );
    let quiet = &found["quiet"];
    assert_eq!(quiet.len(), 2);
    assert!(
        quiet[1] < busy[15],
        "the quiet key is not held back by the busy one: {quiet:?} {busy:?}"
    );
    h.stop().await;
}

const MAILER: &str = "name: welcome
steps:
  - {name: mail, handler: mailer, external: true}
";

async fn handler_limit(db: &TestDb) {
    let mut settings = test_settings();
    settings.handler_rates.insert(
        "mailer".into(),
        RateLimitSpec {
            key: None,
            limit: 2,
            per: Period::parse("1h").expect("period"),
        },
    );
    let h = Harness::start_configured(
        db,
        HandlerRegistry::with_builtins(),
        test_engine_options(),
        settings,
    )
    .await;
    h.register(MAILER).await;
    let mut events = h.tasker.events().subscribe();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create(&h, "welcome", json!({})).await.expect("created"));
    }
    let claim = || {
        h.tasker.claim_steps(ClaimRequest {
            worker_id: "w".into(),
            handlers: vec!["mailer".into()],
            limit: 10,
            lease_seconds: 60,
        })
    };
    let first = claim().await.expect("claims");
    assert_eq!(first.len(), 2, "two starts an hour: {first:?}");
    assert!(
        first.iter().all(|c| ids[..2].contains(&c.step.task_id)),
        "oldest first"
    );
    for c in &first {
        h.tasker
            .complete_step(c.step.id, c.lease_token, None)
            .await
            .expect("completes");
    }
    assert!(
        claim().await.expect("claims").is_empty(),
        "the hour's places are taken"
    );
    let held = h.tasker.task_detail(ids[2]).await.expect("read").expect("task");
    let step = &held.steps[0];
    assert_eq!(step.status, StepStatus::Pending);
    assert_eq!(step.attempts, 0);
    assert_eq!(step.waiting_for(Utc::now()), Some(WaitingFor::RateLimit));
    assert_eq!(step.rate_keys, vec!["handler:mailer".to_owned()]);
    let until = step.next_attempt_at.expect("claimable again when a place frees");
    assert!(until > Utc::now() + chrono::Duration::minutes(59), "{until}");
    let throttled = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let event = events.recv().await.expect("event");
            if event.name == EventName::StepThrottled {
                return event;
            }
        }
    })
    .await
    .expect("step.throttled published");
    assert_eq!(throttled.step_id, Some(step.id));
    assert_eq!(throttled.data["rate_keys"], json!(["handler:mailer"]));
    // The same over GraphQL, with the limits where they are declared.
    let schema = graphql::schema(h.tasker.clone(), &graphql::Settings::default());
    let seen = run(
        &schema,
        &h.tasker,
        "query($id: ID!) { task(id: $id) { steps { waitingFor rateLimitKeys attempts } }
           stepHandlers { name rateLimit { key limit per } } }",
        json!({"id": ids[2].to_string()}),
    )
    .await;
    assert_eq!(
        seen["data"]["task"]["steps"][0],
        json!({"waitingFor": "RATE_LIMIT", "rateLimitKeys": ["handler:mailer"], "attempts": 0}),
        "{seen}"
    );
    let mailer = seen["data"]["stepHandlers"]
        .as_array()
        .and_then(|all| all.iter().find(|h| h["name"] == "mailer"))
        .cloned();
    assert_eq!(
        mailer.map(|m| m["rateLimit"].clone()),
        Some(json!({"key": null, "limit": 2, "per": "1h"})),
        "{seen}"
    );
    h.stop().await;
}

async fn bad_limits(db: &TestDb) {
    let h = Harness::start(db).await;
    for (yaml, path) in [
        (
            "name: x\nsteps: [{name: a, handler: noop, rate_limit: {limit: 0, per: 1s}}]\n",
            "steps[0].rate_limit.limit",
        ),
        (
            "name: x\nsteps: [{name: a, handler: noop, rate_limit: {key: 'context.(', limit: 1, per: 1s}}]\n",
            "steps[0].rate_limit.key",
        ),
        (
            "name: x\nsteps: [{name: a, handler: noop, rate_limit: {limit: 1, per: 1w}}]\n",
            "1w",
        ),
        (
            "name: x\nsteps: [{name: a, handler: noop, rate_limit: {limit: 1, per: 1m, burst: 3}}]\n",
            "burst",
        ),
    ] {
        let err = h.tasker.register_template(yaml, false).await.expect_err(path);
        assert!(matches!(err, Error::Template(_)), "{err:?}");
        assert!(err.to_string().contains(path), "{path}: {err}");
    }
    assert!(
        h.tasker.list_templates(None).await.expect("list").is_empty(),
        "nothing stored"
    );
    h.register(LIMITED).await;
    let err = create(&h, "notify", json!({"user": "u"}))
        .await
        .expect_err("no account");
    assert!(matches!(err, Error::BadInput { .. }), "{err:?}");
    assert!(err.to_string().contains("rate_limit.key"), "{err}");
    let stored = h
        .tasker
        .count_tasks(&tasker::store::TaskQuery::default())
        .await
        .expect("count");
    assert_eq!(stored, 0, "nothing stored");
    h.stop().await;
}
