//! What one request (or websocket connection) may do.

use std::sync::Arc;

use super::{AuthorizationCoordinator, Caller, Needed, Scope};

/// Why an operation was refused; the message says what is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No valid credentials (HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials without the permission (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
}

#[derive(Clone)]
enum Who {
    /// Auth is off.
    Everyone,
    /// Auth is on and the request has no valid credentials.
    Nobody(Denied),
    /// Auth is on and this caller authenticated.
    Caller(Arc<Caller>),
}

/// A request's standing: checked by every guarded operation.
#[derive(Clone)]
pub struct Access {
    who: Who,
    policy: Option<Arc<dyn AuthorizationCoordinator>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match &self.who {
            Who::Everyone => "everyone (auth off)".to_owned(),
            Who::Nobody(_) => "unauthenticated".to_owned(),
            Who::Caller(c) => format!("caller {}", c.subject),
        };
        f.write_str(&who)
    }
}

impl Access {
    /// Auth off.
    pub fn open() -> Self {
        Self {
            who: Who::Everyone,
            policy: None,
        }
    }

    pub(super) fn refused(policy: Arc<dyn AuthorizationCoordinator>, why: Denied) -> Self {
        Self {
            who: Who::Nobody(why),
            policy: Some(policy),
        }
    }

    pub(super) fn caller(policy: Arc<dyn AuthorizationCoordinator>, caller: Caller) -> Self {
        Self {
            who: Who::Caller(Arc::new(caller)),
            policy: Some(policy),
        }
    }

    /// The authenticated caller's subject, if any.
    pub fn subject(&self) -> Option<&str> {
        match &self.who {
            Who::Caller(c) => Some(&c.subject),
            _ => None,
        }
    }

    /// Why the credentials were refused, when they were.
    pub fn refusal(&self) -> Option<&Denied> {
        match &self.who {
            Who::Nobody(why) => Some(why),
            _ => None,
        }
    }

    /// Whether the request may go beyond public operations: auth is off or
    /// the caller authenticated.
    pub fn authenticated(&self) -> bool {
        !matches!(self.who, Who::Nobody(_))
    }

    /// Fail unless `needed` is allowed in `namespace`.
    pub fn require(&self, needed: Needed, namespace: Option<&str>) -> Result<(), Denied> {
        match (&self.who, &self.policy) {
            (Who::Everyone, _) => Ok(()),
            (Who::Nobody(why), _) => Err(why.clone()),
            (Who::Caller(caller), Some(policy)) if policy.authorize(caller, needed, namespace) => Ok(()),
            (Who::Caller(_), _) => Err(Denied::Forbidden(match namespace {
                Some(ns) => format!("missing permission {needed}@{ns} (or {needed})"),
                None => format!("missing permission {needed}"),
            })),
        }
    }

    /// Where `needed` is allowed, failing when that is nowhere (lists then
    /// show only those namespaces).
    pub fn scope_somewhere(&self, needed: Needed) -> Result<Scope, Denied> {
        match self.scope(needed)? {
            Scope::Namespaces(list) if list.is_empty() => {
                Err(Denied::Forbidden(format!("missing permission {needed}")))
            }
            scope => Ok(scope),
        }
    }

    /// Where `needed` is allowed (lists show only that); an unauthenticated
    /// request fails.
    pub fn scope(&self, needed: Needed) -> Result<Scope, Denied> {
        match (&self.who, &self.policy) {
            (Who::Everyone, _) => Ok(Scope::All),
            (Who::Nobody(why), _) => Err(why.clone()),
            (Who::Caller(caller), Some(policy)) => Ok(policy.scope(caller, needed)),
            (Who::Caller(_), None) => Ok(Scope::Namespaces(Vec::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::GrantedPermissions;
    use super::super::permission::{Grant, METRICS_READ, TASK_CREATE, TASK_READ};
    use super::*;

    fn caller(grants: &[&str]) -> Access {
        let grants = grants.iter().map(|g| Grant::parse(g).expect("grant")).collect();
        Access::caller(
            Arc::new(GrantedPermissions),
            Caller {
                subject: "s".into(),
                grants,
            },
        )
    }

    #[test]
    fn open_access_allows_all_and_refused_access_says_why() {
        assert_eq!(Access::open().require(TASK_CREATE, Some("x")), Ok(()));
        assert_eq!(Access::open().scope(TASK_READ), Ok(Scope::All));
        let nobody = Access::refused(
            Arc::new(GrantedPermissions),
            Denied::Unauthenticated("expired".into()),
        );
        assert_eq!(
            nobody.require(TASK_READ, None),
            Err(Denied::Unauthenticated("expired".into()))
        );
        assert!(!nobody.authenticated());
    }

    #[test]
    fn a_caller_is_refused_what_it_lacks_with_the_permission_named() {
        let access = caller(&["tasker.task:create@payments"]);
        assert_eq!(access.require(TASK_CREATE, Some("payments")), Ok(()));
        let Err(Denied::Forbidden(message)) = access.require(TASK_CREATE, Some("shipping")) else {
            panic!("refused")
        };
        assert!(message.contains("tasker.task:create@shipping"), "{message}");
        assert!(matches!(
            access.require(METRICS_READ, None),
            Err(Denied::Forbidden(_))
        ));
        assert_eq!(
            access.scope(TASK_CREATE),
            Ok(Scope::Namespaces(vec!["payments".into()]))
        );
    }
}
