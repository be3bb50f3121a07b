use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "step_edge")]
pub struct Model {
    pub task_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub from_step_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub to_step_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
