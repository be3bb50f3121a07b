use chrono::{Duration as Span, Utc};
use prometheus_parse::{Scrape, Value};
use uuid::Uuid;

use super::*;
use crate::domain::TaskStatus;
use crate::domain::attempt::FailureKind;

fn scrape(metrics: &Metrics) -> Scrape {
    let text = metrics.encode();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses")
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
}

fn task_change(to: TaskStatus, ran_for: Span) -> Change {
    let now = Utc::now();
    Change::Task(TaskChange {
        task_id: Uuid::nil(),
        namespace: "pay".into(),
        name: "order".into(),
        created_at: now - ran_for,
        correlation_id: None,
        trace_parent: None,
        from: Some(TaskStatus::InProgress),
        to,
        sequence: 3,
        reason: None,
        at: now,
    })
}

fn step_change(from: StepStatus, to: StepStatus, ran_for: Span) -> Change {
    let now = Utc::now();
    Change::Step(StepChange {
        step_id: Uuid::nil(),
        task_id: Uuid::nil(),
        step_name: "charge".into(),
        handler: "charge_card".into(),
        external: false,
        from: Some(from),
        to,
        attempt: 1,
        started_at: Some(now - ran_for),
        sequence: 4,
        reason: None,
        failure: None,
        at: now,
    })
}

#[test]
fn changes_become_counters_and_histograms() {
    let m = Metrics::new();
    m.record_event(
        "task.completed",
        Some(&task_change(TaskStatus::Complete, Span::seconds(2))),
        None,
    );
    let ran = Span::milliseconds(300);
    m.record_event(
        "step.completed",
        Some(&step_change(StepStatus::InProgress, StepStatus::Complete, ran)),
        Some("pay"),
    );
    m.record_event(
        "step.backoff",
        Some(&step_change(
            StepStatus::InProgress,
            StepStatus::WaitingForRetry,
            ran,
        )),
        Some("pay"),
    );
    m.record_event(
        "step.enqueued",
        Some(&step_change(StepStatus::Pending, StepStatus::Enqueued, ran)),
        Some("pay"),
    );
    let mut lost = step_change(StepStatus::InProgress, StepStatus::WaitingForRetry, ran);
    if let Change::Step(step) = &mut lost {
        step.failure = Some(FailureKind::LeaseExpired);
    }
    m.record_event("step.lease_expired", Some(&lost), Some("pay"));
    m.record_event("handler.registered", None, None);
    m.events_dropped(7);
    m.set_depths(3, 5);
    let s = scrape(&m);
    let task = [("namespace", "pay"), ("name", "order"), ("status", "complete")];
    assert_eq!(value(&s, "tasker_tasks_total", &task), Some(1.0));
    assert_eq!(
        value(&s, "tasker_workflow_duration_seconds_count", &task),
        Some(1.0)
    );
    let step = [("namespace", "pay"), ("handler", "charge_card")];
    assert_eq!(
        value(
            &s,
            "tasker_steps_total",
            &[step[0], step[1], ("status", "enqueued")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "tasker_step_attempts_total",
            &[step[0], step[1], ("outcome", "success")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "tasker_step_attempts_total",
            &[step[0], step[1], ("outcome", "retry")]
        ),
        Some(1.0)
    );
    let lease = [step[0], step[1], ("outcome", "lease_expired")];
    assert_eq!(value(&s, "tasker_step_attempts_total", &lease), Some(1.0));
    assert_eq!(
        value(&s, "tasker_events_total", &[("event", "handler.registered")]),
        Some(1.0)
    );
    // Three attempts of 0.3 s: all in the buckets from 0.512 s up, none below 0.256 s.
    assert_eq!(value(&s, "tasker_step_duration_seconds_count", &step), Some(3.0));
    assert!((value(&s, "tasker_step_duration_seconds_sum", &step).unwrap_or(0.0) - 0.9).abs() < 1e-9);
    let text = m.encode();
    let bucket = |le: &str| {
        format!(r#"tasker_step_duration_seconds_bucket{{le="{le}",namespace="pay",handler="charge_card"}}"#)
    };
    assert!(text.contains(&format!("{} 0\n", bucket("0.256"))), "{text}");
    assert!(text.contains(&format!("{} 3\n", bucket("0.512"))), "{text}");
    assert_eq!(
        value(&s, "tasker_events_total", &[("event", "step.backoff")]),
        Some(1.0)
    );
    assert_eq!(value(&s, "tasker_events_dropped_total", &[]), Some(7.0));
    assert_eq!(value(&s, "tasker_tasks_in_progress", &[]), Some(3.0));
    assert_eq!(value(&s, "tasker_steps_ready", &[]), Some(5.0));
    assert!(
        s.docs.contains_key("tasker_claim_latency_seconds"),
        "{:?}",
        s.docs.keys()
    );
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    let mut change = task_change(TaskStatus::Error, Span::seconds(1));
    if let Change::Task(t) = &mut change {
        t.namespace = "we\"ird\\ns\nx".into();
    }
    m.record_event("task.failed", Some(&change), None);
    let text = m.encode();
    assert!(text.contains(r#"namespace="we\"ird\\ns\nx""#), "{text}");
}

#[test]
fn operation_names_are_bounded() {
    let m = Metrics::new();
    let fast = std::time::Duration::from_millis(3);
    m.graphql_request(Some("CreateOrder"), true, fast);
    m.graphql_request(Some("bad name {"), false, fast);
    m.graphql_request(None, true, fast);
    for i in 0..MAX_OPERATIONS + 5 {
        m.graphql_request(Some(&format!("Op{i}")), true, fast);
    }
    let s = scrape(&m);
    let count = |op: &str, status: &str| {
        value(
            &s,
            "tasker_graphql_requests_total",
            &[("operation", op), ("status", status)],
        )
    };
    assert_eq!(count("CreateOrder", "ok"), Some(1.0));
    assert_eq!(count("anonymous", "error"), Some(1.0));
    assert_eq!(count("anonymous", "ok"), Some(1.0));
    // CreateOrder took one of the 200 places: Op199.. are "other".
    assert_eq!(count("other", "ok"), Some(6.0));
    assert_eq!(
        value(
            &s,
            "tasker_graphql_request_duration_seconds_count",
            &[("operation", "CreateOrder")]
        ),
        Some(1.0)
    );
}

#[test]
fn process_metrics_are_reported_on_linux() {
    let s = scrape(&Metrics::new());
    assert!(value(&s, "process_start_time_seconds", &[]).is_some_and(|v| v > 1.6e9));
    if cfg!(target_os = "linux") {
        assert!(value(&s, "process_resident_memory_bytes", &[]).is_some_and(|v| v > 0.0));
        assert!(value(&s, "process_cpu_seconds_total", &[]).is_some());
    }
}
