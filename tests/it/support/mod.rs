//! The test kit: databases, a running engine, helpers.

mod db;
mod harness;

pub use db::TestDb;
pub use harness::{Harness, open_store, test_engine_options};
