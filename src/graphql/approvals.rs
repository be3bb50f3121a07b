//! Decisions on approval steps: `approveStep` and `rejectStep`. The decider
//! is the caller's token subject or API key name (`anonymous` with auth off),
//! recorded in the step's results and its audit.

use async_graphql::{Context, ID, Object};

use super::error::GqlResult;
use super::guard::require_on_step;
use super::types::{Step, parse_id, tasker};
use crate::auth::Access;
use crate::auth::permission::STEP_APPROVE;
use crate::store::Decision;

/// Who is deciding.
fn decider(ctx: &Context<'_>) -> String {
    ctx.data_opt::<Access>()
        .and_then(Access::subject)
        .unwrap_or("anonymous")
        .to_owned()
}

/// Approval mutations.
#[derive(Default)]
pub struct ApprovalMutation;

#[Object]
impl ApprovalMutation {
    /// Approve a step WAITING for approval: it completes with
    /// `{approved: true, by, comment}` and its children run.
    async fn approve_step(&self, ctx: &Context<'_>, id: ID, comment: Option<String>) -> GqlResult<Step> {
        let id = parse_id(&id, "id")?;
        require_on_step(ctx, STEP_APPROVE, id).await?;
        let decision = Decision::Approve {
            by: decider(ctx),
            comment,
        };
        Ok(Step::one(tasker(ctx)?.decide_step(id, decision).await?))
    }

    /// Reject a step WAITING for approval: it fails for good (ERROR, kind
    /// `rejected`), and so does its task unless an operator retries it.
    async fn reject_step(&self, ctx: &Context<'_>, id: ID, reason: String) -> GqlResult<Step> {
        let id = parse_id(&id, "id")?;
        require_on_step(ctx, STEP_APPROVE, id).await?;
        let decision = Decision::Reject {
            by: decider(ctx),
            reason,
        };
        Ok(Step::one(tasker(ctx)?.decide_step(id, decision).await?))
    }
}
