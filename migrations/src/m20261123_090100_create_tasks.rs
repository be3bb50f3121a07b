use sea_orm_migration::{prelude::*, schema::*};

use crate::create_partial_index;
use crate::m20261123_090000_create_templates::TaskTemplate;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Task {
    Table,
    Id,
    #[sea_orm(iden = "task_template_id")]
    TemplateId,
    Namespace,
    Name,
    Version,
    Status,
    PreviousStatus,
    TransitionSeq,
    Context,
    Initiator,
    SourceSystem,
    Reason,
    Tags,
    IdempotencyKey,
    CorrelationId,
    CreatedAt,
    UpdatedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
pub(crate) enum WorkflowStep {
    Table,
    Id,
    TaskId,
    Position,
    Name,
    Handler,
    External,
    Status,
    PreviousStatus,
    TransitionSeq,
    Attempts,
    AttemptLimit,
    RetryPolicy,
    TimeoutMs,
    Skippable,
    Config,
    ReadyAt,
    LeaseOwner,
    LeaseToken,
    LeaseExpiresAt,
    LastError,
    StartedAt,
    CompletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StepEdge {
    Table,
    TaskId,
    FromStepId,
    ToStepId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_task(manager).await?;
        create_workflow_step(manager).await?;
        create_step_edge(manager).await?;
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            // PostgreSQL only: each step row is updated about three times over its
            // life, so the default 20 % thresholds leave the planner without
            // statistics and the table full of dead tuples for too long.
            for table in ["task", "workflow_step", "step_edge"] {
                let sql = format!(
                    "ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)"
                );
                manager.get_connection().execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StepEdge::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WorkflowStep::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Task::Table).to_owned())
            .await
    }
}

async fn create_task(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Task::Table)
                .col(pk_uuid(Task::Id))
                .col(uuid(Task::TemplateId))
                .col(string_len(Task::Namespace, 128))
                .col(string_len(Task::Name, 128))
                .col(string_len(Task::Version, 64))
                .col(string_len(Task::Status, 32))
                .col(string_len_null(Task::PreviousStatus, 32))
                .col(integer(Task::TransitionSeq))
                .col(json_binary(Task::Context))
                .col(string_len_null(Task::Initiator, 256))
                .col(string_len_null(Task::SourceSystem, 256))
                .col(text_null(Task::Reason))
                .col(json_binary(Task::Tags))
                .col(string_len_null(Task::IdempotencyKey, 256))
                .col(string_len_null(Task::CorrelationId, 128))
                .col(timestamp_with_time_zone(Task::CreatedAt))
                .col(timestamp_with_time_zone(Task::UpdatedAt))
                .col(timestamp_with_time_zone_null(Task::CompletedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Task::Table, Task::TemplateId)
                        .to(TaskTemplate::Table, TaskTemplate::Id),
                )
                .to_owned(),
        )
        .await?;
    // NULL keys do not collide on either backend, so tasks without a key are free.
    let indexes = [
        Index::create()
            .name("uq_task_idempotency_key")
            .table(Task::Table)
            .col(Task::IdempotencyKey)
            .unique()
            .to_owned(),
        Index::create()
            .name("idx_task_status")
            .table(Task::Table)
            .col(Task::Status)
            .to_owned(),
        Index::create()
            .name("idx_task_template_key")
            .table(Task::Table)
            .col(Task::Namespace)
            .col(Task::Name)
            .col(Task::Version)
            .to_owned(),
        Index::create()
            .name("idx_task_created")
            .table(Task::Table)
            .col(Task::CreatedAt)
            .col(Task::Id)
            .to_owned(),
    ];
    for index in indexes {
        manager.create_index(index).await?;
    }
    Ok(())
}

async fn create_workflow_step(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(WorkflowStep::Table)
                .col(pk_uuid(WorkflowStep::Id))
                .col(uuid(WorkflowStep::TaskId))
                .col(integer(WorkflowStep::Position))
                .col(string_len(WorkflowStep::Name, 128))
                .col(string_len(WorkflowStep::Handler, 256))
                .col(boolean(WorkflowStep::External))
                .col(string_len(WorkflowStep::Status, 32))
                .col(string_len_null(WorkflowStep::PreviousStatus, 32))
                .col(integer(WorkflowStep::TransitionSeq))
                .col(integer(WorkflowStep::Attempts))
                .col(integer(WorkflowStep::AttemptLimit))
                .col(json_binary(WorkflowStep::RetryPolicy))
                .col(big_integer_null(WorkflowStep::TimeoutMs))
                .col(boolean(WorkflowStep::Skippable))
                .col(json_binary(WorkflowStep::Config))
                .col(timestamp_with_time_zone_null(WorkflowStep::ReadyAt))
                .col(string_len_null(WorkflowStep::LeaseOwner, 256))
                .col(uuid_null(WorkflowStep::LeaseToken))
                .col(timestamp_with_time_zone_null(WorkflowStep::LeaseExpiresAt))
                .col(json_binary_null(WorkflowStep::LastError))
                .col(timestamp_with_time_zone_null(WorkflowStep::StartedAt))
                .col(timestamp_with_time_zone_null(WorkflowStep::CompletedAt))
                .col(timestamp_with_time_zone(WorkflowStep::CreatedAt))
                .col(timestamp_with_time_zone(WorkflowStep::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(WorkflowStep::Table, WorkflowStep::TaskId)
                        .to(Task::Table, Task::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("uq_workflow_step_name")
                .table(WorkflowStep::Table)
                .col(WorkflowStep::TaskId)
                .col(WorkflowStep::Name)
                .unique()
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_workflow_step_task_status")
                .table(WorkflowStep::Table)
                .col(WorkflowStep::TaskId)
                .col(WorkflowStep::Status)
                .to_owned(),
        )
        .await?;
    // Partial indexes stay small: only claimable rows, only leased rows.
    create_partial_index(
        manager,
        "idx_workflow_step_ready",
        "workflow_step",
        "ready_at",
        "ready_at IS NOT NULL",
    )
    .await?;
    create_partial_index(
        manager,
        "idx_workflow_step_lease_expiry",
        "workflow_step",
        "lease_expires_at",
        "lease_expires_at IS NOT NULL",
    )
    .await?;
    create_partial_index(
        manager,
        "idx_workflow_step_lease_owner",
        "workflow_step",
        "lease_owner",
        "lease_owner IS NOT NULL",
    )
    .await
}

async fn create_step_edge(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(StepEdge::Table)
                .col(uuid(StepEdge::TaskId))
                .col(uuid(StepEdge::FromStepId))
                .col(uuid(StepEdge::ToStepId))
                .primary_key(Index::create().col(StepEdge::FromStepId).col(StepEdge::ToStepId))
                .foreign_key(
                    ForeignKey::create()
                        .from(StepEdge::Table, StepEdge::TaskId)
                        .to(Task::Table, Task::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(StepEdge::Table, StepEdge::FromStepId)
                        .to(WorkflowStep::Table, WorkflowStep::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(StepEdge::Table, StepEdge::ToStepId)
                        .to(WorkflowStep::Table, WorkflowStep::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_step_edge_to")
                .table(StepEdge::Table)
                .col(StepEdge::ToStepId)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_step_edge_task")
                .table(StepEdge::Table)
                .col(StepEdge::TaskId)
                .to_owned(),
        )
        .await
}
