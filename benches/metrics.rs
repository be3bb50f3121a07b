//! What recording a metric costs on the hot path: `cargo bench --bench metrics`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tasker::domain::StepStatus;
use tasker::domain::change::{Change, StepChange};
use tasker::telemetry::Metrics;

fn recording(c: &mut Criterion) {
    let metrics = Metrics::new();
    let dropped = metrics.events_dropped_counter();
    c.bench_function("counter inc", |b| b.iter(|| dropped.inc()));
    let latency = metrics.claim_latency();
    c.bench_function("histogram observe", |b| {
        b.iter(|| latency.observe(black_box(0.004)))
    });
    c.bench_function("labelled counter (event by name)", |b| {
        b.iter(|| metrics.record_event(black_box("step.completed"), None, None));
    });
    // What the telemetry subscriber records for a finished attempt: the
    // step's status, the attempt's outcome and its duration.
    let now = chrono::Utc::now();
    let completed = Change::Step(StepChange {
        step_id: uuid::Uuid::nil(),
        task_id: uuid::Uuid::nil(),
        step_name: "charge".into(),
        handler: "charge_card".into(),
        external: false,
        from: Some(StepStatus::InProgress),
        to: StepStatus::Complete,
        attempt: 1,
        started_at: Some(now - chrono::Duration::milliseconds(40)),
        sequence: 4,
        reason: None,
        failure: None,
        at: now,
    });
    c.bench_function("step completed (status, outcome, duration)", |b| {
        b.iter(|| metrics.record_event("step.completed", Some(black_box(&completed)), Some("payments")));
    });
    c.bench_function("sharing snapshot (parse the registry)", |b| {
        b.iter(|| tasker::telemetry::series::Snapshot::parse(&metrics.encode()));
    });
}

criterion_group!(benches, recording);
criterion_main!(benches);
