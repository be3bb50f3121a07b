//! Observed step durations of recent runs, for the graph analysis' estimates.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Order, OverStatement, Query, WindowStatement};
use sea_orm::{ConnectionTrait, Value};

use super::error::Result;
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{task, workflow_step};

/// One successful step of a recent run.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedStep {
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub template: String,
    /// Step name.
    pub step: String,
    /// Started-to-completed time of the step's successful attempt.
    pub duration_ms: f64,
}

/// The successful steps of the last `runs` completed tasks of each template
/// `(namespace, name)`, in one statement whatever the number of templates:
/// tasks are ranked newest first per template (ids are time-ordered).
pub async fn recent_step_durations(
    conn: &impl ConnectionTrait,
    templates: &[(String, String)],
    runs: u32,
) -> Result<Vec<ObservedStep>> {
    if templates.is_empty() || runs == 0 {
        return Ok(Vec::new());
    }
    let (recent, rank, s) = (Alias::new("recent"), Alias::new("run_rank"), Alias::new("s"));
    let wanted = templates.iter().map(|(ns, name)| {
        sea_orm::sea_query::ValueTuple::Two(Value::from(ns.as_str()), Value::from(name.as_str()))
    });
    let ranked = Query::select()
        .columns([task::Column::Id, task::Column::Namespace, task::Column::Name])
        .expr_window_as(
            Expr::cust("ROW_NUMBER()"),
            WindowStatement::partition_by(task::Column::Namespace)
                .partition_by(task::Column::Name)
                .order_by(task::Column::Id, Order::Desc)
                .take(),
            rank.clone(),
        )
        .from(task::Entity)
        .and_where(Expr::col(task::Column::Status).eq(TaskStatus::Complete.as_str()))
        .and_where(
            Expr::tuple([Expr::col(task::Column::Namespace), Expr::col(task::Column::Name)])
                .in_tuples(wanted),
        )
        .to_owned();
    let query = Query::select()
        .column((recent.clone(), task::Column::Namespace))
        .expr_as(
            Expr::col((recent.clone(), task::Column::Name)),
            Alias::new("template"),
        )
        .column((s.clone(), workflow_step::Column::Name))
        .column((s.clone(), workflow_step::Column::StartedAt))
        .column((s.clone(), workflow_step::Column::CompletedAt))
        .from_subquery(ranked, recent.clone())
        .join_as(
            JoinType::InnerJoin,
            workflow_step::Entity,
            s.clone(),
            Expr::col((s.clone(), workflow_step::Column::TaskId)).equals((recent.clone(), task::Column::Id)),
        )
        .and_where(Expr::col((recent, rank)).lte(i64::from(runs)))
        .and_where(Expr::col((s, workflow_step::Column::Status)).eq(StepStatus::Complete.as_str()))
        .to_owned();
    let mut found = Vec::new();
    for row in conn.query_all(&query).await? {
        let started: Option<DateTime<Utc>> = row.try_get("", "started_at")?;
        let completed: Option<DateTime<Utc>> = row.try_get("", "completed_at")?;
        let Some(micros) = started
            .zip(completed)
            .and_then(|(start, end)| (end - start).num_microseconds())
        else {
            continue;
        };
        found.push(ObservedStep {
            namespace: row.try_get("", "namespace")?,
            template: row.try_get("", "template")?,
            step: row.try_get("", "name")?,
            duration_ms: micros as f64 / 1000.0,
        });
    }
    Ok(found)
}
