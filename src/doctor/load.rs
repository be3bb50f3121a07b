//! The load variant: N concurrent createTask calls, then latency, error rate
//! and throughput as Prometheus and the trace backend recorded them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::hierarchy::REQUEST;
use super::preflight::{Reachable, preflight};
use super::prometheus::selector;
use super::{Check, Probe, Report, TraceSpan, new_trace_context};

/// The operation name the doctor's createTask requests carry.
const OPERATION: &str = "DoctorCreateTask";

/// What to look at when Prometheus counted fewer requests than were sent.
const UNCOUNTED_FIX: &str =
    "requests that reached another replica are counted there: is every replica a target?";

/// How hard to push and what to require.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// createTask calls in all.
    pub requests: usize,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// How many of the slowest traces to list.
    pub slowest: usize,
    /// The highest share of failed requests that passes.
    pub max_error_rate: f64,
    /// The highest p95 latency (Prometheus's) that passes, when set.
    pub max_p95: Option<Duration>,
}

/// One request the doctor sent.
struct Sent {
    trace_id: String,
    caller_span: String,
    ok: bool,
}

/// Run the load and judge it from the telemetry.
pub async fn load(probe: &Probe, plan: &LoadPlan) -> Report {
    let mut report = probe.report(&format!(
        "Tasker createTask under load, {} requests, {} at a time",
        plan.requests, plan.concurrency
    ));
    let Some(Reachable { prometheus, traces }) = preflight(probe, &mut report).await else {
        return report;
    };
    let count = selector(
        "tasker_graphql_request_duration_seconds_count",
        &[("job", &probe.job), ("operation", OPERATION)],
    );
    let before = if prometheus {
        report.keep(baseline(probe, &count).await)
    } else {
        None
    };

    let started = Instant::now();
    let sent: Vec<Sent> = futures::stream::iter(0..plan.requests)
        .map(|_| async {
            let (trace_id, caller_span, traceparent) = new_trace_context();
            let ok = probe.create_traced(&traceparent).await.is_ok();
            Sent {
                trace_id,
                caller_span,
                ok,
            }
        })
        .buffer_unordered(plan.concurrency.max(1))
        .collect()
        .await;
    let wall = started.elapsed();
    let client_errors = sent.iter().filter(|s| !s.ok).count();

    if let Some((value, at)) = before {
        from_prometheus(probe, plan, &count, value, at, &mut report).await;
    }
    if traces {
        from_traces(probe, plan, &sent, &mut report).await;
    }
    report.figure(
        "client (for comparison)",
        format!(
            "{} requests in {:.2} s, {client_errors} failed as the client saw them",
            sent.len(),
            wall.as_secs_f64()
        ),
    );
    report
}

/// The request counter and its evaluation time once a warm-up request is in it.
async fn baseline(probe: &Probe, count: &str) -> Result<(f64, f64), Check> {
    let fail = |detail: String| {
        Check::fail(
            "requests counted",
            detail,
            "Prometheus did not count the warm-up request: is the scrape interval longer than --timeout?",
        )
    };
    let (earlier, _) = probe.sum_at(count, None).await.map_err(fail)?;
    let (_, _, traceparent) = new_trace_context();
    probe
        .create_traced(&traceparent)
        .await
        .map_err(|e| fail(format!("the warm-up request failed: {e}")))?;
    probe
        .sum_reaching(count, earlier.unwrap_or(0.0) + 1.0)
        .await
        .map_err(fail)
}

/// Counts, errors and quantiles: the counters' growth between the baseline
/// and the scrape that holds every request (offset in ms, so exactly those).
async fn from_prometheus(
    probe: &Probe,
    plan: &LoadPlan,
    count: &str,
    before: f64,
    before_at: f64,
    report: &mut Report,
) {
    let after = probe
        .sum_reaching(count, before + plan.requests as f64)
        .await
        .map(|(_, at)| at);
    let grew = |at: f64, selector: &str| {
        let offset = ((at - before_at) * 1000.0).round().max(1.0);
        format!("({selector} - {selector} offset {offset}ms)")
    };
    let at = match after {
        Ok(at) => at,
        Err(last) => {
            // Still report what did arrive.
            let (seen, _) = probe.sum_at(count, None).await.unwrap_or((None, 0.0));
            report.add(Check::fail(
                "requests counted",
                format!(
                    "Prometheus counted {:.0} of {} requests within {} s ({last})",
                    seen.unwrap_or(before) - before,
                    plan.requests,
                    probe.timeout.as_secs()
                ),
                UNCOUNTED_FIX,
            ));
            return;
        }
    };
    let total = probe
        .sum_at(&grew(at, count), Some(at))
        .await
        .ok()
        .and_then(|v| v.0);
    let ok_counter = selector(
        "tasker_graphql_requests_total",
        &[("job", &probe.job), ("operation", OPERATION), ("status", "ok")],
    );
    let ok = probe
        .sum_at(&grew(at, &ok_counter), Some(at))
        .await
        .ok()
        .and_then(|v| v.0);
    let bucket = selector(
        "tasker_graphql_request_duration_seconds_bucket",
        &[("job", &probe.job), ("operation", OPERATION)],
    );
    let mut quantiles = Vec::new();
    for q in [0.5, 0.95, 0.99] {
        let expr = format!("histogram_quantile({q}, sum by (le) {})", grew(at, &bucket));
        let value = probe
            .prometheus
            .query(&expr, Some(at))
            .await
            .ok()
            .and_then(|v| v.value());
        quantiles.push(value);
    }
    let total = total.unwrap_or(0.0);
    let counted = total.round() as usize == plan.requests;
    report.add(if counted {
        Check::pass(
            "requests counted",
            format!(
                "Prometheus counted {total:.0} of {} (tasker_graphql_request_duration_seconds_count{{operation=\"{OPERATION}\"}})",
                plan.requests
            ),
        )
    } else {
        Check::fail(
            "requests counted",
            format!("Prometheus counted {total:.0} of {} requests", plan.requests),
            UNCOUNTED_FIX,
        )
    });
    let errors = (total - ok.unwrap_or(0.0)).max(0.0);
    let rate = if total > 0.0 { errors / total } else { 0.0 };
    let detail = format!(
        "{errors:.0} of {total:.0} requests failed ({:.2} %)",
        rate * 100.0
    );
    report.add(if rate <= plan.max_error_rate {
        Check::pass("error rate", detail)
    } else {
        Check::fail(
            "error rate",
            detail,
            format!(
                "above --max-error-rate {}: the server's log lines with the requests' correlation ids say why",
                plan.max_error_rate
            ),
        )
    });
    let ms = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |s| format!("{:.1} ms", s * 1000.0));
    report.figure(
        "latency (Prometheus histogram, interpolated within its buckets)",
        format!(
            "p50 {}, p95 {}, p99 {}",
            ms(quantiles[0]),
            ms(quantiles[1]),
            ms(quantiles[2])
        ),
    );
    if let Some(max) = plan.max_p95 {
        let p95 = quantiles[1].unwrap_or(f64::INFINITY);
        let detail = format!("p95 {} (limit {} ms)", ms(quantiles[1]), max.as_millis());
        report.add(if p95 <= max.as_secs_f64() {
            Check::pass("p95 latency", detail)
        } else {
            Check::fail(
                "p95 latency",
                detail,
                "the slowest traces below show where the time goes",
            )
        });
    }
}

/// Latency, throughput and the slowest requests from their request spans.
async fn from_traces(probe: &Probe, plan: &LoadPlan, sent: &[Sent], report: &mut Report) {
    let mut found: HashMap<&str, TraceSpan> = HashMap::new();
    let deadline = Instant::now() + probe.timeout;
    loop {
        let missing: Vec<&Sent> = sent
            .iter()
            .filter(|s| !found.contains_key(s.trace_id.as_str()))
            .collect();
        if missing.is_empty() || Instant::now() >= deadline {
            break;
        }
        let fetched: Vec<(&str, Option<TraceSpan>)> = futures::stream::iter(missing)
            .map(|s| async move {
                let spans = probe
                    .traces
                    .trace(&s.trace_id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let request = spans.into_iter().find(|span| {
                    span.name == REQUEST && span.parent.as_deref() == Some(s.caller_span.as_str())
                });
                (s.trace_id.as_str(), request)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        found.extend(fetched.into_iter().filter_map(|(id, span)| span.map(|s| (id, s))));
        if found.len() < sent.len() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let detail = format!(
        "{} of {} requests' traces hold their `{REQUEST}` span",
        found.len(),
        sent.len()
    );
    report.add(if found.len() == sent.len() {
        Check::pass("traces received", detail)
    } else {
        Check::fail(
            "traces received",
            detail,
            "the exporter drops spans when its queue is full, or the collector samples: see tasker's log for \
             OpenTelemetry errors and the collector's sampling",
        )
    });
    if found.is_empty() {
        return;
    }
    let mut durations: Vec<i64> = found.values().map(|s| s.duration_us).collect();
    durations.sort_unstable();
    let ms = |us: i64| format!("{:.1} ms", us as f64 / 1000.0);
    report.figure(
        "latency (request spans)",
        format!(
            "p50 {}, p95 {}, p99 {}, max {}",
            ms(quantile(&durations, 0.5)),
            ms(quantile(&durations, 0.95)),
            ms(quantile(&durations, 0.99)),
            ms(durations.last().copied().unwrap_or_default())
        ),
    );
    let first = found.values().map(|s| s.start_us).min().unwrap_or_default();
    let last = found.values().map(TraceSpan::end_us).max().unwrap_or_default();
    let seconds = (last - first).max(1) as f64 / 1e6;
    report.figure(
        "throughput (request spans)",
        format!(
            "{:.1} requests/s ({} in {seconds:.2} s, first start to last end)",
            found.len() as f64 / seconds,
            found.len()
        ),
    );
    let mut slowest: Vec<(&&str, &TraceSpan)> = found.iter().collect();
    slowest.sort_by_key(|(_, s)| std::cmp::Reverse(s.duration_us));
    for (trace, span) in slowest.into_iter().take(plan.slowest) {
        let status = span
            .tags
            .get("http.response.status_code")
            .map_or("?", String::as_str);
        report.figure(
            "slow trace",
            format!("{trace}  {}  HTTP {status}", ms(span.duration_us)),
        );
    }
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn nearest_rank_quantiles() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(quantile(&values, 0.5), 50);
        assert_eq!(quantile(&values, 0.95), 95);
        assert_eq!(quantile(&values, 0.99), 99);
        assert_eq!(quantile(&values, 1.0), 100);
        assert_eq!(quantile(&[7], 0.95), 7);
        assert_eq!(quantile(&[1, 2, 3], 0.0), 1);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
