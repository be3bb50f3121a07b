use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_090100_create_tasks::{Task, WorkflowStep};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Append-only audit of task status changes.
#[derive(DeriveIden)]
enum TaskTransition {
    Table,
    Id,
    TaskId,
    Sequence,
    FromStatus,
    ToStatus,
    Reason,
    Metadata,
    CreatedAt,
}

/// Append-only audit of step status changes.
#[derive(DeriveIden)]
enum StepTransition {
    Table,
    Id,
    StepId,
    TaskId,
    Sequence,
    FromStatus,
    ToStatus,
    Attempt,
    Reason,
    Metadata,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TaskTransition::Table)
                    .col(pk_uuid(TaskTransition::Id))
                    .col(uuid(TaskTransition::TaskId))
                    .col(integer(TaskTransition::Sequence))
                    .col(string_len_null(TaskTransition::FromStatus, 32))
                    .col(string_len(TaskTransition::ToStatus, 32))
                    .col(text_null(TaskTransition::Reason))
                    .col(json_binary_null(TaskTransition::Metadata))
                    .col(timestamp_with_time_zone(TaskTransition::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TaskTransition::Table, TaskTransition::TaskId)
                            .to(Task::Table, Task::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_task_transition_sequence")
                    .table(TaskTransition::Table)
                    .col(TaskTransition::TaskId)
                    .col(TaskTransition::Sequence)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StepTransition::Table)
                    .col(pk_uuid(StepTransition::Id))
                    .col(uuid(StepTransition::StepId))
                    .col(uuid(StepTransition::TaskId))
                    .col(integer(StepTransition::Sequence))
                    .col(string_len_null(StepTransition::FromStatus, 32))
                    .col(string_len(StepTransition::ToStatus, 32))
                    .col(integer(StepTransition::Attempt))
                    .col(text_null(StepTransition::Reason))
                    .col(json_binary_null(StepTransition::Metadata))
                    .col(timestamp_with_time_zone(StepTransition::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(StepTransition::Table, StepTransition::StepId)
                            .to(WorkflowStep::Table, WorkflowStep::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StepTransition::Table, StepTransition::TaskId)
                            .to(Task::Table, Task::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The unique sequence per step makes a double-applied transition impossible.
        manager
            .create_index(
                Index::create()
                    .name("uq_step_transition_sequence")
                    .table(StepTransition::Table)
                    .col(StepTransition::StepId)
                    .col(StepTransition::Sequence)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_step_transition_task")
                    .table(StepTransition::Table)
                    .col(StepTransition::TaskId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StepTransition::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TaskTransition::Table).to_owned())
            .await
    }
}
