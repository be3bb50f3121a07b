use sea_orm_migration::{prelude::*, schema::*};

use crate::create_partial_index;
use crate::m20261123_090100_create_tasks::{Task, WorkflowStep};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Group {
    FlowKey,
    FlowLimit,
    FlowStrategy,
    QueuedAt,
    GateAt,
}

/// Concurrency groups. A task or step of a group carries the group's key and
/// limit; a task waiting for its group's turn has `queued_at`, a step waiting
/// at its group's gate `gate_at` (its parents are satisfied; it is claimed
/// only through the gate, never through the claim-rank index). Every index
/// is partial, so work without concurrency limits never maintains them.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        let columns = [
            (Task::Table.into_iden(), string_len_null(Group::FlowKey, 640)),
            (Task::Table.into_iden(), integer_null(Group::FlowLimit)),
            (Task::Table.into_iden(), string_len_null(Group::FlowStrategy, 32)),
            (
                Task::Table.into_iden(),
                timestamp_with_time_zone_null(Group::QueuedAt),
            ),
            (
                WorkflowStep::Table.into_iden(),
                string_len_null(Group::FlowKey, 640),
            ),
            (WorkflowStep::Table.into_iden(), integer_null(Group::FlowLimit)),
            (
                WorkflowStep::Table.into_iden(),
                timestamp_with_time_zone_null(Group::GateAt),
            ),
        ];
        for (table, mut column) in columns {
            manager
                .alter_table(Table::alter().table(table).add_column(&mut column).to_owned())
                .await?;
        }
        let indexes = [
            (
                "idx_task_flow_running",
                "task",
                "flow_key, status",
                "flow_key IS NOT NULL",
            ),
            (
                "idx_task_flow_queued",
                "task",
                "flow_key, queued_at",
                "queued_at IS NOT NULL",
            ),
            (
                "idx_workflow_step_flow_running",
                "workflow_step",
                "flow_key, status",
                "flow_key IS NOT NULL",
            ),
            (
                "idx_workflow_step_gate",
                "workflow_step",
                "flow_key, gate_at",
                "gate_at IS NOT NULL",
            ),
        ];
        for (name, table, columns, predicate) in indexes {
            create_partial_index(manager, name, table, columns, predicate).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "idx_task_flow_running",
            "idx_task_flow_queued",
            "idx_workflow_step_flow_running",
            "idx_workflow_step_gate",
        ] {
            manager.drop_index(Index::drop().name(name).to_owned()).await?;
        }
        let columns = [
            (Task::Table.into_iden(), Group::FlowKey),
            (Task::Table.into_iden(), Group::FlowLimit),
            (Task::Table.into_iden(), Group::FlowStrategy),
            (Task::Table.into_iden(), Group::QueuedAt),
            (WorkflowStep::Table.into_iden(), Group::FlowKey),
            (WorkflowStep::Table.into_iden(), Group::FlowLimit),
            (WorkflowStep::Table.into_iden(), Group::GateAt),
        ];
        for (table, column) in columns {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
