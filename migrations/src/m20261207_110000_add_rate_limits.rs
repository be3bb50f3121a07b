use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_090100_create_tasks::WorkflowStep;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Rate {
    RateLimits,
}

#[derive(DeriveIden)]
enum RateStart {
    Table,
    Id,
    RateKey,
    ExpiresAt,
}

/// Rate limits. A rate-limited step carries the keys it counts against (as
/// JSON) and waits at a gate like a step of a concurrency group; every start
/// of a key is logged in `rate_start` until its window ends, so the number
/// of starts in any window is a count over that key's rows.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowStep::Table)
                    .add_column(json_binary_null(Rate::RateLimits))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RateStart::Table)
                    .if_not_exists()
                    .col(big_integer(RateStart::Id).auto_increment().primary_key())
                    .col(string_len(RateStart::RateKey, 640))
                    .col(timestamp_with_time_zone(RateStart::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_rate_start_key",
                vec![RateStart::RateKey, RateStart::ExpiresAt],
            ),
            ("idx_rate_start_expiry", vec![RateStart::ExpiresAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(RateStart::Table).if_not_exists();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RateStart::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowStep::Table)
                    .drop_column(Rate::RateLimits)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
