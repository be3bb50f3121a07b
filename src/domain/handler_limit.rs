//! Concurrency limits on one handler, whatever template uses it: at most so
//! many of its steps run at once across every replica sharing the database,
//! and at most so many on any one claimer (an engine replica or a worker).
//! A handler with either limit has its steps wait at a gate; this module
//! decides which of the steps a gate pass picked may start.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Highest handler concurrency limit.
pub const MAX_CONCURRENCY: u32 = 100_000;

/// The concurrency limits of one handler (none: unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerConcurrency {
    /// Most of its steps running at once on all replicas together.
    pub cluster: Option<u32>,
    /// Most of its steps running at once under one claimer.
    pub per_replica: Option<u32>,
}

impl HandlerConcurrency {
    /// Whether either limit is set.
    pub fn is_limited(&self) -> bool {
        self.cluster.is_some() || self.per_replica.is_some()
    }

    /// Problems of the limits written under `at` (`handlers.<name>`).
    pub fn problems(&self, at: &str) -> Vec<(String, String)> {
        [
            ("max_concurrency", self.cluster),
            ("max_concurrency_per_replica", self.per_replica),
        ]
        .into_iter()
        .filter_map(|(key, limit)| {
            let limit = limit?;
            (!(1..=MAX_CONCURRENCY).contains(&limit)).then(|| {
                (
                    format!("{at}.{key}"),
                    format!("must be between 1 and {MAX_CONCURRENCY}, got {limit}"),
                )
            })
        })
        .collect()
    }
}

/// Steps of one handler running now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Running {
    /// On every replica.
    pub everywhere: usize,
    /// Under the claimer asking.
    pub here: usize,
}

/// Whether each waiting run (named by its handler, in the order they should
/// start) may start now, given what runs already: a run starts while its
/// handler is under both of its limits, and then counts against them.
pub fn admit_handlers(
    runs: &[&str],
    limits: &HashMap<String, HandlerConcurrency>,
    running: &HashMap<String, Running>,
) -> Vec<bool> {
    let mut started: HashMap<&str, usize> = HashMap::new();
    runs.iter()
        .map(|handler| {
            let Some(limit) = limits.get(*handler).filter(|l| l.is_limited()) else {
                return true;
            };
            let now = running.get(*handler).copied().unwrap_or_default();
            let extra = started.get(handler).copied().unwrap_or(0);
            let under = |cap: Option<u32>, busy: usize| cap.is_none_or(|c| busy + extra < c as usize);
            let admitted = under(limit.cluster, now.everywhere) && under(limit.per_replica, now.here);
            if admitted {
                *started.entry(handler).or_default() += 1;
            }
            admitted
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(cluster: Option<u32>, per_replica: Option<u32>) -> HashMap<String, HandlerConcurrency> {
        HashMap::from([("http".to_owned(), HandlerConcurrency { cluster, per_replica })])
    }

    fn busy(everywhere: usize, here: usize) -> HashMap<String, Running> {
        HashMap::from([("http".to_owned(), Running { everywhere, here })])
    }

    #[test]
    fn runs_start_while_the_cluster_limit_has_room() {
        let runs = ["http", "noop", "http", "http"];
        assert_eq!(
            admit_handlers(&runs, &limits(Some(3), None), &busy(1, 0)),
            vec![true, true, true, false]
        );
        assert_eq!(
            admit_handlers(&runs, &limits(Some(3), None), &busy(3, 3)),
            vec![false, true, false, false]
        );
    }

    #[test]
    fn the_per_replica_limit_counts_only_this_claimers_runs() {
        let runs = ["http", "http", "http"];
        assert_eq!(
            admit_handlers(&runs, &limits(None, Some(2)), &busy(50, 1)),
            vec![true, false, false]
        );
        // Both limits hold: the tighter one decides.
        assert_eq!(
            admit_handlers(&runs, &limits(Some(4), Some(2)), &busy(3, 0)),
            vec![true, false, false]
        );
    }

    #[test]
    fn unlimited_handlers_always_start() {
        let none = HashMap::new();
        assert_eq!(
            admit_handlers(&["a", "b"], &none, &HashMap::new()),
            vec![true, true]
        );
        assert_eq!(
            admit_handlers(&["http"], &limits(None, None), &busy(9, 9)),
            vec![true]
        );
    }

    #[test]
    fn limits_out_of_range_name_their_key() {
        let bad = HandlerConcurrency {
            cluster: Some(0),
            per_replica: Some(MAX_CONCURRENCY + 1),
        };
        let keys: Vec<String> = bad
            .problems("handlers.http")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            [
                "handlers.http.max_concurrency",
                "handlers.http.max_concurrency_per_replica"
            ]
        );
        assert!(HandlerConcurrency::default().problems("h").is_empty());
    }
}
