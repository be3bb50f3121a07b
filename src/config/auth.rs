//! `[auth]`: off by default; see `crate::auth`.

use serde::{Deserialize, Serialize};

/// `[auth]`
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Turn authentication and authorization on.
    pub enabled: bool,
    /// JWT algorithm accepted: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384.
    pub algorithm: String,
    /// HMAC secret (HS*), at least 32 bytes. Prefer `TASKER_AUTH__SECRET` to a file.
    #[serde(skip_serializing)]
    pub secret: String,
    /// PEM public key (RS*, PS*, ES*).
    pub public_key_file: String,
    /// JWK set (RS*, PS*, ES*); tokens name their key with `kid`.
    pub jwks_file: String,
    /// Required `iss`, when set.
    pub issuer: String,
    /// Required `aud`, when set.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// The claim holding the permissions.
    pub permissions_claim: String,
    /// `/metrics` needs `tasker.metrics:read`.
    pub metrics_auth_required: bool,
    /// `/health/status` needs `tasker.health_status:read`.
    pub health_status_auth_required: bool,
    /// `__schema`/`__type` only for authenticated callers.
    pub introspection_requires_auth: bool,
    /// API keys (`[[auth.api_keys]]`), each stored as an argon2id hash.
    pub api_keys: Vec<ApiKeyConfig>,
}

/// One `[[auth.api_keys]]` entry; `tasker token api-key` makes them.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key's name: the part before the `.` of the key.
    pub name: String,
    /// argon2id PHC string of the whole key.
    pub hash: String,
    /// What the key grants.
    #[serde(default)]
    pub permissions: Vec<String>,
}

impl std::fmt::Debug for ApiKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyConfig")
            .field("name", &self.name)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            algorithm: "HS256".to_owned(),
            secret: String::new(),
            public_key_file: String::new(),
            jwks_file: String::new(),
            issuer: String::new(),
            audience: String::new(),
            leeway_seconds: 30,
            permissions_claim: "permissions".to_owned(),
            metrics_auth_required: false,
            health_status_auth_required: true,
            introspection_requires_auth: true,
            api_keys: Vec::new(),
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log line, even through `{:?}`.
        let secret = if self.secret.is_empty() { "" } else { "[FILTERED]" };
        f.debug_struct("AuthConfig")
            .field("enabled", &self.enabled)
            .field("algorithm", &self.algorithm)
            .field("secret", &secret)
            .field("public_key_file", &self.public_key_file)
            .field("jwks_file", &self.jwks_file)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_seconds", &self.leeway_seconds)
            .field("permissions_claim", &self.permissions_claim)
            .field("metrics_auth_required", &self.metrics_auth_required)
            .field("health_status_auth_required", &self.health_status_auth_required)
            .field("introspection_requires_auth", &self.introspection_requires_auth)
            .field("api_keys", &self.api_keys)
            .finish()
    }
}
