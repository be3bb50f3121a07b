//! Permissions of the form `resource:action`, optionally scoped to one
//! namespace (`tasker.task:create@payments`). A granted permission may use
//! `*` for the action (`tasker.task:*`) or be `*` itself (everything).

use std::fmt;

/// What an operation needs: a resource and an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needed {
    /// E.g. `tasker.task`.
    pub resource: &'static str,
    /// E.g. `create`.
    pub action: &'static str,
}

impl fmt::Display for Needed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.action)
    }
}

macro_rules! needed {
    ($($name:ident = $resource:literal : $action:literal, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub const $name: Needed = Needed { resource: $resource, action: $action };
        )*
        /// Every permission an operation can need, for documentation and checks.
        pub const ALL: &[Needed] = &[$($name),*];
    };
}

needed! {
    TASK_READ = "tasker.task":"read", "Read tasks, their steps and graphs; follow them live.";
    TASK_CREATE = "tasker.task":"create", "Create tasks.";
    TASK_CANCEL = "tasker.task":"cancel", "Cancel tasks.";
    TASK_RETRY = "tasker.task":"retry", "Retry failed tasks.";
    STEP_RETRY = "tasker.step":"retry", "Retry failed steps.";
    STEP_RESOLVE = "tasker.step":"resolve", "Resolve steps by hand.";
    STEP_APPROVE = "tasker.step":"approve", "Approve or reject steps waiting for approval.";
    STEP_CLAIM = "tasker.step":"claim", "Work as an external worker: wait for, claim and report steps.";
    TEMPLATE_READ = "tasker.template":"read", "Read templates and namespaces.";
    TEMPLATE_REGISTER = "tasker.template":"register", "Register templates.";
    HANDLER_READ = "tasker.handler":"read", "Discover handlers (GraphQL stepHandlers, GET /handlers).";
    EVENT_READ = "tasker.event":"read", "Read the event catalog and subscribe to events; read events from outside.";
    EVENT_SEND = "tasker.event":"send", "Send events from outside (sendEvent, POST /events/{name}) to the steps waiting for them.";
    METRICS_READ = "tasker.metrics":"read", "Read metrics (GraphQL, and GET /metrics when metrics_auth_required).";
    REGISTRY_READ = "tasker.registry":"read", "Read and search the registries.";
    HEALTH_STATUS_READ = "tasker.health_status":"read", "GET /health/status when health_status_auth_required.";
}

/// One granted permission, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    resource: String,
    action: String,
    namespace: Option<String>,
}

/// A granted permission that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("permission {0:?} is not resource:action[@namespace] or *")]
pub struct BadGrant(pub String);

impl Grant {
    /// Parse `resource:action[@namespace]`, `resource:*[@namespace]` or `*`.
    pub fn parse(text: &str) -> Result<Self, BadGrant> {
        let bad = || BadGrant(text.to_owned());
        let text = text.trim();
        if text == "*" {
            return Ok(Self {
                resource: "*".into(),
                action: "*".into(),
                namespace: None,
            });
        }
        let (permission, namespace) = match text.split_once('@') {
            Some((p, ns)) if !ns.is_empty() && !ns.contains(['@', ':']) => (p, Some(ns.to_owned())),
            Some(_) => return Err(bad()),
            None => (text, None),
        };
        let (resource, action) = permission.split_once(':').ok_or_else(bad)?;
        let word =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !word(resource) || !(action == "*" || word(action)) {
            return Err(bad());
        }
        Ok(Self {
            resource: resource.to_owned(),
            action: action.to_owned(),
            namespace,
        })
    }

    /// Whether this grant covers `needed` in `namespace` (`None`: an operation
    /// not tied to one namespace, which only unscoped grants cover).
    pub fn covers(&self, needed: Needed, namespace: Option<&str>) -> bool {
        let everything = self.resource == "*";
        let kind = everything
            || (self.resource == needed.resource && (self.action == "*" || self.action == needed.action));
        let place = match (&self.namespace, namespace) {
            (None, _) => true,
            (Some(granted), Some(asked)) => granted == asked,
            (Some(_), None) => false,
        };
        kind && place
    }

    /// The namespace this grant is limited to, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Whether this grant is about `needed`'s resource and action, in any namespace.
    pub fn names(&self, needed: Needed) -> bool {
        self.resource == "*"
            || (self.resource == needed.resource && (self.action == "*" || self.action == needed.action))
    }
}

/// Where a caller may do something: everywhere, or in these namespaces only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace.
    All,
    /// Only these (possibly none).
    Namespaces(Vec<String>),
}

impl Scope {
    /// Whether `namespace` is inside.
    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespaces(list) => list.iter().any(|n| n == namespace),
        }
    }
}

/// What a set of grants allows for `needed`.
pub fn scope_of(grants: &[Grant], needed: Needed) -> Scope {
    let mut namespaces = Vec::new();
    for grant in grants.iter().filter(|g| g.names(needed)) {
        match grant.namespace() {
            None => return Scope::All,
            Some(ns) => {
                if !namespaces.iter().any(|n: &String| n == ns) {
                    namespaces.push(ns.to_owned());
                }
            }
        }
    }
    Scope::Namespaces(namespaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(text: &str) -> Grant {
        Grant::parse(text).expect("parses")
    }

    #[test]
    fn grants_parse_and_malformed_ones_are_refused() {
        assert_eq!(grant("tasker.task:create@payments").namespace(), Some("payments"));
        assert_eq!(grant(" tasker.task:* ").namespace(), None);
        for bad in [
            "",
            "tasker.task",
            ":create",
            "tasker.task:",
            "a:b@",
            "a:b@x@y",
            "a b:c",
            "*@ns",
            "a:b:c@x",
        ] {
            assert!(Grant::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_grant_covers_its_action_its_namespace_and_wildcards() {
        assert!(grant("tasker.task:create").covers(TASK_CREATE, Some("payments")));
        assert!(grant("tasker.task:create").covers(TASK_CREATE, None));
        assert!(!grant("tasker.task:create").covers(TASK_READ, Some("payments")));
        assert!(grant("tasker.task:create@payments").covers(TASK_CREATE, Some("payments")));
        assert!(!grant("tasker.task:create@payments").covers(TASK_CREATE, Some("shipping")));
        assert!(!grant("tasker.task:create@payments").covers(TASK_CREATE, None));
        assert!(grant("tasker.task:*").covers(TASK_CANCEL, Some("x")));
        assert!(!grant("tasker.task:*").covers(STEP_CLAIM, Some("x")));
        assert!(grant("*").covers(METRICS_READ, None));
        assert!(
            !grant("tasker.tasks:read").covers(TASK_READ, None),
            "no prefix matching"
        );
    }

    #[test]
    fn scopes_collect_namespaces_unless_one_grant_is_unscoped() {
        let grants = vec![
            grant("tasker.task:read@a"),
            grant("tasker.task:*@b"),
            grant("tasker.step:claim"),
        ];
        assert_eq!(
            scope_of(&grants, TASK_READ),
            Scope::Namespaces(vec!["a".into(), "b".into()])
        );
        assert_eq!(scope_of(&grants, STEP_CLAIM), Scope::All);
        assert_eq!(scope_of(&grants, METRICS_READ), Scope::Namespaces(vec![]));
        assert!(!Scope::Namespaces(vec![]).contains("a"));
    }

    #[test]
    fn every_needed_permission_is_a_grant_that_covers_itself() {
        for needed in ALL {
            assert!(grant(&needed.to_string()).covers(*needed, None), "{needed}");
        }
    }
}
