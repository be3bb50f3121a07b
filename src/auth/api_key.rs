//! API keys, the second built-in authenticator: `<name>.<secret>`, sent as
//! `X-API-Key` (or `apiKey` in a websocket's `connection_init`). The
//! configuration holds only an argon2id hash of each key, so it gives nothing
//! away. The name picks the one hash to check, so a wrong key costs one
//! verification; a key that verified is remembered by its SHA-256 so that
//! later requests skip the deliberately slow hash.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{AuthError, AuthSetupError, Authenticator, Caller, Credentials, Grant};
use crate::config::ApiKeyConfig;

/// Verified keys remembered at most (then forgotten all at once).
const REMEMBERED: usize = 1024;

struct Key {
    hash: String,
    grants: Vec<Grant>,
}

/// Checks API keys against their configured hashes.
pub struct ApiKeyAuthenticator {
    keys: HashMap<String, Key>,
    verified: Mutex<HashMap<[u8; 32], String>>,
}

fn setup(message: String) -> AuthSetupError {
    AuthSetupError {
        field: "api_keys",
        message,
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl ApiKeyAuthenticator {
    /// From `[[auth.api_keys]]`; every problem names the key.
    pub fn new(configured: &[ApiKeyConfig]) -> Result<Self, AuthSetupError> {
        let mut keys = HashMap::new();
        for key in configured {
            if !valid_name(&key.name) {
                return Err(setup(format!(
                    "{:?}: names are 1–64 letters, digits, - or _",
                    key.name
                )));
            }
            PasswordHash::new(&key.hash).map_err(|e| {
                setup(format!(
                    "{}: hash is not a PHC string ({e}); use `tasker token api-key`",
                    key.name
                ))
            })?;
            let grants = key
                .permissions
                .iter()
                .map(|p| Grant::parse(p).map_err(|e| setup(format!("{}: {e}", key.name))))
                .collect::<Result<Vec<_>, _>>()?;
            let entry = Key {
                hash: key.hash.clone(),
                grants,
            };
            if keys.insert(key.name.clone(), entry).is_some() {
                return Err(setup(format!("{}: configured twice", key.name)));
            }
        }
        Ok(Self {
            keys,
            verified: Mutex::new(HashMap::new()),
        })
    }

    async fn verify(&self, presented: &str) -> Result<Caller, AuthError> {
        let refused = || AuthError::InvalidToken("unknown API key".into());
        let (name, _) = presented.split_once('.').ok_or_else(refused)?;
        let key = self.keys.get(name).ok_or_else(refused)?;
        let caller = || Caller {
            subject: format!("api-key:{name}"),
            grants: key.grants.clone(),
        };
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if self.remembered().get(&digest).is_some_and(|n| n == name) {
            return Ok(caller());
        }
        // argon2 takes milliseconds of CPU on purpose: off the async workers.
        let (hash, candidate) = (key.hash.clone(), presented.to_owned());
        let matches = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(candidate.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        if !matches {
            return Err(refused());
        }
        let mut remembered = self.remembered();
        if remembered.len() >= REMEMBERED {
            remembered.clear();
        }
        remembered.insert(digest, name.to_owned());
        Ok(caller())
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], String>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Authenticator for ApiKeyAuthenticator {
    fn name(&self) -> &str {
        "api_key"
    }

    async fn authenticate(&self, credentials: &Credentials) -> Option<Result<Caller, AuthError>> {
        match credentials {
            Credentials::ApiKey(key) => Some(self.verify(key).await),
            Credentials::Bearer(_) => None,
        }
    }
}

/// A new key for `name` and the argon2id hash to configure for it.
pub fn generate(name: &str) -> Result<(String, String), AuthSetupError> {
    if !valid_name(name) {
        return Err(setup(format!("{name:?}: names are 1–64 letters, digits, - or _")));
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{name}.{}", crate::domain::hex(&secret));
    let hash = Argon2::default()
        .hash_password(key.as_bytes())
        .map_err(|e| setup(format!("cannot hash: {e}")))?
        .to_string();
    Ok((key, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(name: &str, hash: &str) -> ApiKeyConfig {
        ApiKeyConfig {
            name: name.into(),
            hash: hash.into(),
            permissions: vec!["tasker.task:read@payments".into()],
        }
    }

    #[tokio::test]
    async fn a_generated_key_verifies_and_others_do_not() {
        let (key, hash) = generate("ci-bot").expect("generates");
        assert!(key.starts_with("ci-bot.") && !hash.contains(&key));
        let keys = ApiKeyAuthenticator::new(&[configured("ci-bot", &hash)]).expect("configured");
        let caller = keys.verify(&key).await.expect("verifies");
        assert_eq!(caller.subject, "api-key:ci-bot");
        assert_eq!(caller.grants.len(), 1);
        // Remembered: the second time skips argon2 and still answers the same.
        assert_eq!(
            keys.verify(&key).await.expect("verifies").subject,
            "api-key:ci-bot"
        );
        let last = if key.ends_with('0') { '1' } else { '0' };
        let wrong = format!("{}{last}", &key[..key.len() - 1]);
        assert!(keys.verify(&wrong).await.is_err());
        assert!(keys.verify("other.abc").await.is_err());
        assert!(keys.verify("no-dot").await.is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        let (_, hash) = generate("a").expect("generates");
        assert!(ApiKeyAuthenticator::new(&[configured("bad name", &hash)]).is_err());
        assert!(ApiKeyAuthenticator::new(&[configured("a", "not-a-hash")]).is_err());
        assert!(ApiKeyAuthenticator::new(&[configured("a", &hash), configured("a", &hash)]).is_err());
        let mut bad_grant = configured("a", &hash);
        bad_grant.permissions = vec!["nonsense".into()];
        assert!(ApiKeyAuthenticator::new(&[bad_grant]).is_err());
        assert!(generate("bad name").is_err());
    }
}
