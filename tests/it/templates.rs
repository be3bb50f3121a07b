//! Template registration: atomic per namespace/name/version, identical content
//! is a no-op, different content conflicts unless replaced, and tasks in flight
//! keep the definition they were created with.

use serde_json::json;
use tasker::domain::TaskStatus;
use tasker::service::{CreateTask, Error};
use tasker::store::Registration;

use crate::support::{Harness, TestDb, open_store, services};

crate::on_both_backends! {
    registering_is_a_no_op_when_identical_a_conflict_when_different_and_replace_swaps => registration_rules;
    without_a_version_the_highest_semver_is_used_and_both_formats_register => versions_and_formats;
}

const V1: &str = "namespace: shop\nname: order\nversion: 1.0.0\nsteps:\n  - {name: a, handler: noop}\n";

async fn registration_rules(db: &TestDb) {
    let h = Harness::start(db).await;
    let (first, created) = h.tasker.register_template(V1, false).await.expect("registers");
    assert_eq!(created, Registration::Created);
    // Same meaning, different spelling and key order: still identical.
    let respelled = "version: \"1.0.0\"\nsteps:\n- handler: noop\n  name: a\nname: order\nnamespace: shop\n";
    let (again, unchanged) = h.tasker.register_template(respelled, false).await.expect("no-op");
    assert_eq!((unchanged, again.id), (Registration::Unchanged, first.id));

    let changed = "namespace: shop\nname: order\nversion: 1.0.0\nsteps:\n  - {name: a, handler: sleep, config: {ms: 300}}\n  - {name: b, handler: noop, depends_on: [a]}\n";
    let conflict = h
        .tasker
        .register_template(changed, false)
        .await
        .expect_err("different content");
    assert!(
        matches!(&conflict, Error::Conflict { message } if message.contains("shop/order@1.0.0")),
        "{conflict}"
    );

    // Another replica has parsed and cached the old definition.
    let replica = services(open_store(db).await, 16);
    let step_counts = |replica: &tasker::service::Tasker| {
        let replica = replica.clone();
        async move {
            let found = replica.find_template("shop", "order", None).await.expect("reads");
            let listed = replica.list_templates(Some("shop")).await.expect("lists");
            (
                found.map(|t| t.template.steps.len()),
                listed.iter().map(|t| t.template.steps.len()).collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(step_counts(&replica).await, (Some(1), vec![1]));

    let in_flight = h.create_in("shop", "order").await;
    let (replaced, how) = h.tasker.register_template(changed, true).await.expect("replaces");
    assert_eq!((how, replaced.id), (Registration::Replaced, first.id));
    let old = h.wait_finished(in_flight).await;
    assert_eq!(
        (old.task.status, old.steps.len()),
        (TaskStatus::Complete, 1),
        "a task keeps its definition"
    );
    let new = h.wait_finished(h.create_in("shop", "order").await).await;
    assert_eq!(new.steps.len(), 2);
    assert_eq!(
        step_counts(&replica).await,
        (Some(2), vec![2]),
        "a replica sees the replacement"
    );

    let invalid = h
        .tasker
        .register_template(
            "name: broken\nsteps:\n  - {name: a, handler: noop, depends_on: [a]}\n",
            false,
        )
        .await
        .expect_err("cycle");
    assert!(
        matches!(&invalid, Error::Template(_)) && invalid.to_string().contains("a -> a"),
        "{invalid}"
    );
    let too_big = h
        .tasker
        .register_template(&"#".repeat(2 * 1024 * 1024), false)
        .await
        .expect_err("too large");
    assert!(matches!(too_big, Error::PayloadTooLarge { .. }), "{too_big}");
    h.stop().await;
}

async fn versions_and_formats(db: &TestDb) {
    let h = Harness::start(db).await;
    for version in ["1.2.0", "1.10.0", "1.9.3"] {
        h.register(&V1.replace("1.0.0", version)).await;
    }
    let latest = h
        .tasker
        .find_template("shop", "order", None)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(
        latest.template.version.to_string(),
        "1.10.0",
        "semver order, not text order"
    );
    let pinned = h
        .tasker
        .create_task(CreateTask {
            namespace: Some("shop".into()),
            name: "order".into(),
            version: Some("1.9.3".into()),
            context: json!({}),
            ..CreateTask::default()
        })
        .await
        .expect("pinned version");
    assert_eq!(pinned.task.version, "1.9.3");

    let legacy = std::fs::read_to_string("examples/templates/legacy_tasker_format.yaml").expect("example");
    h.register(&legacy).await;
    let namespaces = h.tasker.list_namespaces().await.expect("namespaces");
    assert!(namespaces.contains(&("shop".to_owned(), 3)), "{namespaces:?}");
    assert!(namespaces.contains(&("api_task".to_owned(), 1)), "{namespaces:?}");
    let id = h
        .tasker
        .create_task(CreateTask {
            namespace: Some("api_task".into()),
            name: "integration_example".into(),
            context: json!({"cart_id": 1}),
            ..CreateTask::default()
        })
        .await
        .expect("created")
        .task
        .id;
    assert_eq!(h.wait_finished(id).await.task.status, TaskStatus::Complete);
    h.stop().await;
}
