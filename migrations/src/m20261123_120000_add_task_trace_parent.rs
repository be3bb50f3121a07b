use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_090100_create_tasks::Task;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Trace {
    TraceParent,
}

/// The W3C trace context of the span that created the task: step attempts run
/// later, on any replica, and hang their spans beneath it.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Task::Table)
                    .add_column(string_null(Trace::TraceParent))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Task::Table)
                    .drop_column(Trace::TraceParent)
                    .to_owned(),
            )
            .await
    }
}
