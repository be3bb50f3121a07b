//! Dependency graphs end to end: REST handler discovery, a failed task's
//! bottlenecks in GraphQL, and estimates learned from finished runs.

use reqwest::StatusCode;
use serde_json::json;

use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use tasker::entities::workflow_step;
use tasker::store::recent_step_durations;

use crate::support::{Harness, TestApp, TestDb, codes, test_config};

crate::on_both_backends! {
    rest_discovery_lists_handlers_and_adds_graphs_on_request => rest_discovery;
    a_failed_step_is_the_top_bottleneck_of_its_task => failed_task_bottleneck;
    template_estimates_come_from_observed_runs => observed_estimates;
    observed_durations_come_from_each_templates_latest_runs => latest_runs;
}

const ORDER_V1: &str = "namespace: shop
name: order
version: 1.0.0
steps:
  - {name: validate, handler: noop}
  - {name: charge, handler: payments, external: true, depends_on: [validate]}
  - {name: ship, handler: noop, depends_on: [charge]}
  - {name: notify, handler: echo, depends_on: [validate]}
";

async fn rest_discovery(db: &TestDb) {
    let mut config = test_config(db);
    config
        .dependency_graph
        .duration_estimates
        .handlers
        .insert("payments".into(), 5_000);
    let app = TestApp::spawn(config).await;
    let v2 = ORDER_V1.replace("1.0.0", "1.1.0");
    for yaml in [
        ORDER_V1,
        &v2,
        "namespace: ops\nname: cleanup\nsteps:\n  - {name: sweep, handler: sleep, config: {ms: 1}}\n",
    ] {
        app.tasker
            .register_template(yaml, false)
            .await
            .expect("registers");
    }

    let (status, all) = app.get_json("/handlers").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let names: Vec<String> = all["handlers"]
        .as_array()
        .expect("handlers")
        .iter()
        .map(|h| h["full_name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for expected in ["shop/order@1.0.0", "shop/order@1.1.0", "ops/cleanup@0.1.0"] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    assert!(all["handlers"][0].get("dependency_graph").is_none(), "{all}");

    let (status, shop) = app.get_json("/handlers/shop").await;
    assert_eq!(status, StatusCode::OK, "{shop}");
    assert_eq!(shop["namespace"], "shop");
    assert_eq!(shop["handlers"].as_array().map(Vec::len), Some(2));

    let (status, latest) = app.get_json("/handlers/shop/order").await;
    assert_eq!(
        (status, latest["version"].as_str()),
        (StatusCode::OK, Some("1.1.0")),
        "{latest}"
    );
    assert_eq!(latest["available"], true);
    let charge = &latest["step_templates"][1];
    assert_eq!(
        (charge["name"].as_str(), charge["external"].as_bool()),
        (Some("charge"), Some(true))
    );
    assert_eq!(charge["depends_on"], json!(["validate"]));

    let (status, graph) = app
        .get_json("/handlers/shop/order?version=1.0.0&include_dependencies=true")
        .await;
    assert_eq!(status, StatusCode::OK, "{graph}");
    assert_eq!(graph["version"], "1.0.0");
    let g = &graph["dependency_graph"];
    assert_eq!(g["critical_path"]["steps"], json!(["validate", "charge", "ship"]));
    assert_eq!(g["critical_path"]["estimated_duration_ms"], json!(5_002.0));
    assert_eq!(g["max_parallelism"], 2);
    assert_eq!(g["roots"], json!(["validate"]));
    assert_eq!(g["leaves"], json!(["ship", "notify"]));
    assert_eq!(
        g["levels"],
        json!([
            {"depth": 0, "steps": ["validate"]},
            {"depth": 1, "steps": ["charge", "notify"]},
            {"depth": 2, "steps": ["ship"]}
        ])
    );
    assert_eq!(g["steps"][1]["estimate_source"], "CONFIGURED");
    assert_eq!(g["bottlenecks"], json!([]));
    assert_eq!(g["criticality"], "LOW");

    let (status, with_graphs) = app.get_json("/handlers/ops?include_dependencies=true").await;
    assert_eq!(status, StatusCode::OK, "{with_graphs}");
    let sweep = &with_graphs["handlers"][0]["dependency_graph"];
    assert_eq!(sweep["critical_path"]["steps"], json!(["sweep"]));
    assert_eq!(sweep["steps"][0]["estimate_source"], "DEFAULT");

    for (path, status, code) in [
        ("/handlers/nowhere", StatusCode::NOT_FOUND, "NOT_FOUND"),
        ("/handlers/shop/missing", StatusCode::NOT_FOUND, "NOT_FOUND"),
        (
            "/handlers/shop/order?version=9.9.9",
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            "/handlers?include_dependencies=perhaps",
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
        ),
    ] {
        let (got, body) = app.get_json(path).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    app.stop().await;
}

const GRAPH_FIELDS: &str = "analysisTimestamp impactScore criticalityLevel
  criticalPath { steps estimatedDurationMs remainingDurationMs }
  bottleneckAnalysis { stepName severity score blockedDownstream blockedSteps reason }
  stepDependencies { stepName dependsOn dependents depth status estimatedDurationMs estimateSource }
  levels { depth width steps } maxParallelism roots leaves edges { from to }";

async fn failed_task_bottleneck(db: &TestDb) {
    let app = TestApp::spawn(test_config(db)).await;
    app.tasker
        .register_template(
            "name: broken
steps:
  - {name: a, handler: noop}
  - {name: b, handler: fail_times, config: {times: 99, retryable: false}, depends_on: [a]}
  - {name: c, handler: echo, depends_on: [b]}
  - {name: d, handler: echo, depends_on: [c]}
  - {name: e, handler: echo, depends_on: [a]}
",
            false,
        )
        .await
        .expect("registers");
    let id = app.create_task("broken", json!({})).await;
    let query = format!(
        "query($id: ID!) {{ task(id: $id) {{ status dependencyGraph {{ {GRAPH_FIELDS} }} }}
          dependencyGraph(taskId: $id) {{ impactScore }} }}"
    );
    let done = app
        .wait_until(&query, json!({"id": id}), |r| {
            r["data"]["task"]["status"] == "ERROR"
        })
        .await;
    let g = &done["data"]["task"]["dependencyGraph"];
    // b: 2 downstream, both blocked, a chain of 2 below it, no retries; ERROR
    // (+30) with a permanent error (+10), 2 of its 3 attempts unused (no
    // exhausted-retries penalty); ×2.0 for ERROR: (5·2 + 15·2 + 10·2 + 30 + 10) · 2 = 200.
    let bottlenecks = g["bottleneckAnalysis"].as_array().expect("bottlenecks");
    assert_eq!(bottlenecks.len(), 1, "{g}");
    let b = &bottlenecks[0];
    assert_eq!(b["stepName"], "b");
    assert_eq!(b["score"], json!(200.0), "{b}");
    assert_eq!(b["severity"], "CRITICAL");
    assert_eq!(b["blockedDownstream"], 2);
    assert_eq!(b["blockedSteps"], json!(["c", "d"]));
    let reason = b["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("failed for good after 1 attempt (the error is not retryable); last error:"),
        "{reason}"
    );
    assert!(reason.ends_with("2 downstream steps cannot start"), "{reason}");
    assert_eq!(g["impactScore"], json!(200.0));
    assert_eq!(g["criticalityLevel"], "CRITICAL");
    assert_eq!(done["data"]["dependencyGraph"]["impactScore"], json!(200.0));
    assert_eq!(g["criticalPath"]["steps"], json!(["a", "b", "c", "d"]));
    let remaining = g["criticalPath"]["remainingDurationMs"]
        .as_f64()
        .expect("remaining");
    assert_eq!(
        remaining, 30_002.0,
        "b must run again (the 30 s default), then c and d (1 ms each): {g}"
    );
    let steps = g["stepDependencies"].as_array().expect("steps");
    let status_of = |name: &str| {
        steps.iter().find(|s| s["stepName"] == name).map(|s| {
            (
                s["status"].clone(),
                s["depth"].clone(),
                s["estimateSource"].clone(),
            )
        })
    };
    assert_eq!(
        status_of("a"),
        Some((json!("COMPLETE"), json!(0), json!("ACTUAL")))
    );
    assert_eq!(status_of("b"), Some((json!("ERROR"), json!(1), json!("DEFAULT"))));
    assert_eq!(
        status_of("d"),
        Some((json!("PENDING"), json!(3), json!("CONFIGURED")))
    );
    assert_eq!(g["maxParallelism"], 2);
    assert_eq!(
        g["levels"][1],
        json!({"depth": 1, "width": 2, "steps": ["b", "e"]})
    );
    assert_eq!(g["edges"].as_array().map(Vec::len), Some(4));

    let missing = app
        .post(
            "query($id: ID!) { dependencyGraph(taskId: $id) { impactScore } }",
            json!({"id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    assert!(
        missing["errors"].is_null() && missing["data"]["dependencyGraph"].is_null(),
        "{missing}"
    );
    let malformed = app
        .post(
            "query { dependencyGraph(taskId: \"not-a-uuid\") { impactScore } }",
            json!({}),
        )
        .await;
    assert_eq!(codes(&malformed), ["BAD_USER_INPUT"], "{malformed}");
    app.stop().await;
}

async fn observed_estimates(db: &TestDb) {
    let app = TestApp::spawn(test_config(db)).await;
    app.tasker
        .register_template(
            "name: nap
steps:
  - {name: first, handler: sleep, config: {ms: 40}}
  - {name: second, handler: noop, depends_on: [first]}
",
            false,
        )
        .await
        .expect("registers");
    for _ in 0..3 {
        let id = app.create_task("nap", json!({})).await;
        app.wait_complete(&id).await;
    }
    let response = app
        .post(
            "{ handler(namespace: \"default\", name: \"nap\") { dependencyGraph {
                criticalPath { steps estimatedDurationMs }
                stepDependencies { stepName status estimatedDurationMs estimateSource } } } }",
            json!({}),
        )
        .await;
    let g = &response["data"]["handler"]["dependencyGraph"];
    let first = &g["stepDependencies"][0];
    assert_eq!(
        (first["stepName"].as_str(), first["estimateSource"].as_str()),
        (Some("first"), Some("OBSERVED")),
        "{response}"
    );
    assert!(first["status"].is_null(), "templates have no status: {first}");
    let observed = first["estimatedDurationMs"].as_f64().expect("estimate");
    assert!(
        (40.0..5_000.0).contains(&observed),
        "p50 of 40 ms sleeps: {observed}"
    );
    let path_ms = g["criticalPath"]["estimatedDurationMs"].as_f64().expect("path");
    let second = g["stepDependencies"][1]["estimatedDurationMs"]
        .as_f64()
        .expect("second");
    assert_eq!(path_ms, observed + second, "{g}");
    app.stop().await;
}

async fn latest_runs(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register("name: one\nsteps:\n  - {name: s, handler: noop}\n")
        .await;
    h.register("name: two\nsteps:\n  - {name: s, handler: noop}\n  - {name: t, handler: noop}\n")
        .await;
    h.register("name: never\nsteps:\n  - {name: s, handler: noop}\n")
        .await;
    // Runs of `one` take 100, 200, 300 ms (oldest first); `two` takes 50 ms.
    let mut runs = Vec::new();
    for (name, ms) in [("one", 100), ("one", 200), ("one", 300), ("two", 50)] {
        let id = h.create(name, json!({})).await;
        h.wait_finished(id).await;
        let start = Utc::now();
        workflow_step::Entity::update_many()
            .col_expr(workflow_step::Column::StartedAt, Expr::value(start))
            .col_expr(
                workflow_step::Column::CompletedAt,
                Expr::value(start + Duration::milliseconds(ms)),
            )
            .filter(workflow_step::Column::TaskId.eq(id))
            .exec(h.store.writer())
            .await
            .expect("times set");
        runs.push(id);
    }
    let failing =
        "name: fails\nsteps:\n  - {name: s, handler: fail_times, config: {times: 9, retryable: false}}\n";
    h.register(failing).await;
    let failed = h.create("fails", json!({})).await;
    h.wait_finished(failed).await;

    let key = |name: &str| ("default".to_owned(), name.to_owned());
    let templates = [key("one"), key("two"), key("never"), key("fails")];
    let mut found: Vec<(String, String, u64)> = recent_step_durations(h.store.reader(), &templates, 2)
        .await
        .expect("reads")
        .into_iter()
        .map(|o| (o.template, o.step, o.duration_ms.round() as u64))
        .collect();
    found.sort();
    let expected = [
        ("one", "s", 200),
        ("one", "s", 300),
        ("two", "s", 50),
        ("two", "t", 50),
    ];
    assert_eq!(
        found,
        expected.map(|(t, s, ms)| (t.to_owned(), s.to_owned(), ms)),
        "the 2 latest completed runs per template; failed runs and unknown templates give nothing"
    );
    assert!(
        recent_step_durations(h.store.reader(), &templates, 0)
            .await
            .expect("reads")
            .is_empty()
    );
    h.stop().await;
}
