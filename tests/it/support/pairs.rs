//! A handler that makes concurrency observable without depending on timing:
//! the first run of each key waits (up to 30 s) until a second run of the key
//! has started, so a limit of two or more is seen used whenever it allows it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tasker::handlers::{HandlerError, HandlerRegistry, StepContext, StepHandler};
use tokio::sync::Notify;

/// See the module.
#[derive(Default)]
pub struct Pairs {
    started: Mutex<HashMap<String, usize>>,
    changed: Notify,
}

impl Pairs {
    /// Register one shared instance as `pairs` in each registry.
    pub fn install(registries: &[&HandlerRegistry]) -> Arc<Pairs> {
        let pairs = Arc::new(Pairs::default());
        for registry in registries {
            registry
                .register(None, "pairs", pairs.clone(), true)
                .expect("registers");
        }
        pairs
    }

    fn started(&self, key: &str) -> usize {
        let started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        started.get(key).copied().unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl StepHandler for Pairs {
    async fn handle(&self, ctx: StepContext) -> Result<Value, HandlerError> {
        // `config.key` names a context field; without one every run shares a key.
        let key = ctx
            .config
            .get("key")
            .and_then(Value::as_str)
            .and_then(|field| ctx.context.get(field))
            .map_or_else(|| "all".to_owned(), Value::to_string);
        let first = {
            let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
            let n = started.entry(key.clone()).or_default();
            *n += 1;
            *n == 1
        };
        self.changed.notify_waiters();
        if first {
            let _ = tokio::time::timeout(Duration::from_secs(30), async {
                while self.started(&key) < 2 {
                    let changed = self.changed.notified();
                    if self.started(&key) >= 2 {
                        break;
                    }
                    changed.await;
                }
            })
            .await;
        }
        let ms = ctx.config.get("ms").and_then(Value::as_u64).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(json!({}))
    }
}
