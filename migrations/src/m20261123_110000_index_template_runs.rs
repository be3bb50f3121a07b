use sea_orm_migration::prelude::*;

use crate::m20261123_090100_create_tasks::Task;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Observed step durations read each template's latest completed tasks:
/// this index answers that per template without scanning its history.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_task_template_runs")
                    .table(Task::Table)
                    .col(Task::Namespace)
                    .col(Task::Name)
                    .col(Task::Status)
                    .col(Task::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_task_template_runs")
                    .table(Task::Table)
                    .to_owned(),
            )
            .await
    }
}
