use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_090100_create_tasks::Task;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One row per tag of a task: filtering by tags is an indexed lookup on both
/// backends, where a JSON array column would need backend-specific operators.
#[derive(DeriveIden)]
enum TaskTag {
    Table,
    TaskId,
    Tag,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TaskTag::Table)
                    .col(uuid(TaskTag::TaskId))
                    .col(string_len(TaskTag::Tag, 128))
                    .primary_key(Index::create().col(TaskTag::TaskId).col(TaskTag::Tag))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TaskTag::Table, TaskTag::TaskId)
                            .to(Task::Table, Task::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_task_tag_tag")
                    .table(TaskTag::Table)
                    .col(TaskTag::Tag)
                    .col(TaskTag::TaskId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TaskTag::Table).to_owned())
            .await
    }
}
