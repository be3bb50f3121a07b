use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

use crate::create_partial_index;
use crate::m20261123_090100_create_tasks::{Task, WorkflowStep};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Flow {
    Priority,
    RunAt,
    ClaimRank,
}

/// Priorities and delayed starts. A task keeps its priority (1–4) and the time
/// it may start; its steps copy the priority and carry a claim rank (the time
/// they became claimable minus priority × ageing, in microseconds) that claims
/// are ordered by, through a partial index over claimable rows only.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        let columns = [
            (
                Task::Table.into_iden(),
                integer(Flow::Priority).default(2).to_owned(),
            ),
            (
                Task::Table.into_iden(),
                timestamp_with_time_zone_null(Flow::RunAt),
            ),
            (
                WorkflowStep::Table.into_iden(),
                integer(Flow::Priority).default(2).to_owned(),
            ),
            (WorkflowStep::Table.into_iden(), big_integer_null(Flow::ClaimRank)),
        ];
        for (table, mut column) in columns {
            manager
                .alter_table(Table::alter().table(table).add_column(&mut column).to_owned())
                .await?;
        }
        // Steps claimable before this migration get the rank of a priority-2
        // step under the default ageing of a minute.
        let epoch_micros = match manager.get_database_backend() {
            DbBackend::Postgres => "(extract(epoch FROM ready_at) * 1000000)::bigint",
            _ => "CAST((julianday(ready_at) - 2440587.5) * 86400000000.0 AS INTEGER)",
        };
        let backfill = format!(
            "UPDATE workflow_step SET claim_rank = {epoch_micros} - 120000000 WHERE ready_at IS NOT NULL"
        );
        manager.get_connection().execute_unprepared(&backfill).await?;
        create_partial_index(
            manager,
            "idx_workflow_step_claim_rank",
            "workflow_step",
            "claim_rank",
            "ready_at IS NOT NULL",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_workflow_step_claim_rank").to_owned())
            .await?;
        let columns = [
            (Task::Table.into_iden(), Flow::Priority),
            (Task::Table.into_iden(), Flow::RunAt),
            (WorkflowStep::Table.into_iden(), Flow::Priority),
            (WorkflowStep::Table.into_iden(), Flow::ClaimRank),
        ];
        for (table, column) in columns {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
