use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "step_result")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub step_id: Uuid,
    pub task_id: Uuid,
    pub attempt: i32,
    pub results: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
