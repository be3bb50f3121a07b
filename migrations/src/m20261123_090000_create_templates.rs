use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Namespace {
    Table,
    Name,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum TaskTemplate {
    Table,
    Id,
    Namespace,
    Name,
    Version,
    Description,
    Definition,
    ContentHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StepTemplate {
    Table,
    Id,
    TaskTemplateId,
    Position,
    Name,
    Handler,
    External,
    DependsOn,
    Retryable,
    Retry,
    TimeoutMs,
    Skippable,
    Config,
    Description,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Namespace::Table)
                    .col(string_len(Namespace::Name, 128).primary_key())
                    .col(text_null(Namespace::Description))
                    .col(timestamp_with_time_zone(Namespace::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TaskTemplate::Table)
                    .col(pk_uuid(TaskTemplate::Id))
                    .col(string_len(TaskTemplate::Namespace, 128))
                    .col(string_len(TaskTemplate::Name, 128))
                    .col(string_len(TaskTemplate::Version, 64))
                    .col(text_null(TaskTemplate::Description))
                    .col(json_binary(TaskTemplate::Definition))
                    .col(string_len(TaskTemplate::ContentHash, 64))
                    .col(timestamp_with_time_zone(TaskTemplate::CreatedAt))
                    .col(timestamp_with_time_zone(TaskTemplate::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TaskTemplate::Table, TaskTemplate::Namespace)
                            .to(Namespace::Table, Namespace::Name),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_task_template_key")
                    .table(TaskTemplate::Table)
                    .col(TaskTemplate::Namespace)
                    .col(TaskTemplate::Name)
                    .col(TaskTemplate::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StepTemplate::Table)
                    .col(pk_uuid(StepTemplate::Id))
                    .col(uuid(StepTemplate::TaskTemplateId))
                    .col(integer(StepTemplate::Position))
                    .col(string_len(StepTemplate::Name, 128))
                    .col(string_len(StepTemplate::Handler, 256))
                    .col(boolean(StepTemplate::External))
                    .col(json_binary(StepTemplate::DependsOn))
                    .col(boolean(StepTemplate::Retryable))
                    .col(json_binary(StepTemplate::Retry))
                    .col(big_integer_null(StepTemplate::TimeoutMs))
                    .col(boolean(StepTemplate::Skippable))
                    .col(json_binary(StepTemplate::Config))
                    .col(text_null(StepTemplate::Description))
                    .foreign_key(
                        ForeignKey::create()
                            .from(StepTemplate::Table, StepTemplate::TaskTemplateId)
                            .to(TaskTemplate::Table, TaskTemplate::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_step_template_name")
                    .table(StepTemplate::Table)
                    .col(StepTemplate::TaskTemplateId)
                    .col(StepTemplate::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StepTemplate::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TaskTemplate::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Namespace::Table).to_owned())
            .await
    }
}
