use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "task")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub task_template_id: Uuid,
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub status: String,
    /// Status before the last transition (lets one UPDATE report where it came from).
    pub previous_status: Option<String>,
    /// Number of transitions so far; the next transition row gets this plus one.
    pub transition_seq: i32,
    pub context: Json,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    pub reason: Option<String>,
    pub tags: Json,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<String>,
    /// W3C `traceparent` of the span that created the task.
    pub trace_parent: Option<String>,
    /// 1 (least urgent) to 4 (most urgent).
    pub priority: i32,
    /// Earliest time a step of the task may be claimed (delayed start).
    pub run_at: Option<DateTimeUtc>,
    /// Concurrency group of the template's `concurrency`, if it has one.
    pub flow_key: Option<String>,
    /// Tasks of the group that may run at once.
    pub flow_limit: Option<i32>,
    /// What a task that finds its group full does (`queue`, …).
    pub flow_strategy: Option<String>,
    /// Waiting for its group's turn since (or, with a later start, from) then.
    pub queued_at: Option<DateTimeUtc>,
    /// The task whose step started this one, for a child task.
    pub parent_task_id: Option<Uuid>,
    /// That step.
    pub parent_step_id: Option<Uuid>,
    /// The attempt of that step that started it.
    pub parent_attempt: Option<i32>,
    /// The first task of its tree (none: it is a root).
    pub root_task_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
