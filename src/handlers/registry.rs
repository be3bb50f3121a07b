//! The handler registry: thread-safe, namespaced, atomic register/replace.
//! A step in namespace `ns` bound to handler `h` resolves to `ns`'s own `h` if
//! one is registered, else to the global `h` (where the built-ins live).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::StepHandler;
use super::builtin;
use crate::domain::template::{HandlerCatalog, HandlerIssue};

/// Where a handler comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HandlerKind {
    /// Shipped with Tasker.
    Builtin,
    /// Registered by the embedding Rust program.
    Rust,
}

/// A registered handler, for discovery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HandlerInfo {
    /// `None` for global handlers (usable from every namespace).
    pub namespace: Option<String>,
    /// Name steps refer to.
    pub name: String,
    /// Origin.
    pub kind: HandlerKind,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name is taken and `replace` was not asked for.
    #[error("handler {0} is already registered; pass replace = true to swap it")]
    AlreadyRegistered(String),
    /// The name cannot be used.
    #[error("invalid handler name {0:?}: it must be non-empty, at most 256 characters, without whitespace")]
    InvalidName(String),
    /// Nothing to unregister.
    #[error("handler {0} is not registered")]
    NotRegistered(String),
}

type Key = (Option<String>, String);

struct Entry {
    handler: Arc<dyn StepHandler>,
    kind: HandlerKind,
}

/// Registered step handlers (cheap to clone; clones share the same registry).
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    entries: Arc<RwLock<BTreeMap<Key, Entry>>>,
}

impl std::fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list().iter().map(|h| &h.name))
            .finish()
    }
}

fn display(key: &Key) -> String {
    match &key.0 {
        Some(ns) => format!("{ns}/{}", key.1),
        None => key.1.clone(),
    }
}

impl HandlerRegistry {
    /// A registry holding the built-in handlers.
    pub fn with_builtins() -> Self {
        let registry = Self::default();
        {
            let mut entries = registry.write();
            for (name, handler) in builtin::all() {
                entries.insert(
                    (None, name.to_owned()),
                    Entry {
                        handler,
                        kind: HandlerKind::Builtin,
                    },
                );
            }
        }
        registry
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Key, Entry>> {
        // A panic while holding the lock cannot leave the map half-written
        // (every write is a single insert/remove), so a poisoned lock is usable.
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Key, Entry>> {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Register `handler` as `name` (global when `namespace` is `None`).
    pub fn register(
        &self,
        namespace: Option<&str>,
        name: &str,
        handler: Arc<dyn StepHandler>,
        replace: bool,
    ) -> Result<(), RegistryError> {
        let valid = |s: &str| !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_whitespace);
        if !valid(name) || namespace.is_some_and(|ns| !valid(ns)) {
            return Err(RegistryError::InvalidName(name.to_owned()));
        }
        let key: Key = (namespace.map(str::to_owned), name.to_owned());
        let mut entries = self.write();
        if entries.contains_key(&key) && !replace {
            return Err(RegistryError::AlreadyRegistered(display(&key)));
        }
        entries.insert(
            key,
            Entry {
                handler,
                kind: HandlerKind::Rust,
            },
        );
        Ok(())
    }

    /// Remove a handler.
    pub fn unregister(&self, namespace: Option<&str>, name: &str) -> Result<(), RegistryError> {
        let key: Key = (namespace.map(str::to_owned), name.to_owned());
        self.write()
            .remove(&key)
            .map(|_| ())
            .ok_or_else(|| RegistryError::NotRegistered(display(&key)))
    }

    /// The handler a step of `namespace` bound to `name` runs.
    pub fn resolve(&self, namespace: &str, name: &str) -> Option<Arc<dyn StepHandler>> {
        let entries = self.read();
        entries
            .get(&(Some(namespace.to_owned()), name.to_owned()))
            .or_else(|| entries.get(&(None, name.to_owned())))
            .map(|e| Arc::clone(&e.handler))
    }

    /// Everything registered, globals first, then by namespace and name.
    pub fn list(&self) -> Vec<HandlerInfo> {
        self.read()
            .iter()
            .map(|((namespace, name), e)| HandlerInfo {
                namespace: namespace.clone(),
                name: name.clone(),
                kind: e.kind,
            })
            .collect()
    }
}

impl HandlerCatalog for HandlerRegistry {
    fn check(&self, namespace: &str, handler: &str, config: &Value) -> Result<(), HandlerIssue> {
        let found = self.resolve(namespace, handler).ok_or(HandlerIssue::Unknown)?;
        found.validate_config(config).map_err(HandlerIssue::BadConfig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::{HandlerError, StepContext};

    struct Fixed(&'static str);

    #[async_trait::async_trait]
    impl StepHandler for Fixed {
        async fn handle(&self, _: StepContext) -> Result<Value, HandlerError> {
            Ok(Value::String(self.0.to_owned()))
        }
    }

    #[test]
    fn builtins_are_global_and_listed() {
        let r = HandlerRegistry::with_builtins();
        let names: Vec<String> = r.list().into_iter().map(|h| h.name).collect();
        for builtin in ["noop", "echo", "sleep", "fail_times", "http"] {
            assert!(
                names.contains(&builtin.to_owned()),
                "{builtin} missing from {names:?}"
            );
        }
        assert!(r.resolve("any_namespace", "noop").is_some());
    }

    #[test]
    fn namespaced_handlers_win_over_globals_only_in_their_namespace() {
        let r = HandlerRegistry::with_builtins();
        r.register(Some("payments"), "charge", Arc::new(Fixed("ns")), false)
            .expect("registers");
        assert!(r.resolve("payments", "charge").is_some());
        assert!(r.resolve("other", "charge").is_none());
    }

    #[test]
    fn registering_twice_needs_replace() {
        let r = HandlerRegistry::default();
        r.register(None, "x", Arc::new(Fixed("a")), false).expect("first");
        assert_eq!(
            r.register(None, "x", Arc::new(Fixed("b")), false),
            Err(RegistryError::AlreadyRegistered("x".into()))
        );
        assert!(r.register(None, "x", Arc::new(Fixed("b")), true).is_ok());
        assert!(r.unregister(None, "x").is_ok());
        assert!(r.unregister(None, "x").is_err());
        assert!(matches!(
            r.register(None, "a b", Arc::new(Fixed("c")), false),
            Err(RegistryError::InvalidName(_))
        ));
    }

    #[test]
    fn catalog_checks_existence_and_config() {
        let r = HandlerRegistry::with_builtins();
        assert_eq!(
            r.check("d", "ghost", &serde_json::json!({})),
            Err(HandlerIssue::Unknown)
        );
        assert!(matches!(
            r.check("d", "sleep", &serde_json::json!({})),
            Err(HandlerIssue::BadConfig(_))
        ));
        assert_eq!(r.check("d", "sleep", &serde_json::json!({"ms": 5})), Ok(()));
    }
}
