use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_step")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub task_id: Uuid,
    pub position: i32,
    pub name: String,
    pub handler: String,
    pub external: bool,
    pub status: String,
    /// Status before the last transition (lets one UPDATE report where it came from).
    pub previous_status: Option<String>,
    /// Number of transitions so far; the next transition row gets this plus one.
    pub transition_seq: i32,
    pub attempts: i32,
    /// The attempt number up to which the step may run (grows on operator retry).
    pub attempt_limit: i32,
    /// The resolved `RetryPolicy` as JSON.
    pub retry_policy: Json,
    pub timeout_ms: Option<i64>,
    pub skippable: bool,
    pub config: Json,
    /// Set while the step is claimable (ENQUEUED, or WAITING_FOR_RETRY until then).
    pub ready_at: Option<DateTimeUtc>,
    /// The task's priority, copied so that claims can order by it.
    pub priority: i32,
    /// Claim order while claimable: `ready_at` minus priority × ageing, in
    /// microseconds; lower first.
    pub claim_rank: Option<i64>,
    /// Concurrency group of the step's `concurrency`, if it has one.
    pub flow_key: Option<String>,
    /// Steps of the group that may run at once.
    pub flow_limit: Option<i32>,
    /// Set while the step waits at its group's gate, claimable through it from then.
    pub gate_at: Option<DateTimeUtc>,
    /// The rate-limit keys (`RateKey`s as JSON) its starts count against.
    pub rate_limits: Option<Json>,
    /// Its `StepProgram` (kind and condition) as JSON; none for a plain handler step.
    pub program: Option<Json>,
    /// While WAITING: when the wait ends (a sleep's end, an approval's timeout).
    pub wake_at: Option<DateTimeUtc>,
    /// While WAITING for an event: its name.
    pub wait_event: Option<String>,
    /// For an instance of a map: the map step.
    pub map_parent: Option<Uuid>,
    /// Its position in the map's list.
    pub map_index: Option<i32>,
    /// Its item.
    pub map_item: Option<Json>,
    pub lease_owner: Option<String>,
    pub lease_token: Option<Uuid>,
    pub lease_expires_at: Option<DateTimeUtc>,
    /// The latest `StepFailure` as JSON.
    pub last_error: Option<Json>,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
