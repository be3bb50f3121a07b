//! What recording a metric costs on the hot path: `cargo bench --bench metrics`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
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
    c.bench_function("sharing snapshot (parse the registry)", |b| {
        b.iter(|| tasker::telemetry::series::Snapshot::parse(&metrics.encode()));
    });
}

criterion_group!(benches, recording);
criterion_main!(benches);
