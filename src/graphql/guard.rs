//! Authorization inside the schema. The HTTP layer puts the caller's
//! [`Access`] into every request and websocket connection; a schema executed
//! without one (embedded in-process, as the tests do) trusts its embedder.

use async_graphql::Context;

use super::error::{ErrorCode, GqlResult};
use crate::auth::{Access, Denied, Needed, Scope};

impl From<Denied> for super::error::GqlError {
    fn from(denied: Denied) -> Self {
        let code = match denied {
            Denied::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Denied::Forbidden(_) => ErrorCode::Forbidden,
        };
        Self(code.error(denied.to_string()))
    }
}

fn access<'a>(ctx: &Context<'a>) -> Option<&'a Access> {
    ctx.data_opt::<Access>()
}

/// Fail unless the caller may do `needed` in `namespace`.
pub fn require(ctx: &Context<'_>, needed: Needed, namespace: Option<&str>) -> GqlResult<()> {
    match access(ctx) {
        Some(access) => Ok(access.require(needed, namespace)?),
        None => Ok(()),
    }
}

/// Fail unless the caller may do `needed` somewhere (lists then filter).
pub fn require_somewhere(ctx: &Context<'_>, needed: Needed) -> GqlResult<Scope> {
    match access(ctx) {
        Some(access) => Ok(access.scope_somewhere(needed)?),
        None => Ok(Scope::All),
    }
}

/// Fail unless the caller may do `needed` on task `id` (its namespace). An
/// unknown task passes: the operation itself then reports NOT_FOUND.
pub async fn require_on_task(ctx: &Context<'_>, needed: Needed, id: uuid::Uuid) -> GqlResult<()> {
    if require_somewhere(ctx, needed)? == Scope::All {
        return Ok(());
    }
    match super::types::loaders(ctx)?.task.load_one(id).await? {
        Some(task) => require(ctx, needed, Some(&task.namespace)),
        None => Ok(()),
    }
}

/// Fail unless the caller may do `needed` on step `id` (its task's namespace).
pub async fn require_on_step(ctx: &Context<'_>, needed: Needed, id: uuid::Uuid) -> GqlResult<()> {
    if require_somewhere(ctx, needed)? == Scope::All {
        return Ok(());
    }
    match super::types::loaders(ctx)?.step.load_one(id).await? {
        Some(step) => require_on_task(ctx, needed, step.task_id).await,
        None => Ok(()),
    }
}
