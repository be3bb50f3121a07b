//! GraphQL object, input and enum types. Each wraps a service view; nested
//! fields load through the request's DataLoaders.

mod enums;
mod event;
mod graph;
mod metrics;
mod registry;
mod step;
mod task;
mod template;

use async_graphql::{Context, ID};
use uuid::Uuid;

pub use enums::{HandlerKindGql, TaskStatusKind};
pub use event::{Event, EventDescription, namespace_of};
pub use graph::DependencyGraph;
pub use metrics::{MetricsCacheStatus, MetricsExport, MetricsFormat, MetricsScopeGql};
pub use registry::{RegistryGql, RegistryMatch};
pub use step::Step;
pub use task::{Task, TaskCursor, TaskFilter, TaskTotals};
pub use template::{Handler, Namespace, RateLimit, StepHandlerInfo};

use super::error::{GqlResult, bad_input, internal};
use super::loaders::Loaders;
use crate::service::Tasker;

/// A UUID from an `ID` argument, or BAD_USER_INPUT naming the argument.
pub fn parse_id(id: &ID, field: &str) -> GqlResult<Uuid> {
    id.parse::<Uuid>()
        .map_err(|_| bad_input(field, format!("{:?} is not a UUID", id.as_str())).into())
}

/// The request's loaders.
pub fn loaders<'a>(ctx: &Context<'a>) -> GqlResult<&'a Loaders> {
    ctx.data::<Loaders>()
        .map_err(|e| internal(&format!("loaders missing from the request: {}", e.message)).into())
}

/// The services.
pub fn tasker<'a>(ctx: &Context<'a>) -> GqlResult<&'a Tasker> {
    ctx.data::<Tasker>()
        .map_err(|e| internal(&format!("services missing from the schema: {}", e.message)).into())
}
