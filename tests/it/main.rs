//! Integration tests: one binary (link time dominates on small machines).

mod audit;
mod operations;
mod replicas;
mod shapes;
mod support;
mod workers;
mod workflows;
