//! Tasker: durable, GraphQL-first workflow orchestration.

#![warn(missing_docs)]

pub mod app;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod engine;
#[allow(
    missing_docs,
    reason = "SeaORM derives generate items that cannot carry docs; the schema is described in migrations/"
)]
pub mod entities;
pub mod events;
pub mod graphql;
pub mod handlers;
pub mod http;
pub mod registry;
pub mod service;
pub mod store;
pub mod telemetry;
