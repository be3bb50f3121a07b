//! `Registry` and `RegistryMatch`: the replica's handler, subscriber and
//! exporter registries.

use async_graphql::SimpleObject;

use crate::service::{RegistryMatch as Found, RegistryView};

/// Counters of one registry.
#[derive(SimpleObject, Clone)]
pub struct RegistryStatsGql {
    /// Entries now.
    pub size: u64,
    /// Successful registrations (replacements included).
    pub registrations: u64,
    /// Registrations that replaced an entry.
    pub replacements: u64,
    /// Unregistrations.
    pub unregistrations: u64,
    /// Refused registrations.
    pub rejections: u64,
}

/// One of this replica's registries.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Registry")]
pub struct RegistryGql {
    /// `handlers`, `subscribers` or `exporters`.
    pub name: String,
    /// Counters.
    pub stats: RegistryStatsGql,
    /// True when every entry passes its health check.
    pub healthy: bool,
    /// `entry: problem` for each unhealthy entry.
    pub problems: Vec<String>,
}

impl From<RegistryView> for RegistryGql {
    fn from(v: RegistryView) -> Self {
        RegistryGql {
            name: v.name.to_owned(),
            stats: RegistryStatsGql {
                size: v.stats.size as u64,
                registrations: v.stats.registrations,
                replacements: v.stats.replacements,
                unregistrations: v.stats.unregistrations,
                rejections: v.stats.rejections,
            },
            healthy: v.health.healthy,
            problems: v.health.problems,
        }
    }
}

/// A registry entry found by `searchRegistries`.
#[derive(SimpleObject, Clone)]
pub struct RegistryMatch {
    /// The registry holding it.
    pub registry: String,
    /// The entry's name (`namespace/name` for namespaced handlers).
    pub name: String,
}

impl From<Found> for RegistryMatch {
    fn from(f: Found) -> Self {
        RegistryMatch {
            registry: f.registry.to_owned(),
            name: f.name,
        }
    }
}
