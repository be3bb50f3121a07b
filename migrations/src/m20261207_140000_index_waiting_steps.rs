use sea_orm_migration::prelude::*;

use crate::create_partial_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The dashboard counts WAITING steps (sleeps, approvals, events, child
/// tasks) on every refresh: a partial index holds only those rows, so the
/// count does not scan the step history.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_partial_index(
            manager,
            "idx_workflow_step_waiting",
            "workflow_step",
            "id",
            "status = 'WAITING'",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_workflow_step_waiting").to_owned())
            .await
    }
}
