//! Counts and times every GraphQL operation under its name as the document
//! gives it (or `anonymous`), whether it succeeded or not.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::Response;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextRequest};

use crate::telemetry::Metrics;

/// The extension factory; one [`Measured`] per request.
pub struct Measure(pub Metrics);

impl ExtensionFactory for Measure {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Measured {
            metrics: self.0.clone(),
            operation: Mutex::new(None),
        })
    }
}

struct Measured {
    metrics: Metrics,
    /// Known once the document is parsed and its operation chosen.
    operation: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Extension for Measured {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let operation = self.operation.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.metrics
            .graphql_request(operation.as_deref(), response.is_ok(), started.elapsed());
        response
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        *self.operation.lock().unwrap_or_else(|p| p.into_inner()) = operation_name.map(str::to_owned);
        next.run(ctx, operation_name).await
    }
}
