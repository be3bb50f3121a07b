//! `DependencyGraph`: the analysed step graph of a template or a task.

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::enums::StepStatusKind;
use super::tasker;
use crate::domain::analysis::{self, GraphAnalysis, Name};
use crate::graphql::error::GqlResult;
use crate::graphql::groups::TaskGroup;
use crate::service::TaskView;

/// How bad a workflow's (or a bottleneck's) situation is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::analysis::Criticality")]
pub enum CriticalityLevel {
    /// Nothing serious.
    Low,
    /// Worth a look.
    Medium,
    /// Work is held up.
    High,
    /// The workflow cannot finish without intervention, or much waits on trouble.
    Critical,
}

/// Where a step's duration estimate comes from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "EstimateSource", remote = "crate::domain::analysis::EstimateSource")]
pub enum EstimateSourceKind {
    /// The step finished: its actual duration.
    Actual,
    /// The p50 of the template's recent successful runs.
    Observed,
    /// The configured estimate for the step's handler.
    Configured,
    /// The configured default estimate.
    Default,
}

/// A step graph with its analysis: levels, critical path and, for tasks,
/// the steps holding the workflow up.
pub struct DependencyGraph(pub GraphAnalysis);

impl DependencyGraph {
    /// The analysis of a task (its steps and edges load with its group).
    pub async fn of_task(ctx: &Context<'_>, group: &TaskGroup, task: &TaskView) -> GqlResult<Self> {
        let (steps, _) = group.steps(ctx, task.id).await?;
        let edges = group.edges(ctx, task.id).await?;
        let observed = group
            .templates()
            .observed(ctx, &task.namespace, &task.name)
            .await?;
        Ok(Self(tasker(ctx)?.task_graph(&steps, &edges, &observed)?))
    }
}

/// The graph and what it says about the workflow.
#[Object]
impl DependencyGraph {
    /// When the analysis was computed.
    async fn analysis_timestamp(&self) -> DateTime<Utc> {
        self.0.analysis_timestamp
    }

    /// Sum of the bottlenecks' scores (0 for templates and healthy tasks).
    async fn impact_score(&self) -> f64 {
        self.0.impact_score
    }

    /// The impact score's level (thresholds in `dependency_graph.severity_thresholds`).
    async fn criticality_level(&self) -> CriticalityLevel {
        self.0.criticality.into()
    }

    /// The chain of steps that decides how long the workflow takes.
    async fn critical_path(&self) -> CriticalPath {
        let c = &self.0.critical_path;
        CriticalPath {
            steps: c.steps.clone(),
            estimated_duration_ms: c.estimated_duration_ms,
            remaining_duration_ms: c.remaining_duration_ms,
        }
    }

    /// Steps holding the workflow up (failed, retrying, or running long), worst first.
    async fn bottleneck_analysis(&self) -> Vec<Bottleneck> {
        self.0.bottlenecks.iter().map(Bottleneck::from).collect()
    }

    /// Every step with its neighbours, depth and (tasks) status.
    async fn step_dependencies(&self) -> Vec<StepDependency> {
        self.0
            .steps
            .iter()
            .map(|s| StepDependency {
                step_name: s.name.clone(),
                depends_on: s.depends_on.clone(),
                dependents: s.dependents.clone(),
                depth: s.depth,
                status: s.status.map(Into::into),
                estimated_duration_ms: s.estimated_duration_ms,
                estimate_source: s.estimate_source.into(),
            })
            .collect()
    }

    /// Steps by depth: each level's steps can run side by side.
    async fn levels(&self) -> Vec<GraphLevel> {
        self.0
            .levels
            .iter()
            .map(|l| GraphLevel {
                depth: l.depth,
                width: l.steps.len(),
                steps: l.steps.clone(),
            })
            .collect()
    }

    /// The widest level's size.
    async fn max_parallelism(&self) -> usize {
        self.0.max_parallelism
    }

    /// Steps without parents.
    async fn roots(&self) -> &[Name] {
        &self.0.roots
    }

    /// Steps without children.
    async fn leaves(&self) -> &[Name] {
        &self.0.leaves
    }

    /// Every dependency edge.
    async fn edges(&self) -> Vec<GraphEdge> {
        self.0
            .edges
            .iter()
            .map(|(from, to)| GraphEdge {
                from: from.clone(),
                to: to.clone(),
            })
            .collect()
    }
}

/// The heaviest chain from a root to a leaf.
#[derive(SimpleObject)]
pub struct CriticalPath {
    /// Step names, root to leaf.
    pub steps: Vec<Name>,
    /// Total duration along the chain (finished steps: actual; others: estimates).
    pub estimated_duration_ms: f64,
    /// What remains of it; 0 when every step on it has finished.
    pub remaining_duration_ms: f64,
}

/// A step holding the workflow up.
#[derive(SimpleObject)]
pub struct Bottleneck {
    /// The step.
    pub step_name: Name,
    /// Its level.
    pub severity: CriticalityLevel,
    /// Its impact score.
    pub score: f64,
    /// Downstream steps that have not started because of it.
    pub blocked_downstream: usize,
    /// Their names in declaration order, at most the first 100.
    pub blocked_steps: Vec<Name>,
    /// What is wrong and what it holds up, in words.
    pub reason: String,
}

impl From<&analysis::Bottleneck> for Bottleneck {
    fn from(b: &analysis::Bottleneck) -> Self {
        Self {
            step_name: b.step_name.clone(),
            severity: b.severity.into(),
            score: b.score,
            blocked_downstream: b.blocked_downstream,
            blocked_steps: b.blocked_steps.clone(),
            reason: b.reason.clone(),
        }
    }
}

/// One step's place in the graph.
#[derive(SimpleObject)]
pub struct StepDependency {
    /// The step.
    pub step_name: Name,
    /// Its parents.
    pub depends_on: Vec<Name>,
    /// Its children.
    pub dependents: Vec<Name>,
    /// Longest distance from a root (roots are 0).
    pub depth: usize,
    /// Its status (null for templates).
    pub status: Option<StepStatusKind>,
    /// The duration used for the critical path.
    pub estimated_duration_ms: f64,
    /// Where that duration comes from.
    pub estimate_source: EstimateSourceKind,
}

/// Steps at one depth.
#[derive(SimpleObject)]
pub struct GraphLevel {
    /// Depth (0 for roots).
    pub depth: usize,
    /// How many steps can run side by side here.
    pub width: usize,
    /// The steps.
    pub steps: Vec<Name>,
}

/// A dependency: `to` runs after `from`.
#[derive(SimpleObject)]
pub struct GraphEdge {
    /// The parent.
    pub from: Name,
    /// The child.
    pub to: Name,
}
