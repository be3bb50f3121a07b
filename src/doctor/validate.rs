//! The telemetry check: the server is ready, a task runs, Prometheus scrapes
//! the server and counts the task, the trace backend holds the task's trace
//! in the expected shape.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::hierarchy::{self, ExpectedStep};
use super::prometheus::selector;
use super::{Check, Prometheus, Report, Traces, new_trace_context};
use crate::client::operations::{DoctorCreateTask, DoctorTask, doctor_create_task, doctor_task};
use crate::client::{Client, ClientError};
use crate::domain::TaskStatus;

/// What to do when the trace backend does not answer.
const TRACES_FIX: &str =
    "pass the trace backend's Jaeger query API as --traces (Jaeger: http://jaeger:16686)";

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
        };
        let created = self
            .client
            .run_traced::<DoctorCreateTask>(doctor_create_task::Variables { input }, traceparent)
            .await?;
        Ok(created.create_task.task.id)
    }

    /// Wait until the task finishes; the task as it ended.
    async fn finish(&self, id: &str) -> Result<doctor_task::DoctorTaskTask, String> {
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

    fn tasks_counter(&self) -> String {
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

    async fn sum(&self, expr: &str) -> Result<Option<f64>, String> {
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

/// Run every check against `probe`.
pub async fn validate(probe: &Probe) -> Report {
    let mut report = probe.report("Tasker telemetry check");
    let Some(Reachable { prometheus, .. }) = preflight(probe, &mut report).await else {
        return report;
    };

    // A counter series that first appears with this task's increment shows no
    // increase, so one task of the template is counted before the measured one.
    let baseline = if prometheus {
        match counted_baseline(probe).await {
            Ok(value) => Some(value),
            Err(check) => {
                report.add(check);
                None
            }
        }
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

/// Which backends passed the checks every run begins with.
pub(super) struct Reachable {
    /// Prometheus is healthy and scrapes the server.
    pub prometheus: bool,
    /// The trace backend answers.
    pub traces: bool,
}

/// The checks every run begins with: the server is ready (`None` when it is
/// not: nothing else can be checked), Prometheus is healthy, scrapes it and
/// evaluates its rules, the trace backend answers.
pub(super) async fn preflight(probe: &Probe, report: &mut Report) -> Option<Reachable> {
    if !report.add(ready(probe.client.base()).await) {
        return None;
    }
    let prometheus = report.add(healthy(&probe.prometheus).await) && report.add(scraped(probe).await);
    if prometheus {
        report.add(rules(&probe.prometheus).await);
    }
    let traces = report.add(trace_backend(&probe.traces).await);
    Some(Reachable { prometheus, traces })
}

/// `GET /health/ready` of the server.
async fn ready(base: &str) -> Check {
    let url = format!("{base}/health/ready");
    let started = Instant::now();
    match super::backend::http().get(&url).send().await {
        Ok(response) if response.status().is_success() => Check::pass(
            "server ready",
            format!(
                "{url} → {} in {} ms",
                response.status().as_u16(),
                started.elapsed().as_millis()
            ),
        ),
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            Check::fail(
                "server ready",
                format!("{url} → {status}: {body}"),
                "the reason above names what is down (database, migrations); GET /health/status tells more",
            )
        }
        Err(e) => Check::fail(
            "server ready",
            format!("{url}: {e}"),
            "start Tasker or pass its address as --server",
        ),
    }
}

async fn healthy(prometheus: &Prometheus) -> Check {
    match prometheus.healthy().await {
        Ok(()) => Check::pass(
            "prometheus healthy",
            format!("{}/-/healthy → 200", prometheus.base()),
        ),
        Err(e) => Check::fail(
            "prometheus healthy",
            e.to_string(),
            "pass the Prometheus server's base URL as --prometheus (e.g. http://prometheus:9090)",
        ),
    }
}

/// `up{job=…}` is 1 for every target of the job.
async fn scraped(probe: &Probe) -> Check {
    const NAME: &str = "tasker scraped";
    let up = selector("up", &[("job", &probe.job)]);
    let mut vector = match probe.prometheus.query(&up, None).await {
        Ok(vector) => vector,
        Err(e) => return Check::fail(NAME, e.to_string(), "is --prometheus a Prometheus server?"),
    };
    // A Prometheus configured with the job that has not scraped it yet (it
    // starts scraping a few seconds after it starts) gets time; one without
    // the job fails at once.
    let jobs = probe.prometheus.scrape_jobs().await.unwrap_or_default();
    if vector.samples.is_empty()
        && jobs.contains(&probe.job)
        && let Ok(scraped) = poll(probe.timeout, || async {
            match probe.prometheus.query(&up, None).await {
                Ok(v) if !v.samples.is_empty() => Ok(v),
                Ok(_) => Err("not scraped yet".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
    {
        vector = scraped;
    }
    if vector.samples.is_empty() {
        return Check::fail(
            NAME,
            format!("{up}: no series"),
            format!(
                "add a scrape job named {:?} with every replica's /metrics as a target \
                 (docker/prometheus/prometheus.yml has one), or pass its name as --job (jobs configured: {})",
                probe.job,
                jobs.join(", ")
            ),
        );
    }
    let instance = |s: &super::Sample| s.labels.get("instance").cloned().unwrap_or_default();
    let down: Vec<String> = vector
        .samples
        .iter()
        .filter(|s| s.value < 1.0)
        .map(instance)
        .collect();
    let listed = vector
        .samples
        .iter()
        .map(|s| format!("{}={}", instance(s), s.value))
        .collect::<Vec<_>>()
        .join(", ");
    if down.is_empty() {
        return Check::pass(NAME, format!("{up}: {listed}"));
    }
    let errors = match probe.prometheus.targets(&probe.job).await {
        Ok(targets) => targets
            .into_iter()
            .filter(|t| down.contains(&t.instance) && !t.last_error.is_empty())
            .map(|t| format!("{}: {}", t.instance, t.last_error))
            .collect::<Vec<_>>()
            .join("; "),
        Err(e) => e.to_string(),
    };
    Check::fail(
        NAME,
        format!("{up}: {listed}"),
        format!(
            "Prometheus cannot scrape {} ({errors}); check the target address, that /metrics answers there, and \
             [auth] metrics_auth_required",
            down.join(", ")
        ),
    )
}

/// Every rule Prometheus loaded evaluates without error; firing alerts are named.
async fn rules(prometheus: &Prometheus) -> Check {
    const NAME: &str = "alert rules";
    let rules = match prometheus.rules().await {
        Ok(rules) => rules,
        Err(e) => return Check::fail(NAME, e.to_string(), "is --prometheus a Prometheus server?"),
    };
    if rules.is_empty() {
        return Check::pass(
            NAME,
            "none loaded (docker/prometheus/alerts.yml holds Tasker's: add it to rule_files)",
        );
    }
    let broken: Vec<String> = rules
        .iter()
        .filter(|r| r.health == "err")
        .map(|r| format!("{}: {}", r.name, r.last_error))
        .collect();
    if !broken.is_empty() {
        return Check::fail(
            NAME,
            broken.join("; "),
            "run `promtool check rules` on the rule files; a rule may name a metric this Tasker does not export",
        );
    }
    let alerts = rules.iter().filter(|r| r.kind == "alerting").count();
    let firing: Vec<&str> = rules
        .iter()
        .filter(|r| r.state == "firing")
        .map(|r| r.name.as_str())
        .collect();
    let waiting = rules.iter().filter(|r| r.health != "ok").count();
    Check::pass(
        NAME,
        format!(
            "{} rules ({} recording, {alerts} alerting): {} evaluated without error, {waiting} not evaluated yet; \
             firing: {}",
            rules.len(),
            rules.len() - alerts,
            rules.len() - waiting,
            if firing.is_empty() {
                "none".to_owned()
            } else {
                firing.join(", ")
            }
        ),
    )
}

/// The trace backend answers and lists its services.
async fn trace_backend(traces: &Traces) -> Check {
    match traces.services().await {
        Ok(services) => Check::pass(
            "trace backend",
            format!("{}/api/services: [{}]", traces.base(), services.join(", ")),
        ),
        Err(e) => Check::fail("trace backend", e.to_string(), TRACES_FIX),
    }
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
    poll(probe.timeout, || async {
        probe
            .sum(&counter)
            .await?
            .ok_or_else(|| format!("{counter}: no series"))
    })
    .await
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
