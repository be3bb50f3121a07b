//! `GET /metrics` (Prometheus) and `GET /health/status` (what an operator
//! wants to see at a glance). Both read the database within a time limit.

use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

use super::AppState;
use super::auth::refusal;
use super::health::uncached;
use crate::auth::Access;
use crate::auth::permission::{HEALTH_STATUS_READ, METRICS_READ};
use crate::service::MetricsScope;
use crate::telemetry::metrics::CONTENT_TYPE;

/// The database gets this long to answer before a probe reports it down.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// `work`'s value, or why there is none (its error, or no answer in time).
pub(super) async fn within<T, E: std::fmt::Display>(
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(DATABASE_TIMEOUT, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {} ms", DATABASE_TIMEOUT.as_millis())),
    }
}

/// Which metrics `GET /metrics` serves.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct MetricsQuery {
    scope: Option<String>,
}

/// `GET /metrics`: this replica's metrics, or with `?scope=cluster` every
/// replica's added up (the metrics cache). Queue depths are read now; the
/// rest is kept current by events. A database that does not answer leaves
/// the last depths in place.
pub(super) async fn metrics(
    State(state): State<AppState>,
    access: Access,
    Query(query): Query<MetricsQuery>,
) -> Response {
    if state.auth.guards_metrics()
        && let Err(denied) = access.require(METRICS_READ, None)
    {
        return refusal(&denied);
    }
    let scope = match query.scope.as_deref() {
        None | Some("local") => MetricsScope::Local,
        Some("cluster") => MetricsScope::Cluster,
        Some(other) => {
            let message = format!("scope: {other:?} is not one of local, cluster");
            return uncached(
                StatusCode::BAD_REQUEST,
                json!({"code": "BAD_USER_INPUT", "message": message}),
            );
        }
    };
    let tasker = &state.tasker;
    match within(tasker.queue_depths()).await {
        Ok(depths) => tasker
            .metrics()
            .set_depths(depths.tasks_in_progress, depths.steps_ready),
        Err(message) => tracing::warn!(error = %message, "metrics: queue depths not refreshed"),
    }
    let body = match scope {
        MetricsScope::Local => tasker.metrics().encode(),
        MetricsScope::Cluster => match tasker.metrics_snapshot(scope).await {
            Ok(view) => view.render(),
            Err(err) => {
                return uncached(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"code": "UNAVAILABLE", "message": err.to_string()}),
                );
            }
        },
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /health/status`: 200 while the database answers, 503 otherwise.
pub(super) async fn status(State(state): State<AppState>, access: Access) -> Response {
    if state.auth.guards_health_status()
        && let Err(denied) = access.require(HEALTH_STATUS_READ, None)
    {
        return refusal(&denied);
    }
    let tasker = &state.tasker;
    let probe = Instant::now();
    let database = within(tasker.store().ping()).await;
    let latency_ms = probe.elapsed().as_secs_f64() * 1000.0;
    let (depths, tasks, templates, autovacuum_off) = tokio::join!(
        within(tasker.queue_depths()),
        within(tasker.tasks_by_status()),
        within(tasker.template_count()),
        within(tasker.store().autovacuum_off()),
    );
    // PostgreSQL only: with it off, the engine's plans degrade as tables grow.
    let autovacuum = match (tasker.store().backend(), autovacuum_off) {
        (sea_orm::DbBackend::Postgres, Ok(off)) => json!(if off { "off" } else { "on" }),
        _ => Value::Null,
    };
    let or_error = |result: Result<Value, String>| result.unwrap_or_else(|message| json!({"error": message}));
    let engine = tasker.engine().map(|e| {
        let s = e.stats();
        json!({
            "instance_id": e.instance_id(),
            "handlers_running": e.in_flight(),
            "steps_claimed": s.claimed.load(Ordering::Relaxed),
            "attempts_completed": s.completed.load(Ordering::Relaxed),
            "attempts_failed": s.failed.load(Ordering::Relaxed),
            "transactions": s.batches.load(Ordering::Relaxed),
            "failed_transactions": s.failed_turns.load(Ordering::Relaxed),
            "leases_lost": s.lease_lost.load(Ordering::Relaxed),
            "dispatch_failures": s.dispatch_failures.load(Ordering::Relaxed),
        })
    });
    let (queue, leases) = match depths {
        Ok(d) => (
            json!({
                "tasks_in_progress": d.tasks_in_progress,
                "steps_ready": d.steps_ready,
                "steps_scheduled": d.steps_scheduled,
            }),
            json!({"active": d.leases_active, "expired": d.leases_expired}),
        ),
        Err(message) => (json!({"error": message}), json!({"error": message})),
    };
    let ok = database.is_ok();
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "database": match &database {
            Ok(()) => json!({
                "status": "ok",
                "backend": format!("{:?}", tasker.store().backend()),
                "latency_ms": latency_ms,
                "autovacuum": autovacuum,
            }),
            Err(message) => json!({"status": "error", "message": message}),
        },
        "redis": match &state.relay {
            Some(relay) => relay.to_json(),
            None => json!({"status": "not_configured", "mode": "local"}),
        },
        "metrics_cache": tasker.metrics_cache().status(),
        "queue": queue,
        "leases": leases,
        "tasks": or_error(tasks.map(|t| json!(t))),
        "engine": engine,
        "registry": {
            "templates": or_error(templates.map(|n| json!(n))),
            "handlers": tasker.handlers().list().len(),
        },
        "registries": tasker.registries(),
        "events": {
            "subscribers": tasker.events().subscriber_count(),
            "watched_tasks": tasker.task_watch().watched_tasks(),
        },
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    uncached(code, body)
}
