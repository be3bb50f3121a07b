//! Handler concurrency limits from the configuration: however many templates
//! use a handler, no more of its steps run at once than its cluster limit
//! (checked from the audit with two engines on one database), and no more
//! under one claimer than its per-replica limit; a held step uses no attempt
//! and says it waits for CONCURRENCY.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tasker::domain::StepStatus;
use tasker::domain::handler_limit::HandlerConcurrency;
use tasker::domain::waiting::WaitingFor;
use tasker::engine::{self, Engine, SystemClock};
use tasker::events::EventBus;
use tasker::graphql;
use tasker::handlers::HandlerRegistry;
use tasker::service::{ClaimRequest, ClaimedStep, Settings};
use tasker::store::HandlerLimits;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{
    Harness, Pairs, TestDb, most_at_once, open_store, run, step_runs, test_engine_options, test_settings,
    wait_all_complete,
};

crate::on_both_backends! {
    two_templates_on_two_engines_never_run_more_than_the_handlers_cluster_limit => cluster_limit;
    workers_share_the_cluster_limit_and_each_keeps_to_its_per_replica_limit => worker_limits;
}

fn limited(handler: &str, cluster: Option<u32>, per_replica: Option<u32>) -> HandlerLimits {
    HashMap::from([(handler.to_owned(), HandlerConcurrency { cluster, per_replica })])
}

fn configured(limits: &HandlerLimits) -> (engine::Options, Settings) {
    let options = engine::Options {
        handler_concurrency: Arc::new(limits.clone()),
        ..test_engine_options()
    };
    let settings = Settings {
        handler_concurrency: limits.clone(),
        ..test_settings()
    };
    (options, settings)
}

const FETCH: &str = "name: fetch
steps:
  - {name: call, handler: pairs, config: {ms: 15}}
";

const SYNC: &str = "name: sync
steps:
  - {name: prepare, handler: noop}
  - {name: call, handler: pairs, config: {ms: 15}, depends_on: [prepare]}
";

async fn cluster_limit(db: &TestDb) {
    let limits = limited("pairs", Some(2), None);
    let (options, settings) = configured(&limits);
    // The first run waits for a second to start: the limit is seen used
    // without depending on timing.
    let (mine, theirs) = (HandlerRegistry::with_builtins(), HandlerRegistry::with_builtins());
    Pairs::install(&[&mine, &theirs]);
    let h = Harness::start_configured(db, mine, options.clone(), settings).await;
    h.register(FETCH).await;
    h.register(SYNC).await;
    let other = Engine::new(
        open_store(db).await,
        theirs,
        EventBus::new(1_000),
        Arc::new(SystemClock),
        engine::Options {
            instance_id: engine::default_instance_id(),
            ..options
        },
    );
    let cancel = CancellationToken::new();
    let second = tokio::spawn(other.run(cancel.clone()));
    let mut ids = Vec::new();
    for i in 0..24 {
        let name = if i % 2 == 0 { "fetch" } else { "sync" };
        ids.push(h.create(name, json!({})).await);
    }
    wait_all_complete(&h.tasker, &ids, Duration::from_secs(120)).await;
    cancel.cancel();
    second.await.expect("second engine stops");
    let every: HashMap<Uuid, String> = ids.iter().map(|id| (*id, "pairs".to_owned())).collect();
    let most = most_at_once(&step_runs(&h, &ids, "call", &every).await);
    assert!(most["pairs"] <= 2, "{most:?}");
    assert_eq!(most["pairs"], 2, "the limit was used: {most:?}");
    h.stop().await;
}

const MAILER: &str = "name: welcome
steps:
  - {name: mail, handler: mailer, external: true}
";

async fn worker_limits(db: &TestDb) {
    let limits = limited("mailer", Some(3), Some(2));
    let (options, settings) = configured(&limits);
    let h = Harness::start_configured(db, HandlerRegistry::with_builtins(), options, settings).await;
    h.register(MAILER).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(h.create("welcome", json!({})).await);
    }
    let claim = |worker: &'static str| {
        h.tasker.claim_steps(ClaimRequest {
            worker_id: worker.into(),
            handlers: vec!["mailer".into()],
            limit: 10,
            lease_seconds: 60,
        })
    };
    let first = claim("w1").await.expect("claims");
    assert_eq!(first.len(), 2, "two per worker");
    let second = claim("w2").await.expect("claims");
    assert_eq!(second.len(), 1, "three in the cluster");
    assert!(
        claim("w3").await.expect("claims").is_empty(),
        "the cluster is full"
    );
    let claimed: Vec<Uuid> = first.iter().chain(&second).map(|c| c.step.task_id).collect();
    assert!(claimed.iter().all(|id| ids[..3].contains(id)), "oldest first");

    // A held step waits without an attempt and says why, also over GraphQL.
    let held = h.tasker.task_detail(ids[3]).await.expect("read").expect("task");
    assert_eq!(held.steps[0].status, StepStatus::Pending);
    assert_eq!(held.steps[0].attempts, 0);
    assert_eq!(
        held.steps[0].waiting_for(Utc::now()),
        Some(WaitingFor::Concurrency)
    );
    let schema = graphql::schema(h.tasker.clone(), &graphql::Settings::default());
    let seen = run(
        &schema,
        &h.tasker,
        "query($id: ID!) { task(id: $id) { steps { waitingFor attempts } }
           stepHandlers { name maxConcurrency maxConcurrencyPerReplica } }",
        json!({"id": ids[3].to_string()}),
    )
    .await;
    assert_eq!(
        seen["data"]["task"]["steps"][0],
        json!({"waitingFor": "CONCURRENCY", "attempts": 0}),
        "{seen}"
    );
    let mailer = seen["data"]["stepHandlers"]
        .as_array()
        .and_then(|all| all.iter().find(|h| h["name"] == "mailer"))
        .cloned();
    assert_eq!(
        mailer,
        Some(json!({"name": "mailer", "maxConcurrency": 3, "maxConcurrencyPerReplica": 2})),
        "{seen}"
    );

    // A slot freed by w1 goes to the next claimer; w1 still has one running.
    complete(&h, &first[0]).await;
    let third = claim("w3").await.expect("claims");
    assert_eq!(third.len(), 1);
    assert!(
        claim("w1").await.expect("claims").is_empty(),
        "the cluster is full again"
    );
    for c in [&first[1], &second[0], &third[0]] {
        complete(&h, c).await;
    }
    let last = claim("w1").await.expect("claims");
    assert_eq!(last.len(), 1, "the fifth step");
    complete(&h, &last[0]).await;
    wait_all_complete(&h.tasker, &ids, Duration::from_secs(60)).await;
    h.stop().await;
}

async fn complete(h: &Harness, claimed: &ClaimedStep) {
    h.tasker
        .complete_step(claimed.step.id, claimed.lease_token, None)
        .await
        .expect("completes");
}
