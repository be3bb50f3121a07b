//! The registries of this replica (handlers, event subscribers, exporters),
//! summarised and searched the same way whatever they hold.

use super::Tasker;
use crate::registry::{Registered, Registry, RegistryHealth, RegistryKey, RegistryStats};

/// One registry's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegistryView {
    /// `handlers`, `subscribers` or `exporters`.
    pub name: &'static str,
    /// Counters.
    pub stats: RegistryStats,
    /// Health check of every entry.
    pub health: RegistryHealth,
}

/// An entry found by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryMatch {
    /// The registry holding it.
    pub registry: &'static str,
    /// The entry's name (`namespace/name` for namespaced handlers).
    pub name: String,
}

fn view<K: RegistryKey, V: Registered>(r: &Registry<K, V>) -> RegistryView {
    RegistryView {
        name: r.name(),
        stats: r.stats(),
        health: r.health_check(),
    }
}

fn found<K: RegistryKey, V: Registered>(
    r: &Registry<K, V>,
    pattern: &str,
) -> impl Iterator<Item = RegistryMatch> {
    let registry = r.name();
    r.search(pattern)
        .into_iter()
        .map(move |name| RegistryMatch { registry, name })
}

impl Tasker {
    /// Every registry, with counters and health.
    pub fn registries(&self) -> Vec<RegistryView> {
        vec![
            view(self.handlers.registry()),
            view(self.subscribers.registry()),
            view(self.exporters.registry()),
        ]
    }

    /// Entries of every registry whose name matches `pattern` (`*` globs,
    /// else a case-insensitive substring).
    pub fn search_registries(&self, pattern: &str) -> Vec<RegistryMatch> {
        found(self.handlers.registry(), pattern)
            .chain(found(self.subscribers.registry(), pattern))
            .chain(found(self.exporters.registry(), pattern))
            .collect()
    }
}
