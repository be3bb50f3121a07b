//! What the doctor talks to, the tasks it creates and follows, and how it
//! waits for telemetry to arrive.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::prometheus::selector;
use super::{Prometheus, Report, Traces, new_trace_context};
use crate::client::operations::{DoctorCreateTask, DoctorTask, doctor_create_task, doctor_task};
use crate::client::{Client, ClientError};
use crate::domain::TaskStatus;

/// How often a wait asks again.
const POLL: Duration = Duration::from_millis(500);

/// What the doctor talks to and which task it runs.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The Tasker server (or the load balancer in front of the replicas).
    pub client: Client,
    /// The Prometheus server that should scrape it.
    pub prometheus: Prometheus,
    /// The trace backend's query API.
    pub traces: Traces,
    /// The scrape job's name in Prometheus.
    pub job: String,
    /// The `service.name` Tasker's spans carry.
    pub service: String,
    /// The template's namespace.
    pub namespace: String,
    /// The template's name.
    pub name: String,
    /// Its version (the newest when `None`).
    pub version: Option<String>,
    /// The tasks' context.
    pub context: Value,
    /// How long each wait may take.
    pub timeout: Duration,
}

/// A created task.
#[derive(Debug, Clone)]
pub struct Created {
    /// Its id.
    pub id: String,
    /// The trace the doctor started for it.
    pub trace_id: String,
    /// The doctor's own span, the request span's parent.
    pub caller_span: String,
}

impl Probe {
    /// Create one task with a trace context of the doctor's making.
    pub async fn create_task(&self) -> Result<Created, ClientError> {
        let (trace_id, caller_span, traceparent) = new_trace_context();
        let id = self.create_traced(&traceparent).await?;
        Ok(Created {
            id,
            trace_id,
            caller_span,
        })
    }

    /// Create one task as part of the trace `traceparent` names; its id.
    pub async fn create_traced(&self, traceparent: &str) -> Result<String, ClientError> {
        let input = doctor_create_task::CreateTaskInput {
            namespace: Some(self.namespace.clone()),
            name: Some(self.name.clone()),
            named_task_name: None,
            version: self.version.clone(),
            context: self.context.clone(),
            initiator: Some("tasker-doctor".to_owned()),
            source_system: None,
            reason: Some("telemetry check".to_owned()),
            tags: None,
            bypass_steps: None,
            idempotency_key: None,
            priority: None,
            run_at: None,
            delay_seconds: None,
        };
        let created = self
            .client
            .run_traced::<DoctorCreateTask>(doctor_create_task::Variables { input }, traceparent)
            .await?;
        Ok(created.create_task.task.id)
    }

    /// Wait until the task finishes; the task as it ended.
    pub(super) async fn finish(&self, id: &str) -> Result<doctor_task::DoctorTaskTask, String> {
        let last = poll(self.timeout, || async {
            let task = self
                .client
                .run::<DoctorTask>(doctor_task::Variables { id: id.to_owned() })
                .await
                .map_err(|e| e.to_string())?
                .task
                .ok_or_else(|| format!("task {id} is gone"))?;
            if matches!(task.status, TaskStatus::Pending | TaskStatus::InProgress) {
                return Err(format!("task {id} still {}", task.status.as_str()));
            }
            Ok(task)
        })
        .await;
        last.map_err(|e| format!("{e} after {} s", self.timeout.as_secs()))
    }

    /// An empty report titled `what` and the addresses checked.
    pub(super) fn report(&self, what: &str) -> Report {
        Report::new(format!(
            "{what}: server {}, Prometheus {}, traces {}",
            self.client.base(),
            self.prometheus.base(),
            self.traces.base()
        ))
    }

    pub(super) fn tasks_counter(&self) -> String {
        selector(
            "tasker_tasks_total",
            &[
                ("job", &self.job),
                ("namespace", &self.namespace),
                ("name", &self.name),
                ("status", "complete"),
            ],
        )
    }

    /// `sum(expr)` now (or at `at`), with the evaluation time.
    pub(super) async fn sum_at(&self, expr: &str, at: Option<f64>) -> Result<(Option<f64>, f64), String> {
        let vector = self
            .prometheus
            .query(&format!("sum({expr})"), at)
            .await
            .map_err(|e| e.to_string())?;
        Ok((vector.value(), vector.at))
    }

    /// Wait until `sum(expr)` reaches `want`; its value and evaluation time
    /// then, or the last value seen.
    pub(super) async fn sum_reaching(&self, expr: &str, want: f64) -> Result<(f64, f64), String> {
        poll(self.timeout, || async {
            match self.sum_at(expr, None).await? {
                (Some(value), at) if value >= want => Ok((value, at)),
                (value, _) => Err(format!("{expr} = {value:?}, waiting for {want}")),
            }
        })
        .await
    }

    pub(super) async fn sum(&self, expr: &str) -> Result<Option<f64>, String> {
        Ok(self.sum_at(expr, None).await?.0)
    }
}

/// Ask `attempt` every half second until it succeeds or `timeout` passes;
/// the success, or the last failure.
pub async fn poll<T, E, F, Fut>(timeout: Duration, mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match attempt().await {
            Ok(found) => return Ok(found),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}
