//! Cron schedules: each fire creates exactly one task however many replicas
//! look; overlap and catch-up follow the schedule; template-declared
//! schedules follow their template; bad schedules are refused. Time is a
//! clock the test moves, so nothing waits on the wall clock.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::json;
use tasker::domain::TaskStatus;
use tasker::domain::schedule::{CatchUp, Overlap};
use tasker::engine::Clock;
use tasker::events::EventBus;
use tasker::graphql;
use tasker::handlers::HandlerRegistry;
use tasker::service::{Error, NewSchedule, Tasker};
use tasker::store::TaskQuery;

use crate::support::{TestDb, open_store, run, test_settings};

crate::on_both_backends! {
    two_replicas_make_one_task_per_fire_and_overlap_and_catch_up_are_followed => fires;
    catch_up_all_makes_up_every_missed_fire_and_cancel_previous_cancels_the_last_task => catch_up_all;
    schedules_declared_in_a_template_follow_it_and_bad_ones_are_refused => declared;
}

struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

impl TestClock {
    fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock") = at;
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&Utc)
}

async fn replicas(db: &TestDb, clock: &Arc<TestClock>) -> (Tasker, Tasker) {
    let open = || async {
        Tasker::new(
            open_store(db).await,
            HandlerRegistry::with_builtins(),
            EventBus::new(1_000),
            clock.clone(),
            test_settings(),
        )
    };
    (open().await, open().await)
}

const NIGHTLY: &str = "name: report
context_schema: {type: object, required: [region]}
steps: [{name: build, handler: noop}]
";

async fn tasks_of(t: &Tasker) -> Vec<tasker::service::TaskView> {
    let page = tasker::store::Page::Forward {
        first: 100,
        after: None,
    };
    t.list_tasks(&TaskQuery::default(), page)
        .await
        .expect("list")
        .tasks
}

async fn fires(db: &TestDb) {
    let clock = Arc::new(TestClock(Mutex::new(at("2026-03-27T12:00:00Z"))));
    let (a, b) = replicas(db, &clock).await;
    a.register_template(NIGHTLY, false).await.expect("registers");
    let created = a
        .create_schedule(NewSchedule {
            name: "report".into(),
            cron: "0 2 * * *".into(),
            timezone: Some("Europe/Berlin".into()),
            context: json!({"region": "eu"}),
            overlap: Overlap::Skip,
            catch_up: CatchUp::None,
            ..NewSchedule::default()
        })
        .await
        .expect("created");
    // 02:00 CET on 28 March, then 02:00 CEST across the change on the 29th
    // (the gap: 03:00 CEST), then the 30th.
    assert_eq!(
        created.upcoming[..3],
        [
            at("2026-03-28T01:00:00Z"),
            at("2026-03-29T01:00:00Z"),
            at("2026-03-30T00:00:00Z")
        ]
    );
    assert!(
        a.fire_due_schedules("a").await.expect("pass") == 0,
        "nothing due yet"
    );
    clock.set(at("2026-03-28T01:00:05Z"));
    let (x, y) = tokio::join!(a.fire_due_schedules("a"), b.fire_due_schedules("b"));
    assert_eq!(x.expect("a") + y.expect("b"), 1, "one task for the fire");
    // A pass after a replica died half-way (lease expired) repeats nothing.
    assert_eq!(b.fire_due_schedules("b").await.expect("again"), 0);
    let tasks = tasks_of(&a).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0].initiator.as_deref(),
        Some(format!("schedule:{}", created.row.id).as_str())
    );
    // The next fire finds that task still PENDING (no engine here): skipped.
    clock.set(at("2026-03-29T01:00:10Z"));
    assert_eq!(a.fire_due_schedules("a").await.expect("pass"), 0);
    let view = a.schedule(created.row.id).await.expect("read").expect("schedule");
    assert_eq!(view.recent[0].outcome, "skipped");
    assert_eq!(view.recent[1].outcome, "created");
    // Down for three days: catch_up none counts them missed, makes up none.
    a.cancel_task(tasks[0].id, None).await.expect("cancels");
    clock.set(at("2026-04-02T12:00:00Z"));
    assert_eq!(a.fire_due_schedules("a").await.expect("pass"), 0);
    let view = a.schedule(created.row.id).await.expect("read").expect("schedule");
    assert_eq!(
        (view.row.fired, view.row.missed),
        (1, 4),
        "30 Mar to 2 Apr missed"
    );
    assert_eq!(view.upcoming[0], at("2026-04-03T00:00:00Z"));
    // Paused, it does not fire; resumed, it fires from the next fire on.
    a.pause_schedule(created.row.id, true).await.expect("pauses");
    clock.set(at("2026-04-03T00:00:02Z"));
    assert_eq!(a.fire_due_schedules("a").await.expect("pass"), 0);
    let resumed = a.pause_schedule(created.row.id, false).await.expect("resumes");
    assert_eq!(resumed.upcoming[0], at("2026-04-04T00:00:00Z"));
    // Over GraphQL: the next five fire times and the recent fires.
    let schema = graphql::schema(a.clone(), &graphql::Settings::default());
    let seen = run(
        &schema,
        &a,
        "{ schedules { cron timezone overlap catchUp paused fired missed nextFireTimes recentFires { outcome } } }",
        json!({}),
    )
    .await;
    let s = &seen["data"]["schedules"][0];
    assert_eq!(s["overlap"], "SKIP", "{seen}");
    assert_eq!(s["catchUp"], "NONE", "{seen}");
    assert_eq!(s["nextFireTimes"].as_array().map(Vec::len), Some(5), "{seen}");
    assert_eq!(s["recentFires"][0]["outcome"], "skipped", "{seen}");
    // Bad schedules are refused with the field named; nothing is stored.
    let bad = |cron: &str, timezone: &str, context| NewSchedule {
        name: "report".into(),
        cron: cron.into(),
        timezone: Some(timezone.into()),
        context,
        ..NewSchedule::default()
    };
    for (input, field) in [
        (bad("61 * * * *", "UTC", json!({"region": "eu"})), "cron"),
        (
            bad("0 2 * * *", "Mars/Olympus", json!({"region": "eu"})),
            "timezone",
        ),
    ] {
        match a.create_schedule(input).await {
            Err(Error::BadInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(matches!(
        a.create_schedule(bad("0 2 * * *", "UTC", json!({}))).await,
        Err(Error::Context(_))
    ));
    let unknown = NewSchedule {
        name: "nope".into(),
        ..bad("0 2 * * *", "UTC", json!({}))
    };
    assert!(matches!(
        a.create_schedule(unknown).await,
        Err(Error::NotFound { .. })
    ));
    let response = run(
        &schema,
        &a,
        r#"mutation { createSchedule(input: {name: "report", cron: "bad", context: {region: "eu"}}) { id } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        crate::support::codes(&response),
        vec!["BAD_USER_INPUT"],
        "{response}"
    );
    assert_eq!(a.schedules().await.expect("list").len(), 1, "nothing else stored");
}

async fn catch_up_all(db: &TestDb) {
    let clock = Arc::new(TestClock(Mutex::new(at("2026-12-07T08:30:00Z"))));
    let (a, _) = replicas(db, &clock).await;
    a.register_template(NIGHTLY, false).await.expect("registers");
    let created = a
        .create_schedule(NewSchedule {
            name: "report".into(),
            cron: "0 * * * *".into(),
            context: json!({"region": "us"}),
            overlap: Overlap::CancelPrevious,
            catch_up: CatchUp::All,
            ..NewSchedule::default()
        })
        .await
        .expect("created");
    // Down from before 09:00 until 12:30: 09, 10, 11 and 12 are made up.
    clock.set(at("2026-12-07T12:30:00Z"));
    assert_eq!(a.fire_due_schedules("a").await.expect("pass"), 4);
    let mut tasks = tasks_of(&a).await;
    // Task ids (UUID v7) follow creation order; the test clock stood still.
    tasks.sort_by_key(|t| t.id);
    let statuses: Vec<TaskStatus> = tasks.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        vec![
            TaskStatus::Cancelled,
            TaskStatus::Cancelled,
            TaskStatus::Cancelled,
            TaskStatus::Pending
        ],
        "each fire cancelled the one before"
    );
    let view = a.schedule(created.row.id).await.expect("read").expect("schedule");
    assert_eq!((view.row.fired, view.row.missed), (4, 0));
    assert_eq!(view.upcoming[0], at("2026-12-07T13:00:00Z"));
    assert!(a.delete_schedule(created.row.id).await.expect("deletes"));
    assert_eq!(tasks_of(&a).await.len(), 4, "its tasks stay");
    clock.set(at("2026-12-07T14:00:01Z"));
    assert_eq!(
        a.fire_due_schedules("a").await.expect("pass"),
        0,
        "deleted: no fire"
    );
}

const DECLARED: &str = "name: digest
version: VERSION
steps: [{name: send, handler: noop}]
schedules:
  - {name: morning, cron: '0 7 * * mon-fri', timezone: America/New_York, context: {edition: am}}
";

async fn declared(db: &TestDb) {
    let clock = Arc::new(TestClock(Mutex::new(at("2026-12-07T08:30:00Z"))));
    let (a, _) = replicas(db, &clock).await;
    a.register_template(&DECLARED.replace("VERSION", "1.0.0"), false)
        .await
        .expect("registers");
    let all = a.schedules().await.expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].row.source.as_deref(),
        Some("template:default/digest:morning")
    );
    assert_eq!(all[0].row.version.as_deref(), Some("1.0.0"));
    // 07:00 in New York (EST) is 12:00 UTC, Monday to Friday.
    assert_eq!(all[0].upcoming[0], at("2026-12-07T12:00:00Z"));
    let without = "name: digest\nversion: 2.0.0\nsteps: [{name: send, handler: noop}]\n";
    a.register_template(without, false).await.expect("registers");
    assert!(
        a.schedules().await.expect("list").is_empty(),
        "no longer declared"
    );
    for (yaml, path) in [
        (
            DECLARED
                .replace("VERSION", "3.0.0")
                .replace("0 7 * * mon-fri", "0 7 * *"),
            "schedules[0].cron",
        ),
        (
            DECLARED
                .replace("VERSION", "3.0.0")
                .replace("America/New_York", "Nowhere"),
            "schedules[0].timezone",
        ),
    ] {
        let err = a.register_template(&yaml, false).await.expect_err(path);
        assert!(err.to_string().contains(path), "{path}: {err}");
    }
    let schema_bound = "name: digest\nversion: 3.0.0\ncontext_schema: {type: object, required: [edition], properties: {edition: {type: integer}}}\nsteps: [{name: send, handler: noop}]\nschedules: [{name: morning, cron: '0 7 * * *', context: {edition: am}}]\n";
    let err = a
        .register_template(schema_bound, false)
        .await
        .expect_err("bad context");
    assert!(err.to_string().contains("schedules[0].context"), "{err}");
    assert!(a.schedules().await.expect("list").is_empty(), "nothing stored");
    assert!(
        a.find_template("default", "digest", Some("3.0.0"))
            .await
            .expect("read")
            .is_none(),
        "the template is refused with its schedule"
    );
}
