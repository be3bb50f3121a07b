//! Authentication and authorization. Off by default; `[auth] enabled = true`
//! turns it on for GraphQL (HTTP and websocket), handler discovery, and, when
//! configured, `/metrics` and `/health/status`. `/health/live`,
//! `/health/ready` and the playground's static files are never guarded.
//!
//! Authenticators turn credentials into a [`Caller`] (bearer JWTs are built
//! in; a deployment can add its own through [`Authenticator`]). An
//! [`AuthorizationCoordinator`] decides what a caller may do; the default one
//! reads the caller's granted permissions.

mod access;
pub mod api_key;
pub mod jwt;
pub mod permission;

use std::sync::Arc;

use async_trait::async_trait;

pub use access::{Access, Denied};
pub use permission::{Grant, Needed, Scope};

use crate::config::AuthConfig;

/// Who a request comes from, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's subject (or the key's name).
    pub subject: String,
    /// What it was granted.
    pub grants: Vec<Grant>,
}

/// Credentials as a request carries them.
#[derive(Clone)]
pub enum Credentials {
    /// `Authorization: Bearer …` (or the websocket's `connection_init`).
    Bearer(String),
    /// `X-API-Key: <name>.<secret>` (or `apiKey` in `connection_init`).
    ApiKey(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself, even in a debug print.
        match self {
            Self::Bearer(_) => f.write_str("Bearer([FILTERED])"),
            Self::ApiKey(_) => f.write_str("ApiKey([FILTERED])"),
        }
    }
}

impl Credentials {
    /// From an `Authorization` header value; `None` for other schemes.
    pub fn from_authorization(value: &str) -> Option<Self> {
        let (scheme, token) = value.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| Self::Bearer(token.to_owned()))
    }
}

/// Why credentials were refused. Messages never contain the credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token was refused; the reason says why (expired, bad signature …).
    #[error("invalid token: {0}")]
    InvalidToken(String),
}

/// Turns credentials into a caller.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// For logs and errors.
    fn name(&self) -> &str;
    /// `None` when these credentials are not this authenticator's kind (the
    /// next one is asked); otherwise the caller or why not.
    async fn authenticate(&self, credentials: &Credentials) -> Option<Result<Caller, AuthError>>;
}

/// Decides what an authenticated caller may do.
pub trait AuthorizationCoordinator: Send + Sync {
    /// Whether `caller` may do `needed` in `namespace` (`None`: not tied to one).
    fn authorize(&self, caller: &Caller, needed: Needed, namespace: Option<&str>) -> bool {
        caller.grants.iter().any(|g| g.covers(needed, namespace))
    }
    /// The namespaces where `caller` may do `needed` (filters lists).
    fn scope(&self, caller: &Caller, needed: Needed) -> Scope {
        permission::scope_of(&caller.grants, needed)
    }
}

/// The default coordinator: the caller's granted permissions decide.
#[derive(Debug, Default)]
pub struct GrantedPermissions;

impl AuthorizationCoordinator for GrantedPermissions {}

/// The auth configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[error("auth.{field}: {message}")]
pub struct AuthSetupError {
    /// The offending setting.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

struct Inner {
    authenticators: Vec<Arc<dyn Authenticator>>,
    coordinator: Arc<dyn AuthorizationCoordinator>,
    metrics_required: bool,
    health_status_required: bool,
    introspection_requires_auth: bool,
}

/// The service's authentication and authorization, or none (auth off).
#[derive(Clone, Default)]
pub struct Auth {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("enabled", &self.enabled()).finish()
    }
}

impl Auth {
    /// Auth off: everyone may do everything.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// From `[auth]`: off, or on with bearer JWTs (when a secret, public key
    /// or JWKS is configured) and API keys (when any is configured).
    pub fn from_config(config: &AuthConfig) -> Result<Self, AuthSetupError> {
        if !config.enabled {
            return Ok(Self::disabled());
        }
        let mut authenticators: Vec<Arc<dyn Authenticator>> = Vec::new();
        let jwt_keys = [&config.secret, &config.public_key_file, &config.jwks_file];
        if jwt_keys.iter().any(|k| !k.is_empty()) {
            authenticators.push(Arc::new(jwt::JwtAuthenticator::from_config(config)?));
        }
        if !config.api_keys.is_empty() {
            authenticators.push(Arc::new(api_key::ApiKeyAuthenticator::new(&config.api_keys)?));
        }
        if authenticators.is_empty() {
            return Err(AuthSetupError {
                field: "secret",
                message: "auth is on but no secret, public_key_file, jwks_file or api_keys is configured"
                    .into(),
            });
        }
        Ok(Self::with(authenticators, Arc::new(GrantedPermissions), config))
    }

    /// Auth on with these authenticators (asked in order) and coordinator.
    pub fn with(
        authenticators: Vec<Arc<dyn Authenticator>>,
        coordinator: Arc<dyn AuthorizationCoordinator>,
        config: &AuthConfig,
    ) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                authenticators,
                coordinator,
                metrics_required: config.metrics_auth_required,
                health_status_required: config.health_status_auth_required,
                introspection_requires_auth: config.introspection_requires_auth,
            })),
        }
    }

    /// Whether auth is on.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether `/metrics` needs `tasker.metrics:read`.
    pub fn guards_metrics(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.metrics_required)
    }

    /// Whether `/health/status` needs `tasker.health_status:read`.
    pub fn guards_health_status(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.health_status_required)
    }

    /// Whether introspection is answered only to authenticated callers.
    pub fn introspection_requires_auth(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.introspection_requires_auth)
    }

    /// What a request with these credentials may do.
    pub async fn identify(&self, credentials: Option<Credentials>) -> Access {
        let Some(inner) = &self.inner else {
            return Access::open();
        };
        let policy = inner.coordinator.clone();
        let Some(credentials) = credentials else {
            return Access::refused(
                policy,
                Denied::Unauthenticated(
                    "no credentials: send Authorization: Bearer <token> or X-API-Key".into(),
                ),
            );
        };
        for authenticator in &inner.authenticators {
            match authenticator.authenticate(&credentials).await {
                None => continue,
                Some(Ok(caller)) => return Access::caller(policy, caller),
                Some(Err(error)) => {
                    tracing::info!(authenticator = authenticator.name(), reason = %error, "credentials refused");
                    return Access::refused(policy, Denied::Unauthenticated(error.to_string()));
                }
            }
        }
        Access::refused(
            policy,
            Denied::Unauthenticated("these credentials are not accepted here".into()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_on_needs_a_jwt_key_or_an_api_key() {
        let on = AuthConfig {
            enabled: true,
            ..AuthConfig::default()
        };
        assert_eq!(Auth::from_config(&on).err().map(|e| e.field), Some("secret"));
        let (_, hash) = api_key::generate("k").expect("generates");
        let keys_only = AuthConfig {
            api_keys: vec![crate::config::ApiKeyConfig {
                name: "k".into(),
                hash,
                permissions: vec![],
            }],
            ..on
        };
        assert!(Auth::from_config(&keys_only).is_ok_and(|a| a.enabled()));
        assert!(!Auth::from_config(&AuthConfig::default()).expect("off").enabled());
    }

    #[test]
    fn only_bearer_authorization_headers_are_credentials() {
        assert!(
            matches!(Credentials::from_authorization("Bearer abc"), Some(Credentials::Bearer(t)) if t == "abc")
        );
        assert!(
            matches!(Credentials::from_authorization("bearer  abc "), Some(Credentials::Bearer(t)) if t == "abc")
        );
        assert!(Credentials::from_authorization("Basic dXNlcg==").is_none());
        assert!(Credentials::from_authorization("Bearer ").is_none());
        assert!(Credentials::from_authorization("abc").is_none());
        let bearer = Credentials::from_authorization("Bearer secret-token");
        assert!(!format!("{bearer:?}").contains("secret-token"));
    }
}
