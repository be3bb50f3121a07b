use sea_orm_migration::{prelude::*, schema::*};

use crate::create_partial_index;
use crate::m20261123_090100_create_tasks::WorkflowStep;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Program {
    Program,
    WakeAt,
}

/// Step kinds. A step with a `when` condition or of a kind the engine runs
/// itself (sleep, approval) carries its program as JSON; a WAITING step whose
/// wait ends at a known time (a sleep's end, an approval's timeout) has
/// `wake_at` set, found through a small partial index.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            json_binary_null(Program::Program),
            timestamp_with_time_zone_null(Program::WakeAt),
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
        create_partial_index(
            manager,
            "idx_workflow_step_wake",
            "workflow_step",
            "wake_at",
            "wake_at IS NOT NULL",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_workflow_step_wake").to_owned())
            .await?;
        for column in [Program::Program, Program::WakeAt] {
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
