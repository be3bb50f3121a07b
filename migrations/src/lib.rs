//! Tasker's schema as SeaORM migrations; one set serves SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261123_090000_create_templates;
mod m20261123_090100_create_tasks;
mod m20261123_090200_create_transitions;
mod m20261123_090300_create_step_outcomes;
mod m20261123_100000_create_task_tag;
mod m20261123_110000_index_template_runs;
mod m20261123_120000_add_task_trace_parent;
mod m20261207_090000_add_priority_and_run_at;
mod m20261207_100000_add_concurrency_groups;
mod m20261207_110000_add_rate_limits;
mod m20261207_120000_create_schedules;
mod m20261207_130000_add_step_programs;
mod m20261207_140000_index_waiting_steps;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_090000_create_templates::Migration),
            Box::new(m20261123_090100_create_tasks::Migration),
            Box::new(m20261123_090200_create_transitions::Migration),
            Box::new(m20261123_090300_create_step_outcomes::Migration),
            Box::new(m20261123_100000_create_task_tag::Migration),
            Box::new(m20261123_110000_index_template_runs::Migration),
            Box::new(m20261123_120000_add_task_trace_parent::Migration),
            Box::new(m20261207_090000_add_priority_and_run_at::Migration),
            Box::new(m20261207_100000_add_concurrency_groups::Migration),
            Box::new(m20261207_110000_add_rate_limits::Migration),
            Box::new(m20261207_120000_create_schedules::Migration),
            Box::new(m20261207_130000_add_step_programs::Migration),
            Box::new(m20261207_140000_index_waiting_steps::Migration),
        ]
    }
}

/// Creates an index with a `WHERE` clause. sea-query has no builder for partial
/// indexes; this SQL is valid on both SQLite (≥ 3.8) and PostgreSQL.
pub(crate) async fn create_partial_index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    columns: &str,
    predicate: &str,
) -> Result<(), DbErr> {
    let sql = format!("CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns}) WHERE {predicate}");
    manager
        .get_connection()
        .execute_unprepared(&sql)
        .await
        .map(|_| ())
}
