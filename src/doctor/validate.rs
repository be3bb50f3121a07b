//! The telemetry check: a task runs, Prometheus counts it, the trace backend
//! holds its trace in the expected shape (after the preflight checks).

use std::time::Instant;

use super::hierarchy::{self, ExpectedStep};
use super::preflight::{Reachable, TRACES_FIX, preflight};
use super::probe::{Created, Probe, poll};
use super::{Check, Report};
use crate::domain::TaskStatus;

/// Run every check against `probe`.
pub async fn validate(probe: &Probe) -> Report {
    let mut report = probe.report("Tasker telemetry check");
    let Some(Reachable { prometheus, .. }) = preflight(probe, &mut report).await else {
        return report;
    };

    // A counter series that first appears with this task's increment shows no
    // increase, so one task of the template is counted before the measured one.
    let baseline = if prometheus {
        report.keep(counted_baseline(probe).await)
    } else {
        None
    };

    let started = Instant::now();
    let created = match probe.create_task().await {
        Ok(created) => created,
        Err(e) => {
            report.add(Check::fail(
                "task completed",
                format!("createTask failed: {e}"),
                "check --template, --context and --token against the server",
            ));
            return report;
        }
    };
    let task = match probe.finish(&created.id).await {
        Ok(task) if task.status == TaskStatus::Complete => {
            report.add(Check::pass(
                "task completed",
                format!(
                    "{}/{} task {} COMPLETE in {} ms, trace {}",
                    probe.namespace,
                    probe.name,
                    task.id,
                    started.elapsed().as_millis(),
                    created.trace_id
                ),
            ));
            task
        }
        Ok(task) => {
            report.add(Check::fail(
                "task completed",
                format!("task {} ended {}", task.id, task.status.as_str()),
                "pick a template whose steps succeed on their own (--template, --context)",
            ));
            return report;
        }
        Err(e) => {
            report.add(Check::fail(
                "task completed",
                e,
                "is the engine running on the server? (`tasker serve` without --no-engine)",
            ));
            return report;
        }
    };
    let steps: Vec<ExpectedStep> = task
        .steps
        .iter()
        .map(|s| ExpectedStep {
            name: s.name.clone(),
            external: s.external,
            attempts: s.attempts,
        })
        .collect();
    let (counted, traced) = tokio::join!(
        async {
            match baseline {
                Some(before) => Some(counted(probe, before).await),
                None => None,
            }
        },
        traced(probe, &created, &steps)
    );
    if let Some(check) = counted {
        report.add(check);
    }
    report.add(traced);
    report
}

/// The completed-task counter's value before the measured task, counting
/// one warm-up task first when the series does not exist yet.
async fn counted_baseline(probe: &Probe) -> Result<f64, Check> {
    const NAME: &str = "task counted";
    let counter = probe.tasks_counter();
    let fail = |detail: String| Check::fail(NAME, detail, "see the checks above; is every replica scraped?");
    if let Some(value) = probe.sum(&counter).await.map_err(fail)? {
        return Ok(value);
    }
    let warm_up = probe
        .create_task()
        .await
        .map_err(|e| fail(format!("the warm-up task: {e}")))?;
    probe
        .finish(&warm_up.id)
        .await
        .map_err(|e| fail(format!("the warm-up task: {e}")))?;
    // The series appears with the warm-up task's completion, at 1.
    probe
        .sum_reaching(&counter, 1.0)
        .await
        .map(|(value, _)| value)
        .map_err(|e| {
        Check::fail(
            NAME,
            format!("the warm-up task {} was not counted: {e}", warm_up.id),
            "Prometheus scrapes the server but has no tasker_tasks_total for it: is the scrape interval longer \
             than --timeout?",
        )
    })
}

/// The completed-task counter grew past `before`, and `increase` shows it.
async fn counted(probe: &Probe, before: f64) -> Check {
    const NAME: &str = "task counted";
    let counter = probe.tasks_counter();
    let increase = format!("sum(increase({counter}[5m]))");
    let found = poll(probe.timeout, || async {
        let now = probe.sum(&counter).await?.unwrap_or(0.0);
        let increased = probe
            .prometheus
            .query(&increase, None)
            .await
            .map_err(|e| e.to_string())?
            .value()
            .unwrap_or(0.0);
        if now >= before + 1.0 && increased >= 1.0 {
            Ok((now, increased))
        } else {
            Err(format!("{counter} {before} → {now}, {increase} = {increased:.2}"))
        }
    })
    .await;
    match found {
        Ok((now, increased)) => Check::pass(
            NAME,
            format!("{counter} {before} → {now}; {increase} = {increased:.2}"),
        ),
        Err(last) => Check::fail(
            NAME,
            format!("not counted within {} s: {last}", probe.timeout.as_secs()),
            "the task completed but Prometheus did not see it: is every replica a target of the job, and the \
             scrape interval shorter than --timeout?",
        ),
    }
}

/// Why a trace check has not passed (yet).
enum Unseen {
    /// The backend did not answer.
    Backend(String),
    /// It answered without the trace.
    Trace,
    /// The trace is there, but not in Tasker's shape.
    Shape(String),
}

/// The trace backend holds the task's trace in the expected shape.
async fn traced(probe: &Probe, created: &Created, steps: &[ExpectedStep]) -> Check {
    const NAME: &str = "trace received";
    let found = poll(probe.timeout, || async {
        let spans = probe
            .traces
            .trace(&created.trace_id)
            .await
            .map_err(|e| Unseen::Backend(e.to_string()))?
            .ok_or(Unseen::Trace)?;
        let shape =
            hierarchy::check(&spans, &created.caller_span, &created.id, steps).map_err(Unseen::Shape)?;
        match spans.iter().find(|s| s.service != probe.service) {
            Some(other) => Err(Unseen::Shape(format!(
                "span `{}` came from service {:?}",
                other.name, other.service
            ))),
            None => Ok(shape),
        }
    })
    .await;
    let trace = &created.trace_id;
    match found {
        Ok(shape) => Check::pass(
            NAME,
            format!(
                "trace {trace}: {} → {} → {} {} → {} {} ({} spans)",
                hierarchy::REQUEST,
                hierarchy::TASK,
                shape.attempts,
                hierarchy::ATTEMPT,
                shape.handlers,
                hierarchy::HANDLER,
                shape.spans
            ),
        ),
        Err(Unseen::Backend(e)) => Check::fail(NAME, format!("trace {trace}: {e}"), TRACES_FIX),
        Err(Unseen::Trace) => Check::fail(
            NAME,
            format!(
                "no trace {trace} at the backend after {} s",
                probe.timeout.as_secs()
            ),
            "set OTEL_EXPORTER_OTLP_ENDPOINT (or [tracing] otlp_endpoint) on every replica to the collector's \
             OTLP/HTTP address; check [tracing] sample_ratio and that the collector forwards traces to this backend",
        ),
        Err(Unseen::Shape(e)) => Check::fail(
            NAME,
            format!("trace {trace}: {e}"),
            "spans are missing or misplaced: a collector that samples or filters spans, or a replica without \
             tracing; compare with the shape in the README (Telemetry check)",
        ),
    }
}
