//! Task priorities and the claim order they give: more urgent first, then
//! oldest, with ageing so that low-priority work is never starved.
//!
//! Every claimable step carries a rank, a number of microseconds: the time it
//! became claimable minus `priority × ageing`. Claims take the lowest rank
//! first. Two steps of one priority are therefore served oldest first, and a
//! step waiting `ageing` longer than another counts as one level more urgent:
//! a priority-1 step waits at most `3 × ageing` behind newer priority-4 work.
//! One ordered column keeps the claim a scan of one index, however deep the
//! backlog.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How urgent a task is: 1 (least) to 4 (most); 2 unless said otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Priority(u8);

impl Priority {
    /// The least urgent.
    pub const LOWEST: Priority = Priority(1);
    /// The default.
    pub const NORMAL: Priority = Priority(2);
    /// The most urgent.
    pub const HIGHEST: Priority = Priority(4);

    /// The priority `value`, when it is between 1 and 4.
    pub fn new(value: i64) -> Result<Self, PriorityError> {
        match u8::try_from(value) {
            Ok(v @ 1..=4) => Ok(Priority(v)),
            _ => Err(PriorityError { value }),
        }
    }

    /// 1 to 4.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::NORMAL
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<i64> for Priority {
    type Error = PriorityError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Priority::new(value)
    }
}

impl From<Priority> for i64 {
    fn from(p: Priority) -> i64 {
        i64::from(p.0)
    }
}

/// A priority outside 1–4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("priority must be between 1 (least urgent) and 4 (most urgent), not {value}")]
pub struct PriorityError {
    /// What was given.
    pub value: i64,
}

/// The default ageing: a minute of waiting is worth one priority level.
pub const DEFAULT_AGEING: Duration = Duration::from_secs(60);

/// The claim rank of a step of `priority` claimable from `ready_at`: lower
/// ranks are claimed first.
pub fn claim_rank(ready_at: DateTime<Utc>, priority: Priority, ageing: Duration) -> i64 {
    ready_at
        .timestamp_micros()
        .saturating_sub(i64::from(priority.get()).saturating_mul(ageing_micros(ageing)))
}

/// `ageing` in microseconds, as the rank arithmetic in SQL uses it.
pub fn ageing_micros(ageing: Duration) -> i64 {
    i64::try_from(ageing.as_micros()).unwrap_or(i64::MAX / 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("time")
    }

    fn p(v: i64) -> Priority {
        Priority::new(v).expect("valid")
    }

    #[test]
    fn only_one_to_four_are_priorities() {
        for v in 1..=4 {
            assert_eq!(i64::from(p(v)), v);
        }
        for v in [0, 5, -1, 256, i64::MAX] {
            let err = Priority::new(v).expect_err("out of range");
            assert!(err.to_string().contains(&v.to_string()), "{err}");
        }
        assert_eq!(Priority::default(), p(2));
        assert_eq!(serde_json::from_str::<Priority>("3").expect("json"), p(3));
        assert!(serde_json::from_str::<Priority>("9").is_err());
    }

    #[test]
    fn more_urgent_goes_first_then_older() {
        let ageing = Duration::from_secs(60);
        let now = at(0);
        assert!(claim_rank(now, p(4), ageing) < claim_rank(now, p(3), ageing));
        assert!(claim_rank(now, p(2), ageing) < claim_rank(now, p(1), ageing));
        assert!(claim_rank(at(-1), p(2), ageing) < claim_rank(now, p(2), ageing));
        // Newer urgent work passes older low-priority work...
        assert!(claim_rank(now, p(4), ageing) < claim_rank(at(-170), p(1), ageing));
    }

    #[test]
    fn low_priority_work_waits_at_most_its_levels_times_the_ageing() {
        let ageing = Duration::from_secs(60);
        let now = at(0);
        // ...but not once it has waited more than three levels' worth.
        assert!(claim_rank(at(-181), p(1), ageing) < claim_rank(now, p(4), ageing));
        assert!(claim_rank(at(-61), p(3), ageing) < claim_rank(now, p(4), ageing));
        // Without ageing, priority never matters against age.
        let none = Duration::ZERO;
        assert!(claim_rank(at(-1), p(1), none) < claim_rank(now, p(4), none));
    }

    #[test]
    fn extreme_ageing_saturates_instead_of_overflowing() {
        let rank = claim_rank(at(0), p(4), Duration::MAX);
        assert!(rank < claim_rank(at(0), p(1), Duration::MAX));
    }
}
