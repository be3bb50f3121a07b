//! Built-ins without I/O: `noop`, `echo`, `sleep`, `fail_times`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::handlers::{HandlerError, StepContext, StepHandler};

/// Returns `{}`.
pub struct Noop;

#[async_trait::async_trait]
impl StepHandler for Noop {
    async fn handle(&self, _ctx: StepContext) -> Result<Value, HandlerError> {
        Ok(json!({}))
    }
}

/// Returns `{"config": <its config>, "parents": {<parent>: <results>}}`, with
/// `index` and `item` for an instance of a map.
pub struct Echo;

#[async_trait::async_trait]
impl StepHandler for Echo {
    async fn handle(&self, ctx: StepContext) -> Result<Value, HandlerError> {
        let mut out = json!({"config": ctx.config, "parents": ctx.parent_results});
        if let (Some((index, item)), Some(map)) = (ctx.map_item, out.as_object_mut()) {
            map.insert("index".to_owned(), json!(index));
            map.insert("item".to_owned(), item);
        }
        Ok(out)
    }
}

/// Longest sleep a step may ask for (one day).
const MAX_SLEEP_MS: u64 = 86_400_000;

fn sleep_ms(config: &Value) -> Result<u64, String> {
    match config.get("ms").and_then(Value::as_u64) {
        Some(ms) if ms <= MAX_SLEEP_MS => Ok(ms),
        Some(ms) => Err(format!("sleep: config.ms {ms} is more than {MAX_SLEEP_MS}")),
        None => Err("sleep needs config.ms, a whole number of milliseconds".to_owned()),
    }
}

/// Sleeps `config.ms` milliseconds (stops early when cancelled).
pub struct Sleep;

#[async_trait::async_trait]
impl StepHandler for Sleep {
    async fn handle(&self, ctx: StepContext) -> Result<Value, HandlerError> {
        let ms = sleep_ms(&ctx.config).map_err(HandlerError::permanent)?;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => Ok(json!({"slept_ms": ms})),
            () = ctx.cancel.cancelled() => Err(HandlerError::retryable("sleep interrupted")),
        }
    }

    fn validate_config(&self, config: &Value) -> Result<(), String> {
        sleep_ms(config).map(|_| ())
    }
}

struct FailTimesConfig {
    times: u64,
    retryable: bool,
    retry_after: Option<Duration>,
}

fn fail_times_config(config: &Value) -> Result<FailTimesConfig, String> {
    let times = config
        .get("times")
        .and_then(Value::as_u64)
        .ok_or("fail_times needs config.times, a whole number of failures")?;
    let retryable = match config.get("retryable") {
        None => true,
        Some(v) => v
            .as_bool()
            .ok_or("fail_times: config.retryable must be true or false")?,
    };
    let retry_after = match config.get("retry_after_seconds") {
        None => None,
        Some(v) => match v.as_f64() {
            Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
            _ => return Err("fail_times: config.retry_after_seconds must be a number ≥ 0".to_owned()),
        },
    };
    Ok(FailTimesConfig {
        times,
        retryable,
        retry_after,
    })
}

/// Fails while the attempt number is ≤ `config.times`, then succeeds.
pub struct FailTimes;

#[async_trait::async_trait]
impl StepHandler for FailTimes {
    async fn handle(&self, ctx: StepContext) -> Result<Value, HandlerError> {
        let config = fail_times_config(&ctx.config).map_err(HandlerError::permanent)?;
        if u64::from(ctx.attempt) <= config.times {
            let mut err = HandlerError {
                message: format!(
                    "fail_times: attempt {} of {} planned failures",
                    ctx.attempt, config.times
                ),
                retryable: config.retryable,
                retry_after: None,
            };
            if let Some(wait) = config.retry_after {
                err = err.with_retry_after(wait);
            }
            return Err(err);
        }
        Ok(json!({"attempts": ctx.attempt}))
    }

    fn validate_config(&self, config: &Value) -> Result<(), String> {
        fail_times_config(config).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;
    use uuid::Uuid;

    use super::*;

    fn ctx(attempt: u32, config: Value) -> StepContext {
        let mut parents = serde_json::Map::new();
        parents.insert("a".into(), json!({"x": 1}));
        StepContext {
            task_id: Uuid::nil(),
            step_id: Uuid::nil(),
            step_name: "s".into(),
            namespace: "default".into(),
            attempt,
            idempotency_key: "k".into(),
            context: Arc::new(json!({})),
            config,
            parent_results: parents,
            map_item: None,
            cancel: CancellationToken::new(),
        }
    }

    #[tokio::test]
    async fn echo_returns_config_and_parents() {
        let out = Echo.handle(ctx(1, json!({"k": "v"}))).await.expect("ok");
        assert_eq!(out, json!({"config": {"k": "v"}, "parents": {"a": {"x": 1}}}));
    }

    #[tokio::test]
    async fn fail_times_fails_while_attempt_is_at_most_times() {
        let config = json!({"times": 2, "retry_after_seconds": 1.5});
        let first = FailTimes.handle(ctx(1, config.clone())).await.expect_err("fails");
        assert!(first.retryable);
        assert_eq!(first.retry_after, Some(Duration::from_millis(1500)));
        assert!(FailTimes.handle(ctx(2, config.clone())).await.is_err());
        assert_eq!(
            FailTimes.handle(ctx(3, config)).await.expect("ok"),
            json!({"attempts": 3})
        );
        let permanent = FailTimes
            .handle(ctx(1, json!({"times": 1, "retryable": false})))
            .await
            .expect_err("fails");
        assert!(!permanent.retryable);
    }

    #[tokio::test]
    async fn sleep_stops_when_cancelled() {
        let c = ctx(1, json!({"ms": 60_000}));
        c.cancel.cancel();
        assert!(Sleep.handle(c).await.is_err());
        assert!(Sleep.validate_config(&json!({"ms": "soon"})).is_err());
    }
}
