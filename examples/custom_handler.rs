//! Embedding Tasker with your own Rust step handler.
//!
//! cargo run --example custom_handler
//! then, in another terminal:
//! cargo run -- task create shop/greet --context '{"name": "Ada"}' --wait --no-engine

use std::sync::Arc;

use serde_json::{Value, json};
use tasker::app::App;
use tasker::config::Config;
use tasker::handlers::{HandlerError, HandlerRegistry, StepContext, StepHandler};
use tokio_util::sync::CancellationToken;

/// Greets `context.name`; a missing name is a permanent error (retrying cannot fix it).
struct Greet;

#[async_trait::async_trait]
impl StepHandler for Greet {
    async fn handle(&self, ctx: StepContext) -> Result<Value, HandlerError> {
        let name = ctx
            .context
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| HandlerError::permanent("context.name is missing"))?;
        let greeting = ctx
            .config
            .get("greeting")
            .and_then(Value::as_str)
            .unwrap_or("Hello");
        Ok(json!({"message": format!("{greeting}, {name}!"), "attempt": ctx.attempt}))
    }

    fn validate_config(&self, config: &Value) -> Result<(), String> {
        match config.get("greeting") {
            None | Some(Value::String(_)) => Ok(()),
            Some(_) => Err("greet: config.greeting must be text".to_owned()),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load(None)?;
    tasker::telemetry::init_logging(&config.log, tasker::telemetry::LogTarget::Stdout);
    let handlers = HandlerRegistry::with_builtins();
    handlers.register(Some("shop"), "greet", Arc::new(Greet), false)?;
    let app = App::build(&config, handlers).await?;
    app.tasker()
        .register_template(
            "namespace: shop\nname: greet\nsteps:\n  - {name: hello, handler: greet, config: {greeting: Welcome}}\n",
            true,
        )
        .await?;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    app.serve(cancel).await?;
    Ok(())
}
