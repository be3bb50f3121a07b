//! Integration tests: one binary (link time dominates on small machines).

mod shapes;
mod support;
mod workflows;
