//! The dashboard's `overview`, the explorer's settings, and `tasks` search.

use serde_json::{Value, json};
use tasker::graphql;
use tasker::service::{CreateTask, Tasker};

use crate::support::{TestDb, open_store, run, services};

crate::on_both_backends! {
    the_overview_counts_the_windows_tasks_and_names_the_oldest_ready_step => overview_counts;
    tasks_are_found_by_id_correlation_id_or_part_of_the_initiator => search_finds;
}

const OVERVIEW: &str = "query($w: OverviewWindow!) { overview(window: $w) {
  window bucketSeconds at
  buckets { start total byStatus { status count } }
  tasksByStatus { status count }
  queues { tasksInProgress stepsReady stepsScheduled stepsWaiting leasesActive leasesExpired }
  oldestReadyStep { name task { id } }
  oldestReadySince
  replicas { id thisOne lastSeenAt }
  replicasError
  leaseHolders { owner leases }
} explorer { traceUrl version } }";

async fn setup(db: &TestDb) -> (Tasker, graphql::TaskerSchema) {
    let tasker = services(open_store(db).await, 16);
    tasker
        .register_template("name: one\nsteps:\n  - {name: only, handler: noop}\n", false)
        .await
        .expect("registered");
    let schema = graphql::schema(tasker.clone(), &graphql::Settings::default());
    (tasker, schema)
}

async fn create(tasker: &Tasker, initiator: &str, correlation: &str) -> String {
    let input = CreateTask {
        name: "one".into(),
        context: json!({}),
        initiator: Some(initiator.into()),
        correlation_id: Some(correlation.into()),
        ..CreateTask::default()
    };
    tasker
        .create_task(input)
        .await
        .expect("created")
        .task
        .id
        .to_string()
}

fn count_of(list: &Value, status: &str) -> u64 {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .find(|c| c["status"] == status)
        .and_then(|c| c["count"].as_u64())
        .unwrap_or(0)
}

async fn overview_counts(db: &TestDb) {
    let (tasker, schema) = setup(db).await;
    let first = create(&tasker, "alice", "c-1").await;
    create(&tasker, "bob", "c-2").await;
    let third = create(&tasker, "carol", "c-3").await;
    tasker
        .cancel_task(third.parse().expect("uuid"), Some("not needed".into()))
        .await
        .expect("cancelled");

    for (window, buckets, width) in [("HOUR", 12, 300), ("DAY", 24, 3600)] {
        let answer = run(&schema, &tasker, OVERVIEW, json!({ "w": window })).await;
        let o = &answer["data"]["overview"];
        assert_eq!(o["window"], window, "{answer}");
        assert_eq!(o["bucketSeconds"], width);
        let list = o["buckets"].as_array().expect("buckets");
        assert_eq!(list.len(), buckets);
        let total: u64 = list.iter().map(|b| b["total"].as_u64().expect("total")).sum();
        assert_eq!(total, 3, "{answer}");
        assert_eq!(count_of(&o["tasksByStatus"], "PENDING"), 2, "{answer}");
        assert_eq!(count_of(&o["tasksByStatus"], "CANCELLED"), 1, "{answer}");
        // No engine runs: the two live tasks' steps wait to be claimed, the
        // first one longest.
        assert_eq!(o["queues"]["stepsReady"], 2, "{answer}");
        assert_eq!(o["queues"]["leasesActive"], 0);
        assert_eq!(o["oldestReadyStep"]["task"]["id"], first.as_str(), "{answer}");
        assert!(o["oldestReadySince"].is_string());
        let replicas = o["replicas"].as_array().expect("replicas");
        assert_eq!(replicas.len(), 1, "without Redis only this replica: {answer}");
        assert_eq!(replicas[0]["thisOne"], true);
        assert!(o["replicasError"].is_null());
        assert_eq!(o["leaseHolders"], json!([]));
        assert!(answer["data"]["explorer"]["traceUrl"].is_null());
        assert_eq!(answer["data"]["explorer"]["version"], env!("CARGO_PKG_VERSION"));
    }
}

async fn search_finds(db: &TestDb) {
    let (tasker, schema) = setup(db).await;
    let ops = create(&tasker, "Ops-Bot 50%", "corr-a").await;
    let alice = create(&tasker, "alice", "corr-b").await;
    let found = |search: &str| {
        let (schema, tasker) = (&schema, &tasker);
        let search = search.to_owned();
        async move {
            let answer = run(
                schema,
                tasker,
                "query($s: String) { tasks(filter: {search: $s}) { totalCount nodes { id } } }",
                json!({ "s": search }),
            )
            .await;
            let mut ids: Vec<String> = answer["data"]["tasks"]["nodes"]
                .as_array()
                .unwrap_or_else(|| panic!("{answer}"))
                .iter()
                .map(|n| n["id"].as_str().expect("id").to_owned())
                .collect();
            assert_eq!(answer["data"]["tasks"]["totalCount"], ids.len(), "{answer}");
            ids.sort();
            ids
        }
    };
    assert_eq!(
        found("ops-bot").await,
        vec![ops.clone()],
        "case-insensitive part of the initiator"
    );
    assert_eq!(
        found("50%").await,
        vec![ops.clone()],
        "% is a character, not a wildcard"
    );
    assert_eq!(found("%").await, vec![ops.clone()]);
    assert_eq!(found("corr-b").await, vec![alice.clone()], "a correlation id");
    assert_eq!(found(&alice).await, vec![alice.clone()], "an id");
    assert_eq!(found("nobody").await, Vec::<String>::new());
    let mut both = vec![ops, alice];
    both.sort();
    assert_eq!(found("  ").await, both, "blank text filters nothing");

    let answer = run(
        &schema,
        &tasker,
        "query($s: String) { tasks(filter: {search: $s}) { totalCount } }",
        json!({ "s": "x".repeat(257) }),
    )
    .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
}
