//! Nested queries cost a constant number of SQL statements, however many
//! objects they return.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tasker::graphql;
use tasker::service::{CreateTask, Tasker};

use crate::support::{TestDb, open_store, run, services};

crate::on_both_backends! {
    a_nested_query_costs_the_same_statements_for_10_and_for_100_tasks => constant_statements;
    template_graphs_cost_the_same_statements_for_2_and_for_20_templates => constant_template_graphs;
}

const NESTED: &str = "query($ns: String!) {
  tasks(filter: {namespace: $ns}, first: 100) {
    totalCount
    edges { cursor node {
      id status executionStatus context
      transitions { from to at }
      dependencyGraph { stepDependencies { stepName depth dependsOn } }
      steps {
        name status attempts results
        dependsOn { name task { id } }
        dependents { name }
        transitions { from to attempt }
      }
    } }
  }
}";

/// Services over a store that counts the statements it runs.
async fn counted(db: &TestDb) -> (Tasker, Arc<AtomicUsize>) {
    let mut store = open_store(db).await;
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&statements);
    store.observe_statements(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (services(store, 16), statements)
}

async fn constant_statements(db: &TestDb) {
    let (tasker, statements) = counted(db).await;
    for (ns, count) in [("ten", 10), ("hundred", 100)] {
        let yaml = format!(
            "namespace: {ns}\nname: diamond\nsteps:\n  - {{name: a, handler: noop}}\n  - {{name: b, handler: noop, depends_on: [a]}}\n  - {{name: c, handler: noop, depends_on: [a]}}\n  - {{name: d, handler: noop, depends_on: [b, c]}}\n"
        );
        tasker.register_template(&yaml, false).await.expect("registers");
        for i in 0..count {
            let input = CreateTask {
                namespace: Some(ns.into()),
                name: "diamond".into(),
                context: json!({"i": i}),
                ..CreateTask::default()
            };
            tasker.create_task(input).await.expect("created");
        }
    }
    let schema = graphql::schema(tasker.clone(), &graphql::Settings::default());
    let mut counts = Vec::new();
    for (ns, expected) in [("ten", 10), ("hundred", 100)] {
        statements.store(0, Ordering::SeqCst);
        let response = run(&schema, &tasker, NESTED, json!({"ns": ns})).await;
        assert!(response["errors"].is_null(), "{response}");
        let edges = response["data"]["tasks"]["edges"].as_array().expect("edges");
        assert_eq!(
            (edges.len(), response["data"]["tasks"]["totalCount"].as_u64()),
            (expected, Some(expected as u64))
        );
        let d = &edges[0]["node"]["steps"][3];
        assert_eq!(d["name"], "d");
        assert_eq!(d["dependsOn"].as_array().map(Vec::len), Some(2));
        counts.push(statements.load(Ordering::SeqCst));
    }
    eprintln!("statements for 10 tasks and for 100 tasks: {counts:?}");
    assert_eq!(
        counts[0], counts[1],
        "statements for 10 tasks vs 100 tasks: {counts:?}"
    );
    assert!(
        counts[0] <= 16,
        "a handful of batched statements, not one per row: {counts:?}"
    );
}

const TEMPLATE_GRAPHS: &str = "query($ns: String!) {
  handlers(namespace: $ns) {
    name
    dependencyGraph { criticalPath { steps estimatedDurationMs } stepDependencies { stepName estimateSource } }
  }
}";

async fn constant_template_graphs(db: &TestDb) {
    let (tasker, statements) = counted(db).await;
    for (ns, count) in [("few", 2), ("many", 20)] {
        for i in 0..count {
            let yaml = format!(
                "namespace: {ns}\nname: t{i}\nsteps:\n  - {{name: a, handler: noop}}\n  - {{name: b, handler: noop, depends_on: [a]}}\n"
            );
            tasker.register_template(&yaml, false).await.expect("registers");
        }
    }
    let schema = graphql::schema(tasker.clone(), &graphql::Settings::default());
    let mut counts = Vec::new();
    for (ns, expected) in [("few", 2), ("many", 20)] {
        statements.store(0, Ordering::SeqCst);
        let response = run(&schema, &tasker, TEMPLATE_GRAPHS, json!({"ns": ns})).await;
        assert!(response["errors"].is_null(), "{response}");
        let handlers = response["data"]["handlers"].as_array().expect("handlers");
        assert_eq!(handlers.len(), expected);
        assert_eq!(
            handlers[0]["dependencyGraph"]["criticalPath"]["steps"],
            json!(["a", "b"])
        );
        counts.push(statements.load(Ordering::SeqCst));
    }
    assert_eq!(
        counts[0], counts[1],
        "statements for 2 vs 20 templates: {counts:?}"
    );
    assert!(counts[0] <= 3, "templates, then observed durations: {counts:?}");
}
