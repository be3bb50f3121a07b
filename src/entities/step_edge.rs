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
pub enum Relation {
    /// The parent step (edge source).
    #[sea_orm(
        belongs_to = "super::workflow_step::Entity",
        from = "Column::FromStepId",
        to = "super::workflow_step::Column::Id"
    )]
    Parent,
    /// The child step (edge target).
    #[sea_orm(
        belongs_to = "super::workflow_step::Entity",
        from = "Column::ToStepId",
        to = "super::workflow_step::Column::Id"
    )]
    Child,
}

impl ActiveModelBehavior for ActiveModel {}
