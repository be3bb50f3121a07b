//! The checks every doctor run begins with: the server is ready, Prometheus
//! is healthy, scrapes it and evaluates its rules, the trace backend answers.

use std::time::Instant;

use super::probe::{Probe, poll};
use super::prometheus::selector;
use super::{Check, Prometheus, Report, Traces};

/// What to do when the trace backend does not answer.
pub(super) const TRACES_FIX: &str =
    "pass the trace backend's Jaeger query API as --traces (Jaeger: http://jaeger:16686)";

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
    let jobs = if vector.samples.is_empty() {
        probe.prometheus.scrape_jobs().await.unwrap_or_default()
    } else {
        Vec::new()
    };
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
