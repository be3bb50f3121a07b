use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "schedule")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The template's namespace, name and version (none: the highest).
    pub namespace: String,
    pub name: String,
    pub version: Option<String>,
    pub cron: String,
    pub timezone: String,
    pub context: Json,
    pub overlap: String,
    pub catch_up: String,
    pub paused: bool,
    /// For schedules declared in a template: the template and schedule name.
    pub source: Option<String>,
    /// The first fire not handled yet.
    pub next_fire_at: Option<DateTimeUtc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    /// Fires that created a task, and fires missed (not made up for).
    pub fired: i64,
    pub missed: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
