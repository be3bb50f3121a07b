//! `DependencyGraph`: the step graph of a template or a task.

use std::collections::HashMap;

use async_graphql::{Context, SimpleObject};
use chrono::{DateTime, Utc};

use super::enums::StepStatusKind;
use crate::domain::StepStatus;
use crate::domain::dag::Dag;
use crate::domain::template::{TaskTemplate, dag_of};
use crate::graphql::error::GqlResult;
use crate::graphql::groups::TaskGroup;

/// A step graph: each step with its parents, children, depth and (for tasks) status.
#[derive(SimpleObject)]
pub struct DependencyGraph {
    /// When the graph was read.
    pub analysis_timestamp: DateTime<Utc>,
    /// Every step, in template order.
    pub step_dependencies: Vec<StepDependency>,
}

/// One step's place in the graph.
#[derive(SimpleObject)]
pub struct StepDependency {
    /// The step.
    pub step_name: String,
    /// Its parents.
    pub depends_on: Vec<String>,
    /// Its children.
    pub dependents: Vec<String>,
    /// Longest distance from a root (roots are 0).
    pub depth: i32,
    /// The step's status (null for templates).
    pub status: Option<StepStatusKind>,
}

impl DependencyGraph {
    fn from_dag(dag: &Dag, statuses: Option<&[StepStatus]>) -> Self {
        let depths = dag.depths().unwrap_or_else(|| vec![0; dag.len()]);
        let names = |ids: &[usize]| ids.iter().map(|&i| dag.name(i).to_owned()).collect();
        let step_dependencies = (0..dag.len())
            .map(|i| StepDependency {
                step_name: dag.name(i).to_owned(),
                depends_on: names(dag.parents(i)),
                dependents: names(dag.children(i)),
                depth: i32::try_from(depths[i]).unwrap_or(i32::MAX),
                status: statuses.and_then(|s| s.get(i)).map(|s| (*s).into()),
            })
            .collect();
        Self {
            analysis_timestamp: Utc::now(),
            step_dependencies,
        }
    }

    /// The graph of a template.
    pub fn of_template(template: &TaskTemplate) -> Self {
        Self::from_dag(&dag_of(template).0, None)
    }

    /// The graph of a task, with each step's status.
    pub async fn of_task(ctx: &Context<'_>, group: &TaskGroup, task_id: uuid::Uuid) -> GqlResult<Self> {
        let (steps, _) = group.steps(ctx, task_id).await?;
        let edges = group.edges(ctx, task_id).await?;
        let name_of: HashMap<_, _> = steps.iter().map(|s| (s.id, s.name.as_str())).collect();
        let named_edges: Vec<(&str, &str)> = edges
            .iter()
            .filter_map(|(from, to)| Some((*name_of.get(from)?, *name_of.get(to)?)))
            .collect();
        let (dag, _) = Dag::new(steps.iter().map(|s| s.name.clone()).collect(), named_edges);
        let statuses: Vec<StepStatus> = steps.iter().map(|s| s.status).collect();
        Ok(Self::from_dag(&dag, Some(&statuses)))
    }
}
