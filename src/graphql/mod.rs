//! The GraphQL API (async-graphql): queries, mutations, subscriptions, error
//! codes, and per-request DataLoaders.

mod approvals;
mod error;
mod groups;
mod guard;
mod inbound;
mod loaders;
mod measure;
mod mutation;
mod overview;
mod query;
mod schedules;
mod subscription;
mod types;
mod validation;

use async_graphql::{Data, Schema};

pub use error::{ErrorCode, ErrorCodes, Told};
pub use loaders::Loaders;
/// Read access to namespaces, templates, handlers, tasks, steps, schedules,
/// events and the dashboard's figures.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    query::CoreQuery,
    schedules::ScheduleQuery,
    inbound::EventQuery,
    overview::OverviewQuery,
    validation::ValidationQuery,
);

/// Changes: templates, tasks, schedules, events, operator actions and the external-worker protocol.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    mutation::CoreMutation,
    schedules::ScheduleMutation,
    approvals::ApprovalMutation,
    inbound::EventMutation,
);
pub use subscription::SubscriptionRoot;

use crate::service::Tasker;

/// The schema type.
pub type TaskerSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Limits and switches of the GraphQL endpoint.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Deepest selection set allowed.
    pub max_depth: usize,
    /// Highest complexity allowed (each field 1; list pages multiply).
    pub max_complexity: usize,
    /// Whether `__schema` / `__type` queries are answered.
    pub introspection: bool,
    /// What `explorer` answers.
    pub explorer: overview::ExplorerSettings,
}

impl Settings {
    /// The settings of `[graphql]` and `[explorer]`.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let trace_url = config.explorer.trace_url.trim();
        Self {
            max_depth: config.graphql.max_depth,
            max_complexity: config.graphql.max_complexity,
            introspection: config.graphql.introspection,
            explorer: overview::ExplorerSettings {
                trace_url: (!trace_url.is_empty()).then(|| trace_url.to_owned()),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_config(&crate::config::Config::default())
    }
}

/// What one request (or websocket connection) carries.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// From the `X-Correlation-ID` header, or generated.
    pub correlation_id: String,
}

/// The schema over `tasker`.
pub fn schema(tasker: Tasker, settings: &Settings) -> TaskerSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot)
        .extension(measure::Measure(tasker.metrics().clone()))
        .data(tasker)
        .data(settings.explorer.clone())
        .extension(ErrorCodes)
        .limit_depth(settings.max_depth)
        .limit_complexity(settings.max_complexity);
    if !settings.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// Give a request fresh loaders and the caller's correlation id.
pub fn prepare(
    request: async_graphql::Request,
    tasker: &Tasker,
    info: RequestInfo,
) -> async_graphql::Request {
    request.data(Loaders::new(tasker)).data(info)
}

/// Connection data for a websocket: fresh loaders and the correlation id.
pub fn request_data(tasker: &Tasker, info: RequestInfo) -> Data {
    let mut data = Data::default();
    data.insert(Loaders::new(tasker));
    data.insert(info);
    data
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot)
        .finish()
        .sdl()
}
