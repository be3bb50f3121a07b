//! Authorization of REST routes on one task or step: the permission in the
//! namespace of the task concerned. As on GraphQL, an unknown id passes
//! here and the route answers 404.

use uuid::Uuid;

use super::problem::Answer;
use crate::auth::{Access, Needed, Scope};
use crate::service::Tasker;

/// Fail unless the caller may do `needed` on task `id`.
pub async fn on_task(tasker: &Tasker, access: &Access, needed: Needed, id: Uuid) -> Answer<()> {
    if access.scope_somewhere(needed)? == Scope::All {
        return Ok(());
    }
    if let Some(task) = tasker.task(id).await? {
        access.require(needed, Some(&task.namespace))?;
    }
    Ok(())
}

/// Fail unless the caller may do `needed` on step `id` (its task's namespace).
pub async fn on_step(tasker: &Tasker, access: &Access, needed: Needed, id: Uuid) -> Answer<()> {
    if access.scope_somewhere(needed)? == Scope::All {
        return Ok(());
    }
    if let Some(step) = tasker.step(id).await? {
        on_task(tasker, access, needed, step.task_id).await?;
    }
    Ok(())
}
