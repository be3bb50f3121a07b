//! Sibling groups: the objects of one list share a group, and each relation
//! (steps, transitions, edges, parents, children, results, owning task) is
//! fetched once for the whole group, through one `load_many` of the request's
//! DataLoader. DataLoader batching alone is time-based: siblings resolved over
//! several scheduler passes would split into several batches. A group makes
//! every list level cost exactly one statement per relation, whatever the
//! timing, so nested queries cost the same for 10 objects as for 100.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_graphql::Context;
use serde_json::Value;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::error::GqlResult;
use super::types::{loaders, tasker};
use crate::domain::template::TaskTemplate;
use crate::service::{ObservedByTemplate, StepView, TaskView, TransitionView, template_key};

type Map<V> = Arc<HashMap<Uuid, V>>;

/// Templates (or tasks of templates) listed together: the observed step
/// durations of all of them are read once, for every graph of the group.
pub struct TemplateGroup {
    keys: Vec<(String, String)>,
    observed: OnceCell<ObservedByTemplate>,
}

impl TemplateGroup {
    /// A group of these templates.
    pub fn of<'a>(templates: impl IntoIterator<Item = &'a TaskTemplate>) -> Arc<Self> {
        Self::of_keys(templates.into_iter().map(template_key))
    }

    fn of_keys(keys: impl IntoIterator<Item = (String, String)>) -> Arc<Self> {
        let unique: BTreeSet<(String, String)> = keys.into_iter().collect();
        Arc::new(Self {
            keys: unique.into_iter().collect(),
            observed: OnceCell::new(),
        })
    }

    /// The observed p50 step durations of one template of the group.
    pub async fn observed(
        &self,
        ctx: &Context<'_>,
        namespace: &str,
        name: &str,
    ) -> GqlResult<Arc<HashMap<String, f64>>> {
        let all = self
            .observed
            .get_or_try_init(|| async { GqlResult::Ok(tasker(ctx)?.observed_durations(&self.keys).await?) })
            .await?;
        Ok(all
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
            .unwrap_or_default())
    }
}

/// Tasks listed together.
pub struct TaskGroup {
    ids: Vec<Uuid>,
    templates: Arc<TemplateGroup>,
    steps: OnceCell<(Map<Vec<StepView>>, Arc<StepGroup>)>,
    transitions: OnceCell<Map<Vec<TransitionView>>>,
    edges: OnceCell<Map<Vec<(Uuid, Uuid)>>>,
}

/// Steps listed together.
pub struct StepGroup {
    ids: Vec<Uuid>,
    task_ids: Vec<Uuid>,
    neighbours: OnceCell<Neighbourhood>,
    transitions: OnceCell<Map<Vec<TransitionView>>>,
    results: OnceCell<Map<Value>>,
    tasks: OnceCell<(Map<TaskView>, Arc<TaskGroup>)>,
}

/// Load a relation for the whole group once, then pick one member's value.
async fn member<V, F, Fut>(cell: &OnceCell<Map<V>>, id: Uuid, load: F) -> GqlResult<Option<V>>
where
    V: Clone,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = GqlResult<HashMap<Uuid, V>>>,
{
    let all = cell
        .get_or_try_init(|| async { Ok::<_, super::error::GqlError>(Arc::new(load().await?)) })
        .await?;
    Ok(all.get(&id).cloned())
}

impl TaskGroup {
    /// A group of these tasks.
    pub fn of(tasks: &[TaskView]) -> Arc<Self> {
        Arc::new(Self {
            ids: tasks.iter().map(|t| t.id).collect(),
            templates: TemplateGroup::of_keys(tasks.iter().map(|t| (t.namespace.clone(), t.name.clone()))),
            steps: OnceCell::new(),
            transitions: OnceCell::new(),
            edges: OnceCell::new(),
        })
    }

    /// A task's steps, and the group all steps of this group's tasks share.
    pub async fn steps(&self, ctx: &Context<'_>, task: Uuid) -> GqlResult<(Vec<StepView>, Arc<StepGroup>)> {
        let (by_task, group) = self
            .steps
            .get_or_try_init(|| async {
                let found = loaders(ctx)?
                    .steps_of_task
                    .load_many(self.ids.iter().copied())
                    .await?;
                let all: Vec<StepView> = self
                    .ids
                    .iter()
                    .flat_map(|id| found.get(id).cloned().unwrap_or_default())
                    .collect();
                GqlResult::Ok((Arc::new(found), StepGroup::of(&all)))
            })
            .await?;
        Ok((by_task.get(&task).cloned().unwrap_or_default(), Arc::clone(group)))
    }

    /// A task's transitions.
    pub async fn transitions(&self, ctx: &Context<'_>, task: Uuid) -> GqlResult<Vec<TransitionView>> {
        let ids = self.ids.iter().copied();
        let found = member(&self.transitions, task, || async {
            Ok(loaders(ctx)?.task_transitions.load_many(ids).await?)
        });
        Ok(found.await?.unwrap_or_default())
    }

    /// The templates of the group's tasks.
    pub fn templates(&self) -> &TemplateGroup {
        &self.templates
    }

    /// A task's `(parent, child)` edges.
    pub async fn edges(&self, ctx: &Context<'_>, task: Uuid) -> GqlResult<Vec<(Uuid, Uuid)>> {
        let ids = self.ids.iter().copied();
        let found = member(&self.edges, task, || async {
            Ok(loaders(ctx)?.task_edges.load_many(ids).await?)
        });
        Ok(found.await?.unwrap_or_default())
    }
}

/// The parents and children of a group's steps, each side with its own group.
struct Neighbourhood {
    parents: Map<Vec<StepView>>,
    parent_group: Arc<StepGroup>,
    children: Map<Vec<StepView>>,
    child_group: Arc<StepGroup>,
}

impl StepGroup {
    /// A group of these steps.
    pub fn of(steps: &[StepView]) -> Arc<Self> {
        let task_ids: BTreeSet<Uuid> = steps.iter().map(|s| s.task_id).collect();
        Arc::new(Self {
            ids: steps.iter().map(|s| s.id).collect(),
            task_ids: task_ids.into_iter().collect(),
            neighbours: OnceCell::new(),
            transitions: OnceCell::new(),
            results: OnceCell::new(),
            tasks: OnceCell::new(),
        })
    }

    /// Both directions at once: two edge loads and one load of every
    /// neighbouring step, whichever of dependsOn / dependents asked first.
    async fn neighbours(&self, ctx: &Context<'_>) -> GqlResult<&Neighbourhood> {
        self.neighbours
            .get_or_try_init(|| async {
                let loaders = loaders(ctx)?;
                let ids = || self.ids.iter().copied();
                let (parent_links, child_links) = futures::try_join!(
                    loaders.parents.load_many(ids()),
                    loaders.children.load_many(ids())
                )?;
                let wanted: BTreeSet<Uuid> = parent_links
                    .values()
                    .chain(child_links.values())
                    .flatten()
                    .copied()
                    .collect();
                let steps = loaders.step.load_many(wanted.iter().copied()).await?;
                let resolve = |links: HashMap<Uuid, Vec<Uuid>>| -> (Map<Vec<StepView>>, Arc<StepGroup>) {
                    let by_step: HashMap<Uuid, Vec<StepView>> = links
                        .into_iter()
                        .map(|(id, others)| {
                            (id, others.iter().filter_map(|o| steps.get(o).cloned()).collect())
                        })
                        .collect();
                    let mut members: Vec<StepView> = by_step.values().flatten().cloned().collect();
                    members.sort_by_key(|s| s.id);
                    members.dedup_by_key(|s| s.id);
                    (Arc::new(by_step), StepGroup::of(&members))
                };
                let (parents, parent_group) = resolve(parent_links);
                let (children, child_group) = resolve(child_links);
                GqlResult::Ok(Neighbourhood {
                    parents,
                    parent_group,
                    children,
                    child_group,
                })
            })
            .await
    }

    /// A step's parents, and the group all parents of this group share.
    pub async fn parents(&self, ctx: &Context<'_>, step: Uuid) -> GqlResult<(Vec<StepView>, Arc<StepGroup>)> {
        let n = self.neighbours(ctx).await?;
        Ok((
            n.parents.get(&step).cloned().unwrap_or_default(),
            Arc::clone(&n.parent_group),
        ))
    }

    /// A step's children, and the group all children of this group share.
    pub async fn children(
        &self,
        ctx: &Context<'_>,
        step: Uuid,
    ) -> GqlResult<(Vec<StepView>, Arc<StepGroup>)> {
        let n = self.neighbours(ctx).await?;
        Ok((
            n.children.get(&step).cloned().unwrap_or_default(),
            Arc::clone(&n.child_group),
        ))
    }

    /// A step's transitions.
    pub async fn transitions(&self, ctx: &Context<'_>, step: Uuid) -> GqlResult<Vec<TransitionView>> {
        let ids = self.ids.iter().copied();
        let found = member(&self.transitions, step, || async {
            Ok(loaders(ctx)?.step_transitions.load_many(ids).await?)
        });
        Ok(found.await?.unwrap_or_default())
    }

    /// A step's results.
    pub async fn results(&self, ctx: &Context<'_>, step: Uuid) -> GqlResult<Option<Value>> {
        let ids = self.ids.iter().copied();
        member(&self.results, step, || async {
            Ok(loaders(ctx)?.step_results.load_many(ids).await?)
        })
        .await
    }

    /// A step's task, and the group the tasks of this group share.
    pub async fn task(&self, ctx: &Context<'_>, task: Uuid) -> GqlResult<Option<(TaskView, Arc<TaskGroup>)>> {
        let (tasks, group) = self
            .tasks
            .get_or_try_init(|| async {
                let found = loaders(ctx)?
                    .task
                    .load_many(self.task_ids.iter().copied())
                    .await?;
                let all: Vec<TaskView> = found.values().cloned().collect();
                GqlResult::Ok((Arc::new(found), TaskGroup::of(&all)))
            })
            .await?;
        Ok(tasks.get(&task).cloned().map(|t| (t, Arc::clone(group))))
    }
}
