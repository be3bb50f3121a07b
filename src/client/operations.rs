//! Typed operations, generated at compile time by graphql_client from the
//! documents in `clients/operations/` (shared with the TypeScript client)
//! against the checked-in `schema.graphql`: a field the schema lacks, or a
//! variable of the wrong type, fails the build.

// The generated modules carry the schema's descriptions only in part.
#![allow(missing_docs)]

use graphql_client::GraphQLQuery;

// The schema's custom scalars, as graphql_client looks them up by name.
#[allow(clippy::upper_case_acronyms)]
type JSON = serde_json::Value;
type DateTime = chrono::DateTime<chrono::Utc>;

// The status enums are the domain's own (same SCREAMING_SNAKE_CASE names).
pub use crate::domain::readiness::ExecutionStatus;
pub use crate::domain::{StepStatus, TaskStatus};

macro_rules! operation {
    ($name:ident, $file:tt) => {
        #[derive(GraphQLQuery)]
        #[graphql(
                                            schema_path = "schema.graphql",
                                            query_path = $file,
                                            response_derives = "Debug, Clone, serde::Serialize",
                                            variables_derives = "Debug, Clone",
                                            extern_enums("TaskStatus", "StepStatus", "ExecutionStatus")
                                        )]
        pub struct $name;
    };
}

operation!(CreateTask, "clients/operations/tasks.graphql");
operation!(GetTask, "clients/operations/tasks.graphql");
operation!(CancelTask, "clients/operations/tasks.graphql");
operation!(TaskUpdated, "clients/operations/tasks.graphql");
operation!(RegisterTaskTemplate, "clients/operations/templates.graphql");
operation!(DoctorCreateTask, "clients/operations/doctor.graphql");
operation!(DoctorTask, "clients/operations/doctor.graphql");

/// Its `MetricsScope` variable is an enum graphql_client serializes itself,
/// so the responses here derive no `Serialize` of their own.
#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "schema.graphql",
    query_path = "clients/operations/metrics.graphql",
    response_derives = "Debug",
    variables_derives = "Debug, Clone"
)]
pub struct ExportMetrics;
