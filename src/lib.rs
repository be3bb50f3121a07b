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

/// Install ring as rustls's crypto provider, which every reqwest client
/// (the http handler, the OTLP exporter, the command-line client) needs
/// before it is built: reqwest is compiled without one so that only ring is.
/// Installing again is harmless (the first provider stays).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
