//! Integration tests: one binary (link time dominates on small machines).

mod audit;
mod auth;
mod cli;
mod cli_remote;
mod cluster;
mod events;
mod graphql;
mod graphs;
mod http;
mod leases;
mod metrics_cache;
mod observability;
mod operations;
mod outage;
mod playground;
mod relay;
mod replicas;
mod restart;
mod shapes;
mod shutdown;
mod sockets;
mod support;
mod templates;
mod traces;
mod workers;
mod workflows;
