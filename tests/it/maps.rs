//! Maps: a step with `map` runs its handler once per item of a list, each
//! instance with its own attempts and retries, and completes with their
//! results in item order; an empty list completes at once; more items than
//! `max_items` fail the step; the instances show in Task.steps.

use serde_json::{Value, json};
use tasker::domain::{StepStatus, TaskStatus};
use tasker::graphql;
use tasker::service::{ClaimRequest, TaskDetail};

use crate::support::{Harness, TestDb, run};

crate::on_both_backends! {
    a_map_over_a_hundred_items_completes_with_the_ordered_results => hundred;
    instances_are_retried_on_their_own_and_empty_or_oversized_lists_are_handled => edges;
    workers_get_the_instances_of_an_external_map_and_never_a_skipped_step => external;
}

const FILES: &str = "name: files
steps:
  - {name: list, handler: echo, config: {files: []}}
  - name: process
    handler: echo
    depends_on: [list]
    map: {over: context.files, max_items: 200}
  - {name: report, handler: echo, depends_on: [process]}
";

fn step<'a>(detail: &'a TaskDetail, name: &str) -> &'a tasker::service::StepView {
    detail.steps.iter().find(|s| s.name == name).expect("step")
}

async fn hundred(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(FILES).await;
    let files: Vec<Value> = (0..100).map(|i| json!(format!("f{i}"))).collect();
    let id = h.create("files", json!({"files": files})).await;
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Complete, "{:#?}", done.task);
    assert_eq!(done.steps.len(), 103, "three steps and a hundred instances");
    let process = step(&done, "process");
    let results = h.tasker.step_results(&[process.id]).await.expect("results");
    let list = results[&process.id].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 100);
    for (i, item) in list.iter().enumerate() {
        assert_eq!(item["index"], json!(i), "in order");
        assert_eq!(item["item"], json!(format!("f{i}")));
        assert!(
            item["parents"]["list"].is_object(),
            "instances see the map's parents"
        );
    }
    let report = step(&done, "report").id;
    let seen = h.tasker.step_results(&[report]).await.expect("results");
    assert_eq!(
        seen[&report]["parents"]["process"].as_array().map(Vec::len),
        Some(100)
    );
    let instance = step(&done, "process[42]");
    assert_eq!(instance.status, StepStatus::Complete);
    assert_eq!(
        instance.map.as_ref().map(|(p, i, item)| (*p, *i, item.clone())),
        Some((process.id, 42, json!("f42")))
    );

    let schema = graphql::schema(h.tasker.clone(), &graphql::Settings::default());
    let seen = run(
        &schema,
        &h.tasker,
        "query($id: ID!) { task(id: $id) { steps { name kind mapIndex mapItem mapStepId } } dependencyGraph(taskId: $id) { stepDependencies { stepName dependsOn } } }",
        json!({"id": id.to_string()}),
    )
    .await;
    let steps = seen["data"]["task"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let map = steps.iter().find(|s| s["name"] == "process").cloned();
    assert_eq!(map.map(|m| m["kind"].clone()), Some(json!("MAP")), "{seen}");
    let one = steps.iter().find(|s| s["name"] == "process[7]").cloned();
    assert_eq!(
        one,
        Some(
            json!({"name": "process[7]", "kind": "HANDLER", "mapIndex": 7, "mapItem": "f7",
                    "mapStepId": process.id.to_string()})
        )
    );
    let nodes = seen["data"]["dependencyGraph"]["stepDependencies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(nodes.len(), 103, "{seen}");
    let instance = nodes.iter().find(|n| n["stepName"] == "process[3]").cloned();
    assert_eq!(
        instance.map(|n| n["dependsOn"].clone()),
        Some(json!(["list"])),
        "an instance has the map step's parents"
    );
    h.stop().await;
}

const FLAKY: &str = "name: flaky
steps:
  - name: each
    handler: fail_times
    config: {times: 1}
    retry: {max_attempts: 3, backoff_ms: 10}
    map: {over: context.items, max_items: 3}
  - {name: after, handler: echo, depends_on: [each]}
";

async fn edges(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(FLAKY).await;
    let id = h.create("flaky", json!({"items": [1, 2, 3]})).await;
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Complete, "{:#?}", done.steps);
    for i in 0..3 {
        let instance = step(&done, &format!("each[{i}]"));
        assert_eq!(
            instance.attempts, 2,
            "each instance failed once and was retried alone"
        );
    }
    assert_eq!(step(&done, "each").attempts, 1, "the map step expanded once");

    let empty = h.create("flaky", json!({"items": []})).await;
    let done = h.wait_finished(empty).await;
    assert_eq!(done.task.status, TaskStatus::Complete);
    let each = step(&done, "each").id;
    let results = h.tasker.step_results(&[each]).await.expect("results");
    assert_eq!(results[&each], json!([]));
    assert_eq!(done.steps.len(), 2, "no instances");

    let big = h.create("flaky", json!({"items": [1, 2, 3, 4]})).await;
    let done = h.wait_finished(big).await;
    assert_eq!(done.task.status, TaskStatus::Error);
    let error = step(&done, "each").error.clone().expect("error");
    assert_eq!(error.kind.as_str(), "expression");
    assert!(error.message.contains("max_items"), "{error:?}");
    h.stop().await;
}

const MAILING: &str = "name: mailing
steps:
  - name: send
    handler: mailer
    external: true
    map: {over: context.to}
  - name: audit
    handler: mailer
    external: true
    when: context.audit
    depends_on: [send]
";

async fn external(db: &TestDb) {
    let h = Harness::start(db).await;
    h.register(MAILING).await;
    let id = h
        .create("mailing", json!({"to": ["a@x", "b@x", "c@x"], "audit": false}))
        .await;
    let claim = || {
        h.tasker.claim_steps(ClaimRequest {
            worker_id: "w".into(),
            handlers: vec!["mailer".into()],
            limit: 10,
            lease_seconds: 60,
        })
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut instances = Vec::new();
    while instances.len() < 3 {
        let got = claim().await.expect("claims");
        assert!(
            got.iter().all(|c| c.step.map.is_some()),
            "only instances: {got:?}"
        );
        instances.extend(got);
        assert!(tokio::time::Instant::now() < deadline, "the map never expanded");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for c in &instances {
        let item = c.step.map.as_ref().map(|(_, _, item)| item.clone());
        h.tasker
            .complete_step(c.step.id, c.lease_token, Some(json!({"sent": item})))
            .await
            .expect("completes");
    }
    // The worker's next claim finds the audit step's condition false: it is
    // skipped, not handed out.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = claim().await.expect("claims");
        assert!(got.is_empty(), "never given to the worker: {got:?}");
        let now = h.tasker.task_detail(id).await.expect("read").expect("task");
        if now.task.status.is_finished() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", now.steps);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let done = h.wait_finished(id).await;
    assert_eq!(done.task.status, TaskStatus::Complete);
    assert_eq!(step(&done, "audit").status, StepStatus::Skipped);
    let send = step(&done, "send").id;
    let results = h.tasker.step_results(&[send]).await.expect("results");
    assert_eq!(
        results[&send],
        json!([{"sent": "a@x"}, {"sent": "b@x"}, {"sent": "c@x"}])
    );
    h.stop().await;
}
