//! Decisions on steps waiting for approval: approve (the step completes with
//! who approved it, and its children run) or reject (it fails for good).

use uuid::Uuid;

use super::tasks::check_text;
use super::{Error, Result, StepView, Tasker};
use crate::store::{self, Decision};

impl Tasker {
    /// Record `by`'s decision on the approval step `id`.
    pub async fn decide_step(&self, id: Uuid, decision: Decision) -> Result<StepView> {
        match &decision {
            Decision::Approve { comment, .. } => check_text("comment", comment)?,
            Decision::Reject { reason, .. } => {
                if reason.trim().is_empty() {
                    return Err(Error::bad_input("reason", "say why the step is rejected"));
                }
                check_text("reason", &Some(reason.clone()))?;
            }
        }
        let now = self.clock.now();
        let decision = &decision;
        let step = self
            .write(|mut tx| async move {
                let step = store::decide_approval(&mut tx, id, decision, now).await?;
                Ok((step, tx))
            })
            .await?;
        self.wake_groups();
        step.try_into()
    }
}
