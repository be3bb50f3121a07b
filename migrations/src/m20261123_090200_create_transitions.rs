use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// No foreign keys on the audit tables: rows are written only by the store, in
// the transaction that changes their task or step, and each key would cost an
// index probe plus a row lock per inserted row on the hottest write path.

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
