//! SeaORM entities, one file per table: derives and relations only.

pub mod inbound_event;
pub mod namespace;
pub mod schedule;
pub mod schedule_fire;
pub mod step_edge;
pub mod step_error;
pub mod step_result;
pub mod step_template;
pub mod step_transition;
pub mod task;
pub mod task_tag;
pub mod task_template;
pub mod task_transition;
pub mod workflow_step;
