//! Tasker: durable, GraphQL-first workflow orchestration.

pub mod domain;
