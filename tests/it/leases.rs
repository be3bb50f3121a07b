//! Lease renewal on PostgreSQL never waits for a row lock: a renewal that
//! waited for a row an engine turn had locked, while the turn waited for a row
//! the renewal had locked, deadlocked, and PostgreSQL aborted one side.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Database, EntityTrait, TransactionTrait};
use serde_json::json;
use tasker::entities::workflow_step;
use tasker::service::ClaimRequest;
use tasker::store::renew_leases;
use uuid::Uuid;

use crate::support::{TestDb, open_store, services};

const TEMPLATE: &str = "name: pair
steps:
  - {name: left, handler: remote, external: true}
  - {name: right, handler: remote, external: true}
";

const OWNER: &str = "worker-renewing";

async fn expiry(store: &tasker::store::Store, id: Uuid) -> Option<DateTime<Utc>> {
    workflow_step::Entity::find_by_id(id)
        .one(store.writer())
        .await
        .expect("reads the step")
        .expect("step exists")
        .lease_expires_at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_skips_rows_locked_by_another_transaction_and_still_counts_them_held() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = open_store(&db).await;
    let tasker = services(store.clone(), 64);
    tasker
        .register_template(TEMPLATE, false)
        .await
        .expect("registers");
    tasker
        .create_task(tasker::service::CreateTask {
            name: "pair".into(),
            context: json!({}),
            ..Default::default()
        })
        .await
        .expect("creates");
    let claimed = tasker
        .claim_steps(ClaimRequest {
            worker_id: OWNER.into(),
            handlers: vec!["remote".into()],
            limit: 5,
            lease_seconds: 30,
        })
        .await
        .expect("claims");
    let ids: Vec<Uuid> = claimed.iter().map(|c| c.step.id).collect();
    assert_eq!(ids.len(), 2, "both steps are claimed");
    let (locked, free) = (ids[0], ids[1]);
    let before = expiry(&store, locked).await;

    // Another transaction (an engine turn, say) holds one of the rows.
    let other = Database::connect(db.url.as_str()).await.expect("connects");
    let turn = other.begin().await.expect("begins");
    turn.execute_unprepared(&format!(
        "SELECT id FROM workflow_step WHERE id = '{locked}' FOR UPDATE"
    ))
    .await
    .expect("locks the row");

    let until = Utc::now() + chrono::Duration::seconds(600);
    let held = tokio::time::timeout(
        Duration::from_secs(5),
        renew_leases(store.writer(), OWNER, until, &ids),
    )
    .await
    .expect("the renewal does not wait for the locked row")
    .expect("renews");
    assert!(held.contains(&locked) && held.contains(&free), "{held:?}");
    assert_eq!(
        expiry(&store, locked).await,
        before,
        "the locked row is left for next round"
    );
    let renewed = expiry(&store, free).await.expect("free row has a lease");
    assert!(
        (renewed - until).num_milliseconds().abs() < 1,
        "{renewed} vs {until}"
    );

    turn.rollback().await.expect("rolls back");
    let later = until + chrono::Duration::seconds(60);
    let held = renew_leases(store.writer(), OWNER, later, &ids)
        .await
        .expect("renews");
    assert_eq!(held.len(), 2);
    let renewed = expiry(&store, locked).await.expect("lease");
    assert!(
        (renewed - later).num_milliseconds().abs() < 1,
        "next round renews it"
    );

    // A row that is no longer ours is not held, locked or not.
    let held = renew_leases(store.writer(), "someone-else", later, &ids)
        .await
        .expect("renews");
    assert!(held.is_empty(), "{held:?}");
}
