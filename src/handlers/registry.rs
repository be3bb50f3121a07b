//! The handler registry: the generic registry keyed by namespace and name.
//! A step in namespace `ns` bound to handler `h` resolves to `ns`'s own `h` if
//! one is registered, else to the global `h` (where the built-ins live).

use std::sync::Arc;

use serde_json::Value;

use super::StepHandler;
use super::builtin;
use crate::domain::template::{HandlerCatalog, HandlerIssue};
use crate::events::EventName;
use crate::registry::{Registered, Registry, RegistryError, RegistryEvents, RegistryKey, valid_name};

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

/// A handler's key: global handlers (`namespace` None) sort first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HandlerKey {
    /// `None` for global handlers.
    pub namespace: Option<String>,
    /// Name steps refer to.
    pub name: String,
}

impl RegistryKey for HandlerKey {
    fn is_valid(&self) -> bool {
        valid_name(&self.name) && self.namespace.as_deref().is_none_or(valid_name)
    }
}

impl std::fmt::Display for HandlerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A registered handler and where it comes from.
#[derive(Clone)]
pub struct HandlerEntry {
    handler: Arc<dyn StepHandler>,
    kind: HandlerKind,
}

impl Registered for HandlerEntry {}

const EVENTS: RegistryEvents = RegistryEvents {
    registered: EventName::HandlerRegistered,
    unregistered: EventName::HandlerUnregistered,
    refused: EventName::HandlerValidationFailed,
};

/// Registered step handlers (cheap to clone; clones share the same registry).
#[derive(Clone)]
pub struct HandlerRegistry {
    entries: Registry<HandlerKey, HandlerEntry>,
}

impl Default for HandlerRegistry {
    fn default() -> Self {
        Self {
            entries: Registry::new("handlers", EVENTS),
        }
    }
}

impl std::fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list().iter().map(|h| &h.name))
            .finish()
    }
}

fn key(namespace: Option<&str>, name: &str) -> HandlerKey {
    HandlerKey {
        namespace: namespace.map(str::to_owned),
        name: name.to_owned(),
    }
}

impl HandlerRegistry {
    /// A registry holding the built-in handlers.
    pub fn with_builtins() -> Self {
        let registry = Self::default();
        for (name, handler) in builtin::all() {
            let entry = HandlerEntry {
                handler,
                kind: HandlerKind::Builtin,
            };
            // Built-in names are valid and distinct; a failure here is a bug
            // the unit tests catch.
            let _ = registry.entries.register(key(None, name), entry, true);
        }
        registry
    }

    /// The generic registry behind this one (stats, health, events).
    pub fn registry(&self) -> &Registry<HandlerKey, HandlerEntry> {
        &self.entries
    }

    /// Register `handler` as `name` (global when `namespace` is `None`).
    pub fn register(
        &self,
        namespace: Option<&str>,
        name: &str,
        handler: Arc<dyn StepHandler>,
        replace: bool,
    ) -> Result<(), RegistryError> {
        let entry = HandlerEntry {
            handler,
            kind: HandlerKind::Rust,
        };
        self.entries
            .register(key(namespace, name), entry, replace)
            .map(|_| ())
    }

    /// Remove a handler.
    pub fn unregister(&self, namespace: Option<&str>, name: &str) -> Result<(), RegistryError> {
        self.entries.unregister(&key(namespace, name)).map(|_| ())
    }

    /// The handler a step of `namespace` bound to `name` runs.
    pub fn resolve(&self, namespace: &str, name: &str) -> Option<Arc<dyn StepHandler>> {
        self.entries
            .get(&key(Some(namespace), name))
            .or_else(|| self.entries.get(&key(None, name)))
            .map(|e| e.handler)
    }

    /// Everything registered, globals first, then by namespace and name.
    pub fn list(&self) -> Vec<HandlerInfo> {
        self.entries
            .entries()
            .into_iter()
            .map(|(k, e)| HandlerInfo {
                namespace: k.namespace,
                name: k.name,
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
        assert!(matches!(
            r.register(None, "x", Arc::new(Fixed("b")), false),
            Err(RegistryError::AlreadyRegistered { name, .. }) if name == "x"
        ));
        assert!(r.register(None, "x", Arc::new(Fixed("b")), true).is_ok());
        assert!(r.unregister(None, "x").is_ok());
        assert!(r.unregister(None, "x").is_err());
        assert!(matches!(
            r.register(None, "a b", Arc::new(Fixed("c")), false),
            Err(RegistryError::InvalidName { .. })
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
