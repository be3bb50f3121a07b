use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Schedule {
    Table,
    Id,
    Namespace,
    Name,
    Version,
    Cron,
    Timezone,
    Context,
    Overlap,
    CatchUp,
    Paused,
    Source,
    NextFireAt,
    LeaseOwner,
    LeaseUntil,
    Fired,
    Missed,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ScheduleFire {
    Table,
    ScheduleId,
    FireAt,
    TaskId,
    Outcome,
    CreatedAt,
}

/// Cron schedules and their fires. A schedule's `next_fire_at` is the first
/// fire not handled yet; a replica handles a schedule's due fires under a
/// short lease on the row, and each fire is recorded once (its primary key),
/// with the task it created (idempotent by schedule and fire time).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Schedule::Table)
                    .if_not_exists()
                    .col(pk_uuid(Schedule::Id))
                    .col(string_len(Schedule::Namespace, 128))
                    .col(string_len(Schedule::Name, 128))
                    .col(string_len_null(Schedule::Version, 64))
                    .col(string_len(Schedule::Cron, 256))
                    .col(string_len(Schedule::Timezone, 64))
                    .col(json_binary(Schedule::Context))
                    .col(string_len(Schedule::Overlap, 32))
                    .col(string_len(Schedule::CatchUp, 32))
                    .col(boolean(Schedule::Paused))
                    .col(string_len_null(Schedule::Source, 512).unique_key())
                    .col(timestamp_with_time_zone_null(Schedule::NextFireAt))
                    .col(string_len_null(Schedule::LeaseOwner, 256))
                    .col(timestamp_with_time_zone_null(Schedule::LeaseUntil))
                    .col(big_integer(Schedule::Fired))
                    .col(big_integer(Schedule::Missed))
                    .col(timestamp_with_time_zone(Schedule::CreatedAt))
                    .col(timestamp_with_time_zone(Schedule::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_schedule_next_fire")
                    .table(Schedule::Table)
                    .if_not_exists()
                    .col(Schedule::NextFireAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ScheduleFire::Table)
                    .if_not_exists()
                    .col(uuid(ScheduleFire::ScheduleId))
                    .col(timestamp_with_time_zone(ScheduleFire::FireAt))
                    .col(uuid_null(ScheduleFire::TaskId))
                    .col(string_len(ScheduleFire::Outcome, 32))
                    .col(timestamp_with_time_zone(ScheduleFire::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ScheduleFire::ScheduleId)
                            .col(ScheduleFire::FireAt),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ScheduleFire::Table, ScheduleFire::ScheduleId)
                            .to(Schedule::Table, Schedule::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ScheduleFire::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Schedule::Table).to_owned())
            .await?;
        Ok(())
    }
}
