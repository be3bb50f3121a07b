//! Tasker: durable, GraphQL-first workflow orchestration.

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod entities;
pub mod events;
pub mod handlers;
pub mod http;
pub mod service;
pub mod store;
pub mod telemetry;
