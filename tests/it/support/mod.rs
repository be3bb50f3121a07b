//! The test kit: databases, a running engine, helpers.

mod api;
mod audit;
mod db;
mod harness;
mod pairs;
mod process;
mod redis;
mod ws;

pub use api::{TestApp, codes, run, test_config};
pub use audit::{Runs, completed_once, most_at_once, step_runs, wait_all_complete};
pub use db::TestDb;
pub use harness::{Harness, open_store, services, test_engine_options, test_settings};
pub use pairs::Pairs;
pub use process::{Server, output_text};
pub use redis::{ThrowawayRedis, free_port, redis_url};
pub use ws::WsClient;
