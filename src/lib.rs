//! Tasker: durable, GraphQL-first workflow orchestration.

pub mod domain;
pub mod engine;
pub mod entities;
pub mod events;
pub mod handlers;
pub mod service;
pub mod store;
