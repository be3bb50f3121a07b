//! One thread-safe registry type shared by handlers, event subscribers and
//! exporter plugins: validation before an atomic insert, `replace` semantics,
//! unregister, counters, a health check, name search, and an event for every
//! change once the registry is attached to an event bus.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use chrono::Utc;

use crate::events::{Event, EventBus, EventName};

/// Something a registry can hold.
pub trait Registered: Clone + Send + Sync + 'static {
    /// Refuse an entry before it is stored (the registry stays unchanged).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// Whether the entry still works (checked by `health_check`).
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Why a registry refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name is taken and `replace` was not asked for.
    #[error("{registry}: {name} is already registered; pass replace = true to swap it")]
    AlreadyRegistered {
        /// Registry name.
        registry: &'static str,
        /// Entry name.
        name: String,
    },
    /// The name cannot be used.
    #[error(
        "{registry}: invalid name {name:?}: it must be non-empty, at most 256 characters, without whitespace or '/'"
    )]
    InvalidName {
        /// Registry name.
        registry: &'static str,
        /// Entry name.
        name: String,
    },
    /// The entry failed its validation.
    #[error("{registry}: {name} was refused: {reason}")]
    Invalid {
        /// Registry name.
        registry: &'static str,
        /// Entry name.
        name: String,
        /// What validation said.
        reason: String,
    },
    /// Nothing to unregister.
    #[error("{registry}: {name} is not registered")]
    NotRegistered {
        /// Registry name.
        registry: &'static str,
        /// Entry name.
        name: String,
    },
}

/// True for names registries accept.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 256 && !name.chars().any(|c| c.is_whitespace() || c == '/')
}

/// A registry key: ordered, printable, and able to say whether it is usable.
pub trait RegistryKey: Ord + Clone + Display {
    /// False for keys a registry must refuse.
    fn is_valid(&self) -> bool;
}

impl RegistryKey for String {
    fn is_valid(&self) -> bool {
        valid_name(self)
    }
}

/// The events one registry publishes.
#[derive(Debug, Clone, Copy)]
pub struct RegistryEvents {
    /// After a registration (or replacement).
    pub registered: EventName,
    /// After an unregistration.
    pub unregistered: EventName,
    /// After a refused registration.
    pub refused: EventName,
}

/// A registry's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RegistryStats {
    /// Entries now.
    pub size: usize,
    /// Successful registrations (replacements included).
    pub registrations: u64,
    /// Registrations that replaced an entry.
    pub replacements: u64,
    /// Unregistrations.
    pub unregistrations: u64,
    /// Refused registrations.
    pub rejections: u64,
}

/// The result of a health check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegistryHealth {
    /// True when every entry is healthy.
    pub healthy: bool,
    /// `name: problem` for each unhealthy entry.
    pub problems: Vec<String>,
}

#[derive(Default)]
struct Counters {
    registrations: AtomicU64,
    replacements: AtomicU64,
    unregistrations: AtomicU64,
    rejections: AtomicU64,
}

struct Inner<K, V> {
    name: &'static str,
    events: RegistryEvents,
    entries: RwLock<BTreeMap<K, V>>,
    counters: Counters,
    bus: OnceLock<EventBus>,
}

/// A named, thread-safe registry (cheap to clone; clones share entries).
pub struct Registry<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for Registry<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: RegistryKey, V: Registered> Registry<K, V> {
    /// An empty registry called `name` (e.g. `handlers`).
    pub fn new(name: &'static str, events: RegistryEvents) -> Self {
        Self {
            inner: Arc::new(Inner {
                name,
                events,
                entries: RwLock::new(BTreeMap::new()),
                counters: Counters::default(),
                bus: OnceLock::new(),
            }),
        }
    }

    /// The registry's name.
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// Publish changes on `bus` from now on (the first bus attached wins).
    pub fn attach(&self, bus: &EventBus) {
        let _ = self.inner.bus.set(bus.clone());
    }

    fn publish(&self, name: EventName, entry: &K, extra: Option<(&str, serde_json::Value)>) {
        let Some(bus) = self.inner.bus.get() else {
            return;
        };
        let mut event = Event::new(name, Utc::now())
            .with("registry", self.inner.name)
            .with("name", entry.to_string());
        if let Some((key, value)) = extra {
            event = event.with(key, value);
        }
        bus.publish(event);
    }

    fn refuse(&self, key: &K, error: RegistryError) -> RegistryError {
        self.inner.counters.rejections.fetch_add(1, Ordering::Relaxed);
        let reason = serde_json::Value::String(error.to_string());
        self.publish(self.inner.events.refused, key, Some(("error", reason)));
        error
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<K, V>> {
        // Every write is one insert or remove: a poisoned lock holds a whole map.
        self.inner.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<K, V>> {
        self.inner.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Validate `key` and `value`, then store `value` as `key`; an existing
    /// entry is swapped only when `replace` is set, and returned.
    pub fn register(&self, key: K, value: V, replace: bool) -> Result<Option<V>, RegistryError> {
        let registry = self.inner.name;
        if !key.is_valid() {
            let name = key.to_string();
            return Err(self.refuse(&key, RegistryError::InvalidName { registry, name }));
        }
        if let Err(reason) = value.validate() {
            let name = key.to_string();
            return Err(self.refuse(
                &key,
                RegistryError::Invalid {
                    registry,
                    name,
                    reason,
                },
            ));
        }
        let replaced = {
            let mut entries = self.write();
            if entries.contains_key(&key) && !replace {
                drop(entries);
                let name = key.to_string();
                return Err(self.refuse(&key, RegistryError::AlreadyRegistered { registry, name }));
            }
            entries.insert(key.clone(), value)
        };
        let counters = &self.inner.counters;
        counters.registrations.fetch_add(1, Ordering::Relaxed);
        if replaced.is_some() {
            counters.replacements.fetch_add(1, Ordering::Relaxed);
        }
        let replaced_flag = ("replaced", serde_json::Value::Bool(replaced.is_some()));
        self.publish(self.inner.events.registered, &key, Some(replaced_flag));
        Ok(replaced)
    }

    /// Remove an entry, returning it.
    pub fn unregister(&self, key: &K) -> Result<V, RegistryError> {
        let removed = self
            .write()
            .remove(key)
            .ok_or_else(|| RegistryError::NotRegistered {
                registry: self.inner.name,
                name: key.to_string(),
            })?;
        self.inner
            .counters
            .unregistrations
            .fetch_add(1, Ordering::Relaxed);
        self.publish(
            self.inner.events.unregistered,
            key,
            Some(("replaced", false.into())),
        );
        Ok(removed)
    }

    /// The entry stored as `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        self.read().get(key).cloned()
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> Vec<(K, V)> {
        self.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Entries now.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> RegistryStats {
        let c = &self.inner.counters;
        RegistryStats {
            size: self.len(),
            registrations: c.registrations.load(Ordering::Relaxed),
            replacements: c.replacements.load(Ordering::Relaxed),
            unregistrations: c.unregistrations.load(Ordering::Relaxed),
            rejections: c.rejections.load(Ordering::Relaxed),
        }
    }

    /// Ask every entry whether it still works.
    pub fn health_check(&self) -> RegistryHealth {
        let problems: Vec<String> = self
            .read()
            .iter()
            .filter_map(|(k, v)| v.health().err().map(|p| format!("{k}: {p}")))
            .collect();
        RegistryHealth {
            healthy: problems.is_empty(),
            problems,
        }
    }

    /// Names matching `pattern` (see [`pattern_matches`]).
    pub fn search(&self, pattern: &str) -> Vec<String> {
        self.read()
            .keys()
            .map(ToString::to_string)
            .filter(|name| pattern_matches(pattern, name))
            .collect()
    }
}

/// Case-insensitive name search: `*` matches any run of characters; a
/// pattern without `*` matches names that contain it.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.to_lowercase();
    let name = name.to_lowercase();
    if !pattern.contains('*') {
        return name.contains(&pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Item(&'static str);

    impl Registered for Item {
        fn validate(&self) -> Result<(), String> {
            if self.0 == "bad" {
                Err("bad item".into())
            } else {
                Ok(())
            }
        }
        fn health(&self) -> Result<(), String> {
            if self.0 == "sick" {
                Err("sick".into())
            } else {
                Ok(())
            }
        }
    }

    const EVENTS: RegistryEvents = RegistryEvents {
        registered: EventName::PluginRegistered,
        unregistered: EventName::PluginUnregistered,
        refused: EventName::PluginValidationFailed,
    };

    #[tokio::test]
    async fn register_replace_unregister_count_and_publish() {
        let bus = EventBus::new(16);
        let mut rx = bus.subscribe();
        let r: Registry<String, Item> = Registry::new("things", EVENTS);
        r.attach(&bus);
        r.register("a".into(), Item("one"), false).expect("first");
        let taken = r.register("a".into(), Item("two"), false);
        assert!(matches!(taken, Err(RegistryError::AlreadyRegistered { .. })));
        r.register("a".into(), Item("two"), true).expect("replace");
        let refused = r.register("b".into(), Item("bad"), false);
        assert!(matches!(refused, Err(RegistryError::Invalid { .. })));
        assert_eq!(r.get(&"a".to_owned()).map(|i| i.0), Some("two"));
        assert!(r.unregister(&"a".to_owned()).is_ok());
        assert!(r.unregister(&"a".to_owned()).is_err());
        let stats = r.stats();
        assert_eq!(
            (
                stats.size,
                stats.registrations,
                stats.replacements,
                stats.unregistrations,
                stats.rejections
            ),
            (0, 2, 1, 1, 2)
        );
        let mut names = Vec::new();
        while let Ok(e) = rx.try_recv() {
            names.push((e.name.as_str(), e.payload()["name"].as_str().map(str::to_owned)));
        }
        let a = Some("a".to_owned());
        assert_eq!(
            names,
            [
                ("plugin.registered", a.clone()),
                ("plugin.validation_failed", a.clone()),
                ("plugin.registered", a.clone()),
                ("plugin.validation_failed", Some("b".to_owned())),
                ("plugin.unregistered", a),
            ]
        );
    }

    #[test]
    fn health_check_names_unhealthy_entries() {
        let r: Registry<String, Item> = Registry::new("things", EVENTS);
        r.register("ok".into(), Item("fine"), false).expect("ok");
        assert!(r.health_check().healthy);
        r.register("s".into(), Item("sick"), false).expect("ok");
        assert_eq!(r.health_check().problems, ["s: sick"]);
    }

    #[test]
    fn patterns_are_globs_or_substrings_ignoring_case() {
        assert!(pattern_matches("char", "payments/Charge_card"));
        assert!(pattern_matches("pay*card", "payments/charge_card"));
        assert!(pattern_matches("*", "x"));
        assert!(pattern_matches("*_card", "charge_card"));
        assert!(!pattern_matches("pay*", "charge"));
        assert!(!pattern_matches("a*b*c", "acb"));
        assert!(!pattern_matches("ab*ba", "aba"));
        assert!(valid_name("noop") && !valid_name("a b") && !valid_name("a/b") && !valid_name(""));
    }
}
