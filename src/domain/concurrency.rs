//! Concurrency limits: at most `limit` runs of one group at once. A group is
//! a template's tasks (or one step of a template, across its tasks) that share
//! a key, the value of a CEL expression over the task context. This module
//! holds the rules: what a valid limit is, how a group is named, and what a
//! run arriving at a full group does; the store applies them under a lock on
//! the group, so replicas never over-admit.

use serde_json::Value;

use super::expr::{ExprError, Expression};
use super::template::{ConcurrencySpec, ConcurrencyStrategy};

/// Most runs a group may allow at once.
pub const MAX_LIMIT: u32 = 10_000;

/// The variables a key expression may use.
pub const KEY_VARIABLES: &[&str] = &["context"];

/// Problems with a limit written at `at` (`concurrency` of a template or of
/// `steps[i]`): a limit out of range, a key that is not a valid expression,
/// or a cancel strategy on a step (cancelling applies to whole tasks).
pub fn problems(spec: &ConcurrencySpec, at: &str, step_level: bool) -> Vec<(String, String)> {
    let mut found = keyed_limit_problems(spec.key.as_deref(), spec.limit, MAX_LIMIT, at);
    if step_level && spec.strategy != ConcurrencyStrategy::Queue {
        found.push((
            format!("{at}.strategy"),
            format!(
                "a step's concurrency can only queue; {} applies to tasks (set it on the template)",
                spec.strategy.as_str()
            ),
        ));
    }
    found
}

/// Problems of a keyed limit written at `at` (concurrency or rate): `limit`
/// outside 1..=`max`, or a `key` that is not a valid key expression.
pub fn keyed_limit_problems(key: Option<&str>, limit: u32, max: u32, at: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    if !(1..=max).contains(&limit) {
        found.push((
            format!("{at}.limit"),
            format!("must be between 1 and {max}, got {limit}"),
        ));
    }
    if let Some(key) = key
        && let Err(err) = Expression::parse(key, KEY_VARIABLES)
    {
        found.push((format!("{at}.key"), err.to_string()));
    }
    found
}

/// The group a run belongs to: `scope` (the template, or template and step)
/// and, with a key, `:` and the key's value for `context`.
pub fn group_key(scope: &str, spec: &ConcurrencySpec, context: &Value) -> Result<String, ExprError> {
    match &spec.key {
        None => Ok(scope.to_owned()),
        Some(source) => {
            let value = Expression::parse(source, KEY_VARIABLES)?.evaluate_key(&[("context", context)])?;
            Ok(format!("{scope}:{value}"))
        }
    }
}

/// What happens to the runs waiting in a group, oldest first, when `running`
/// of `limit` run now. Under `cancel_in_progress` the waiting runs that start
/// are the newest and those cancelled the oldest; otherwise the oldest start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admission {
    /// How many of the oldest waiting runs start.
    pub start: usize,
    /// How many waiting runs (after those that start) are cancelled.
    pub cancel_waiting: usize,
    /// How many of the oldest running runs are cancelled to make room.
    pub cancel_running: usize,
}

/// Decide for a group of `waiting` runs under `strategy`: `queue` starts what
/// fits and leaves the rest waiting; `cancel_newest` starts what fits and
/// cancels the rest; `cancel_in_progress` starts every waiting run (the newest
/// `limit` of them when more wait) and cancels as many of the oldest running
/// ones, then of the waiting ones, as it takes to stay within the limit.
pub fn admit(strategy: ConcurrencyStrategy, limit: u32, running: usize, waiting: usize) -> Admission {
    let limit = limit as usize;
    let free = limit.saturating_sub(running);
    match strategy {
        ConcurrencyStrategy::Queue => Admission {
            start: free.min(waiting),
            ..Admission::default()
        },
        ConcurrencyStrategy::CancelNewest => Admission {
            start: free.min(waiting),
            cancel_waiting: waiting.saturating_sub(free),
            ..Admission::default()
        },
        ConcurrencyStrategy::CancelInProgress => {
            // The newest `limit` waiting runs win; older waiting ones lose
            // before any running one does.
            let start = waiting.min(limit);
            let cancel_waiting = waiting - start;
            let cancel_running = (running + start).saturating_sub(limit);
            Admission {
                start,
                cancel_waiting,
                cancel_running,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(key: Option<&str>, limit: u32, strategy: ConcurrencyStrategy) -> ConcurrencySpec {
        ConcurrencySpec {
            key: key.map(str::to_owned),
            limit,
            strategy,
        }
    }

    #[test]
    fn limits_keys_and_step_strategies_are_checked() {
        let good = spec(Some("context.customer"), 2, ConcurrencyStrategy::Queue);
        assert!(problems(&good, "concurrency", false).is_empty());
        let zero = spec(None, 0, ConcurrencyStrategy::Queue);
        assert_eq!(problems(&zero, "concurrency", false)[0].0, "concurrency.limit");
        let bad_key = spec(Some("context.("), 1, ConcurrencyStrategy::Queue);
        assert_eq!(problems(&bad_key, "concurrency", false)[0].0, "concurrency.key");
        let unknown = spec(Some("order.id"), 1, ConcurrencyStrategy::Queue);
        assert!(problems(&unknown, "c", false)[0].1.contains("\"order\""));
        let cancel = spec(None, 1, ConcurrencyStrategy::CancelNewest);
        assert!(problems(&cancel, "steps[0].concurrency", false).is_empty());
        assert_eq!(
            problems(&cancel, "steps[0].concurrency", true)[0].0,
            "steps[0].concurrency.strategy"
        );
    }

    #[test]
    fn groups_are_named_by_scope_and_key_value() {
        let keyed = spec(Some("context.customer"), 2, ConcurrencyStrategy::Queue);
        assert_eq!(
            group_key("payments/charge", &keyed, &json!({"customer": "c1"})),
            Ok("payments/charge:c1".to_owned())
        );
        let global = spec(None, 2, ConcurrencyStrategy::Queue);
        assert_eq!(
            group_key("payments/charge", &global, &json!({})),
            Ok("payments/charge".to_owned())
        );
        assert!(group_key("p/c", &keyed, &json!({"other": 1})).is_err());
    }

    #[test]
    fn queue_starts_what_fits_and_keeps_the_rest_waiting() {
        let q = ConcurrencyStrategy::Queue;
        assert_eq!(admit(q, 2, 0, 5).start, 2);
        assert_eq!(
            admit(q, 2, 1, 5),
            Admission {
                start: 1,
                ..Default::default()
            }
        );
        assert_eq!(admit(q, 2, 2, 5), Admission::default());
        assert_eq!(
            admit(q, 2, 3, 1),
            Admission::default(),
            "over the limit after an operator retry"
        );
    }

    #[test]
    fn cancel_newest_cancels_what_does_not_fit() {
        let n = ConcurrencyStrategy::CancelNewest;
        assert_eq!(
            admit(n, 2, 1, 3),
            Admission {
                start: 1,
                cancel_waiting: 2,
                cancel_running: 0
            }
        );
        assert_eq!(admit(n, 2, 0, 1).start, 1);
    }

    #[test]
    fn cancel_in_progress_makes_room_for_the_newest() {
        let c = ConcurrencyStrategy::CancelInProgress;
        assert_eq!(
            admit(c, 2, 2, 1),
            Admission {
                start: 1,
                cancel_waiting: 0,
                cancel_running: 1
            }
        );
        assert_eq!(
            admit(c, 2, 2, 3),
            Admission {
                start: 2,
                cancel_waiting: 1,
                cancel_running: 2
            }
        );
        assert_eq!(
            admit(c, 3, 1, 1),
            Admission {
                start: 1,
                ..Default::default()
            }
        );
    }
}
