use sea_orm_migration::{prelude::*, schema::*};

use crate::create_partial_index;
use crate::m20261123_090100_create_tasks::{Task, WorkflowStep};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StepWait {
    Program,
    WakeAt,
    WaitEvent,
    MapParent,
    MapIndex,
    MapItem,
}

#[derive(DeriveIden)]
enum Lineage {
    ParentTaskId,
    ParentStepId,
    ParentAttempt,
    RootTaskId,
}

#[derive(DeriveIden)]
enum InboundEvent {
    Table,
    Id,
    Name,
    Payload,
    IdempotencyKey,
    Delivered,
    ReceivedAt,
}

/// Step kinds. A step with a `when` condition or of a kind the engine runs
/// itself (sleep, approval, wait_for) carries its program as JSON; a WAITING
/// step whose wait ends at a known time (a sleep's end, a timeout) has
/// `wake_at` set, and one waiting for an event has `wait_event`, each found
/// through a small partial index. Events from outside are kept in
/// `inbound_event`, unique by name and the sender's idempotency key. A child
/// task names its parent task, the step (and attempt) that started it, and
/// the root of its tree.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            json_binary_null(StepWait::Program),
            timestamp_with_time_zone_null(StepWait::WakeAt),
            string_len_null(StepWait::WaitEvent, 200),
            uuid_null(StepWait::MapParent),
            integer_null(StepWait::MapIndex),
            json_binary_null(StepWait::MapItem),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(WorkflowStep::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            uuid_null(Lineage::ParentTaskId),
            uuid_null(Lineage::ParentStepId),
            integer_null(Lineage::ParentAttempt),
            uuid_null(Lineage::RootTaskId),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Task::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        create_partial_index(
            manager,
            "idx_workflow_step_map_parent",
            "workflow_step",
            "map_parent",
            "map_parent IS NOT NULL",
        )
        .await?;
        for (name, column) in [
            ("idx_task_parent_task", "parent_task_id"),
            ("idx_task_parent_step", "parent_step_id"),
        ] {
            create_partial_index(manager, name, "task", column, &format!("{column} IS NOT NULL")).await?;
        }
        create_partial_index(
            manager,
            "idx_workflow_step_wake",
            "workflow_step",
            "wake_at",
            "wake_at IS NOT NULL",
        )
        .await?;
        create_partial_index(
            manager,
            "idx_workflow_step_wait_event",
            "workflow_step",
            "wait_event",
            "wait_event IS NOT NULL",
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(InboundEvent::Table)
                    .if_not_exists()
                    .col(uuid(InboundEvent::Id).primary_key())
                    .col(string_len(InboundEvent::Name, 200))
                    .col(json_binary(InboundEvent::Payload))
                    .col(string_len_null(InboundEvent::IdempotencyKey, 256))
                    .col(integer(InboundEvent::Delivered).default(0))
                    .col(timestamp_with_time_zone(InboundEvent::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_inbound_event_key")
                    .table(InboundEvent::Table)
                    .col(InboundEvent::Name)
                    .col(InboundEvent::IdempotencyKey)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_inbound_event_received")
                    .table(InboundEvent::Table)
                    .col(InboundEvent::Name)
                    .col(InboundEvent::ReceivedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(InboundEvent::Table).to_owned())
            .await?;
        for name in [
            "idx_workflow_step_wake",
            "idx_workflow_step_wait_event",
            "idx_task_parent_task",
            "idx_task_parent_step",
            "idx_workflow_step_map_parent",
        ] {
            manager.drop_index(Index::drop().name(name).to_owned()).await?;
        }
        for column in [
            Lineage::ParentTaskId,
            Lineage::ParentStepId,
            Lineage::ParentAttempt,
            Lineage::RootTaskId,
        ] {
            manager
                .alter_table(Table::alter().table(Task::Table).drop_column(column).to_owned())
                .await?;
        }
        for column in [
            StepWait::Program,
            StepWait::WakeAt,
            StepWait::WaitEvent,
            StepWait::MapParent,
            StepWait::MapIndex,
            StepWait::MapItem,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WorkflowStep::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
