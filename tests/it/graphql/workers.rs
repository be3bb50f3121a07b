//! An external worker driving steps through GraphQL: claim, heartbeat,
//! complete with results its children receive; lease expiry.

use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, codes, test_config};

crate::on_both_backends! {
    a_graphql_worker_loop_claims_heartbeats_and_completes_and_children_get_its_results => worker_loop;
}

const TEMPLATE: &str = "name: ship
steps:
  - {name: pack, handler: label_printer, external: true}
  - {name: weigh, handler: label_printer, external: true}
  - {name: dispatch, handler: echo, depends_on: [pack, weigh]}
";

const CLAIM: &str = "mutation($lease: Int!) {
  claimSteps(input: {workerId: \"printer-1\", handlers: [\"label_printer\"], limit: 10, leaseSeconds: $lease}) {
    step { id name } leaseToken leaseExpiresAt attempt idempotencyKey context parentResults config traceparent
  }
}";

async fn claim(app: &TestApp, lease: i64, want: usize) -> Vec<Value> {
    let mut claimed = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while claimed.len() < want {
        let body = app.post(CLAIM, json!({"lease": lease})).await;
        claimed.extend(
            body["data"]["claimSteps"]
                .as_array()
                .unwrap_or_else(|| panic!("{body}"))
                .iter()
                .cloned(),
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} claimed",
            claimed.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    claimed
}

async fn worker_loop(db: &TestDb) {
    let app = TestApp::spawn(test_config(db)).await;
    app.tasker
        .register_template(TEMPLATE, false)
        .await
        .expect("registers");
    let task_id = app.create_task("ship", json!({"order": 9})).await;

    // First claim lapses: the steps come back as attempt 2.
    let lapsed = claim(&app, 1, 2).await;
    assert!(
        lapsed
            .iter()
            // No exporter in this process: no trace to join.
            .all(|c| c["attempt"] == 1 && c["context"] == json!({"order": 9}) && c["traceparent"].is_null())
    );
    let again = claim(&app, 30, 2).await;
    assert!(again.iter().all(|c| c["attempt"] == 2), "{again:?}");
    let stale = app
        .post(
            "mutation($s: ID!, $t: String!) { completeStep(stepId: $s, leaseToken: $t) { id } }",
            json!({"s": lapsed[0]["step"]["id"], "t": lapsed[0]["leaseToken"]}),
        )
        .await;
    assert_eq!(codes(&stale), vec!["LEASE_LOST".to_owned()], "{stale}");

    for step in &again {
        let beat = app
            .post(
                "mutation($s: ID!, $t: String!) { heartbeatStep(stepId: $s, leaseToken: $t, extendSeconds: 60) }",
                json!({"s": step["step"]["id"], "t": step["leaseToken"]}),
            )
            .await;
        assert!(beat["data"]["heartbeatStep"].is_string(), "{beat}");
        let done = app
            .post(
                "mutation($s: ID!, $t: String!, $r: JSON) { completeStep(stepId: $s, leaseToken: $t, results: $r) { status } }",
                json!({"s": step["step"]["id"], "t": step["leaseToken"], "r": {"label": step["step"]["name"]}}),
            )
            .await;
        assert_eq!(done["data"]["completeStep"]["status"], "COMPLETE", "{done}");
    }
    let finished = app
        .wait_until(
            "query($id: ID!) { task(id: $id) { status steps { name results } } }",
            json!({"id": task_id}),
            |r| r["data"]["task"]["status"] == "COMPLETE",
        )
        .await;
    let dispatch = &finished["data"]["task"]["steps"][2];
    assert_eq!(
        dispatch["results"]["parents"],
        json!({"pack": {"label": "pack"}, "weigh": {"label": "weigh"}})
    );
    app.stop().await;
}
