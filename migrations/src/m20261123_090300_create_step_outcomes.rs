use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// No foreign keys, as on the audit tables: rows are written only by the store
// in the transaction that finishes their attempt.

/// The results of a step's successful attempt (or of its manual resolution).
#[derive(DeriveIden)]
enum StepResult {
    Table,
    StepId,
    TaskId,
    Attempt,
    Results,
    CreatedAt,
}

/// Every failed attempt, kept as history.
#[derive(DeriveIden)]
enum StepError {
    Table,
    Id,
    StepId,
    TaskId,
    Attempt,
    Kind,
    Message,
    Retryable,
    RetryAfterMs,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StepResult::Table)
                    .col(pk_uuid(StepResult::StepId))
                    .col(uuid(StepResult::TaskId))
                    .col(integer(StepResult::Attempt))
                    .col(json_binary(StepResult::Results))
                    .col(timestamp_with_time_zone(StepResult::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StepError::Table)
                    .col(pk_uuid(StepError::Id))
                    .col(uuid(StepError::StepId))
                    .col(uuid(StepError::TaskId))
                    .col(integer(StepError::Attempt))
                    .col(string_len(StepError::Kind, 32))
                    .col(text(StepError::Message))
                    .col(boolean(StepError::Retryable))
                    .col(big_integer_null(StepError::RetryAfterMs))
                    .col(timestamp_with_time_zone(StepError::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_step_error_step")
                    .table(StepError::Table)
                    .col(StepError::StepId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StepError::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(StepResult::Table).to_owned())
            .await
    }
}
