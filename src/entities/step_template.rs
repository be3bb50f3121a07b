use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "step_template")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub task_template_id: Uuid,
    pub position: i32,
    pub name: String,
    pub handler: String,
    pub external: bool,
    pub depends_on: Json,
    pub retryable: bool,
    pub retry: Json,
    pub timeout_ms: Option<i64>,
    pub skippable: bool,
    pub config: Json,
    pub description: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
