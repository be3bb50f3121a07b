//! Filters and cursor pagination over `tasks`.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tasker::graphql;
use tasker::service::{CreateTask, Tasker};

use crate::support::{TestDb, open_store, run, services};

crate::on_both_backends! {
    paging_through_250_tasks_while_new_ones_arrive_has_no_duplicates_or_gaps => paging_and_filters;
}

const PAGE: &str = "query($f: TaskFilter, $first: Int, $after: String, $last: Int, $before: String) {
  tasks(filter: $f, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
  }
}";

fn ids(page: &Value) -> Vec<String> {
    page["data"]["tasks"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn paging_and_filters(db: &TestDb) {
    let store = open_store(db).await;
    let tasker = services(store, 16);
    tasker
        .register_template(
            "namespace: a\nname: alpha\nsteps:\n  - {name: s, handler: noop}\n",
            false,
        )
        .await
        .expect("a");
    tasker
        .register_template(
            "namespace: b\nname: beta\nsteps:\n  - {name: s, handler: noop}\n",
            false,
        )
        .await
        .expect("b");
    let create = |tasker: Tasker, ns: &'static str, name: &'static str, tags: Vec<String>| async move {
        let input = CreateTask {
            namespace: Some(ns.into()),
            name: name.into(),
            context: json!({}),
            tags,
            ..CreateTask::default()
        };
        tasker.create_task(input).await.expect("created").task
    };
    let mut original = Vec::new();
    let mut hundredth_at = None;
    for i in 0..250 {
        let tags = if i % 5 == 0 {
            vec!["vip".into(), "batch".into()]
        } else {
            vec!["batch".into()]
        };
        let task = create(tasker.clone(), "a", "alpha", tags).await;
        if i == 100 {
            hundredth_at = Some(task.created_at);
        }
        original.push(task.id.to_string());
    }
    create(tasker.clone(), "b", "beta", vec![]).await;
    let schema = graphql::schema(tasker.clone(), &graphql::Settings::default());

    let arriving = tokio::spawn({
        let tasker = tasker.clone();
        async move {
            for _ in 0..30 {
                create(tasker.clone(), "a", "alpha", vec![]).await;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        }
    });
    let filter = json!({"namespace": "a"});
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = run(
            &schema,
            &tasker,
            PAGE,
            json!({"f": filter, "first": 40, "after": after}),
        )
        .await;
        seen.extend(ids(&page));
        let info = &page["data"]["tasks"]["pageInfo"];
        if info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].as_str().map(str::to_owned);
    }
    arriving.await.expect("creator finished");
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no task twice");
    assert!(
        original.iter().all(|id| unique.contains(id)),
        "every task that existed is on some page"
    );
    let newest_first: Vec<&String> = original.iter().rev().collect();
    let positions: Vec<usize> = newest_first
        .iter()
        .filter_map(|id| seen.iter().position(|s| s == *id))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "newest first, stable order"
    );

    let count = |f: Value| {
        let (schema, tasker) = (&schema, &tasker);
        async move {
            run(schema, tasker, PAGE, json!({"f": f, "first": 1})).await["data"]["tasks"]["totalCount"]
                .clone()
        }
    };
    assert_eq!(count(json!({"namespace": "a"})).await, json!(280));
    assert_eq!(count(json!({"name": "beta"})).await, json!(1));
    assert_eq!(count(json!({"tags": ["vip", "batch"]})).await, json!(50));
    assert_eq!(count(json!({"tags": ["batch"]})).await, json!(250));
    let after_100 = hundredth_at.expect("set").to_rfc3339();
    assert_eq!(
        count(json!({"namespace": "a", "createdBefore": after_100})).await,
        json!(100)
    );
    for id in original.iter().take(10) {
        tasker
            .cancel_task(id.parse().expect("uuid"), None)
            .await
            .expect("cancelled");
    }
    assert_eq!(count(json!({"status": ["CANCELLED"]})).await, json!(10));
    assert_eq!(
        count(json!({"status": ["PENDING", "CANCELLED"], "namespace": "a"})).await,
        json!(280)
    );

    // Backward from the end of the list reproduces the last page.
    let last = run(&schema, &tasker, PAGE, json!({"f": filter, "last": 5})).await;
    let tail: Vec<String> = original.iter().take(5).rev().cloned().collect();
    assert_eq!(ids(&last), tail);
    assert_eq!(last["data"]["tasks"]["pageInfo"]["hasPreviousPage"], true);
    let before = last["data"]["tasks"]["pageInfo"]["startCursor"].clone();
    let previous = run(
        &schema,
        &tasker,
        PAGE,
        json!({"f": filter, "last": 5, "before": before}),
    )
    .await;
    let expected: Vec<String> = original.iter().skip(5).take(5).rev().cloned().collect();
    assert_eq!(ids(&previous), expected);
    let both = run(&schema, &tasker, PAGE, json!({"first": 1, "last": 1})).await;
    assert_eq!(crate::support::codes(&both), vec!["BAD_USER_INPUT".to_owned()]);
}
