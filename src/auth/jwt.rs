//! Bearer JWTs: HS256/384/512 with a shared secret, RS256/384/512, PS256/384/512
//! and ES256/384 with a PEM public key or a JWKS file. The algorithm is fixed
//! by configuration, so a token cannot choose it (`alg: none` and HMAC-with-
//! the-public-key confusion are refused); issuer, audience, expiry and
//! not-before are checked with a small leeway. Permissions come from a claim
//! (`permissions` by default): a list of strings or one space-separated string.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use serde_json::{Map, Value, json};

use super::{AuthError, AuthSetupError, Authenticator, Caller, Credentials, Grant};
use crate::config::AuthConfig;

/// Shortest HMAC secret accepted (bytes): 256 bits, as RFC 7518 requires for HS256.
pub const MIN_SECRET_BYTES: usize = 32;

enum Keys {
    One(DecodingKey),
    /// By key id; a token must name one (`kid`).
    Set(Vec<(String, DecodingKey)>),
}

/// Verifies bearer JWTs.
pub struct JwtAuthenticator {
    keys: Keys,
    validation: Validation,
    permissions_claim: String,
}

fn setup(field: &'static str, message: impl Into<String>) -> AuthSetupError {
    AuthSetupError {
        field,
        message: message.into(),
    }
}

/// The configured algorithm, parsed.
pub fn algorithm(config: &AuthConfig) -> Result<Algorithm, AuthSetupError> {
    let algorithm: Algorithm = config.algorithm.parse().map_err(|_| {
        setup(
            "algorithm",
            format!("{:?} is not a JWT algorithm", config.algorithm),
        )
    })?;
    if matches!(algorithm, Algorithm::EdDSA) {
        return Err(setup(
            "algorithm",
            "EdDSA is not supported; use HS*, RS*, PS* or ES*",
        ));
    }
    Ok(algorithm)
}

fn is_hmac(algorithm: Algorithm) -> bool {
    matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn read(field: &'static str, path: &str) -> Result<Vec<u8>, AuthSetupError> {
    std::fs::read(path).map_err(|e| setup(field, format!("cannot read {path}: {e}")))
}

impl JwtAuthenticator {
    /// From `[auth]`; every problem names its setting.
    pub fn from_config(config: &AuthConfig) -> Result<Self, AuthSetupError> {
        let algorithm = algorithm(config)?;
        let keys = if is_hmac(algorithm) {
            if !config.public_key_file.is_empty() || !config.jwks_file.is_empty() {
                return Err(setup(
                    "secret",
                    format!("{algorithm:?} takes a secret, not public keys"),
                ));
            }
            if config.secret.len() < MIN_SECRET_BYTES {
                return Err(setup(
                    "secret",
                    format!("at least {MIN_SECRET_BYTES} bytes for {algorithm:?}"),
                ));
            }
            Keys::One(DecodingKey::from_secret(config.secret.as_bytes()))
        } else {
            if !config.secret.is_empty() {
                return Err(setup(
                    "secret",
                    format!("{algorithm:?} takes a public key, not a secret"),
                ));
            }
            match (config.public_key_file.is_empty(), config.jwks_file.is_empty()) {
                (false, true) => {
                    let pem = read("public_key_file", &config.public_key_file)?;
                    let key = match algorithm {
                        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
                        _ => DecodingKey::from_rsa_pem(&pem),
                    }
                    .map_err(|e| setup("public_key_file", format!("not a {algorithm:?} public key: {e}")))?;
                    Keys::One(key)
                }
                (true, false) => {
                    let text = read("jwks_file", &config.jwks_file)?;
                    let set: JwkSet = serde_json::from_slice(&text)
                        .map_err(|e| setup("jwks_file", format!("not a JWK set: {e}")))?;
                    let mut keys = Vec::new();
                    for jwk in &set.keys {
                        let Some(kid) = jwk.common.key_id.clone() else {
                            return Err(setup("jwks_file", "every key needs a kid"));
                        };
                        let key = DecodingKey::from_jwk(jwk)
                            .map_err(|e| setup("jwks_file", format!("key {kid}: {e}")))?;
                        keys.push((kid, key));
                    }
                    if keys.is_empty() {
                        return Err(setup("jwks_file", "the set has no keys"));
                    }
                    Keys::Set(keys)
                }
                _ => {
                    return Err(setup(
                        "public_key_file",
                        format!("{algorithm:?} needs exactly one of public_key_file and jwks_file"),
                    ));
                }
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = config.leeway_seconds;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if config.issuer.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&[config.issuer.as_str()]);
            validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        }
        if config.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&[config.audience.as_str()]);
        }
        Ok(Self {
            keys,
            validation,
            permissions_claim: config.permissions_claim.clone(),
        })
    }

    fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let invalid = |reason: &str| AuthError::InvalidToken(reason.to_owned());
        let header = decode_header(token).map_err(|e| AuthError::InvalidToken(reason(e.kind())))?;
        let key = match &self.keys {
            Keys::One(key) => key,
            Keys::Set(keys) => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| invalid("no kid in the header"))?;
                &keys
                    .iter()
                    .find(|(k, _)| k == kid)
                    .ok_or_else(|| invalid("unknown kid"))?
                    .1
            }
        };
        let claims = decode::<Map<String, Value>>(token, key, &self.validation)
            .map_err(|e| AuthError::InvalidToken(reason(e.kind())))?
            .claims;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("no subject"))?
            .to_owned();
        let grants = match claims.get(&self.permissions_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(list)) => parse_grants(list.split_whitespace())?,
            Some(Value::Array(list)) => {
                let texts: Option<Vec<&str>> = list.iter().map(Value::as_str).collect();
                parse_grants(
                    texts
                        .ok_or_else(|| invalid("permissions must be strings"))?
                        .into_iter(),
                )?
            }
            Some(_) => return Err(invalid("permissions must be a list of strings")),
        };
        Ok(Caller { subject, grants })
    }
}

fn parse_grants<'a>(texts: impl Iterator<Item = &'a str>) -> Result<Vec<Grant>, AuthError> {
    texts
        .map(|t| Grant::parse(t).map_err(|e| AuthError::InvalidToken(e.to_string())))
        .collect()
}

/// Why a token failed, in words that reveal nothing about it.
fn reason(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not valid yet (nbf)",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => "algorithm not accepted",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(_) => "a required claim (exp, sub, iss) is missing",
        _ => "malformed",
    }
    .to_owned()
}

#[async_trait]
impl Authenticator for JwtAuthenticator {
    fn name(&self) -> &str {
        "jwt"
    }

    async fn authenticate(&self, credentials: &Credentials) -> Option<Result<Caller, AuthError>> {
        match credentials {
            Credentials::Bearer(token) => Some(self.verify(token)),
            Credentials::ApiKey(_) => None,
        }
    }
}

/// A token signed with the configured HMAC secret, for development
/// (`tasker token issue`).
pub fn issue(
    config: &AuthConfig,
    subject: &str,
    permissions: &[String],
    ttl_seconds: u64,
) -> Result<String, AuthSetupError> {
    let algorithm = algorithm(config)?;
    if !is_hmac(algorithm) {
        return Err(setup(
            "algorithm",
            format!("tokens can be issued here only with HS*; {algorithm:?} needs the private key"),
        ));
    }
    if config.secret.len() < MIN_SECRET_BYTES {
        return Err(setup("secret", format!("at least {MIN_SECRET_BYTES} bytes")));
    }
    for permission in permissions {
        Grant::parse(permission).map_err(|e| setup("permissions", e.to_string()))?;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut claims = json!({
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(ttl_seconds),
    });
    claims[config.permissions_claim.as_str()] = json!(permissions);
    if !config.issuer.is_empty() {
        claims["iss"] = json!(config.issuer);
    }
    if !config.audience.is_empty() {
        claims["aud"] = json!(config.audience);
    }
    encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(config.secret.as_bytes()),
    )
    .map_err(|e| setup("secret", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/auth/testdata");

    fn config(algorithm: &str) -> AuthConfig {
        AuthConfig {
            enabled: true,
            algorithm: algorithm.into(),
            ..AuthConfig::default()
        }
    }

    fn hmac() -> AuthConfig {
        AuthConfig {
            secret: SECRET.into(),
            issuer: "iss".into(),
            audience: "aud".into(),
            ..config("HS256")
        }
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn claims(extra: Value) -> Value {
        let mut c = json!({"sub": "s", "iss": "iss", "aud": "aud", "exp": now() + 60, "permissions": ["tasker.task:read"]});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    }

    fn sign(header: Header, claims: &Value, key: &EncodingKey) -> String {
        encode(&header, claims, key).expect("signs")
    }

    fn verify(config: &AuthConfig, token: &str) -> Result<Caller, AuthError> {
        JwtAuthenticator::from_config(config)
            .expect("configured")
            .verify(token)
    }

    fn refused(config: &AuthConfig, token: &str) -> String {
        match verify(config, token) {
            Ok(caller) => panic!("accepted as {}", caller.subject),
            Err(AuthError::InvalidToken(reason)) => reason,
        }
    }

    #[test]
    fn hmac_tokens_are_checked_for_issuer_audience_time_and_signature() {
        let config = hmac();
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        let good = sign(Header::default(), &claims(json!({})), &key);
        let caller = verify(&config, &good).expect("accepted");
        assert_eq!(caller.subject, "s");
        assert_eq!(
            caller.grants,
            vec![Grant::parse("tasker.task:read").expect("grant")]
        );
        let expired = sign(Header::default(), &claims(json!({"exp": now() - 120})), &key);
        assert_eq!(refused(&config, &expired), "expired");
        let within_leeway = sign(Header::default(), &claims(json!({"exp": now() - 5})), &key);
        assert!(verify(&config, &within_leeway).is_ok());
        let early = sign(Header::default(), &claims(json!({"nbf": now() + 120})), &key);
        assert_eq!(refused(&config, &early), "not valid yet (nbf)");
        assert_eq!(
            refused(
                &config,
                &sign(Header::default(), &claims(json!({"iss": "other"})), &key)
            ),
            "wrong issuer"
        );
        assert_eq!(
            refused(
                &config,
                &sign(Header::default(), &claims(json!({"aud": "other"})), &key)
            ),
            "wrong audience"
        );
        let other_key = EncodingKey::from_secret(b"another secret of thirty-two bytes!!");
        assert_eq!(
            refused(&config, &sign(Header::default(), &claims(json!({})), &other_key)),
            "bad signature"
        );
        let scope_string = sign(
            Header::default(),
            &claims(json!({"permissions": "tasker.task:read tasker.step:claim"})),
            &key,
        );
        assert_eq!(verify(&config, &scope_string).expect("accepted").grants.len(), 2);
        let bad_grant = sign(
            Header::default(),
            &claims(json!({"permissions": ["nonsense"]})),
            &key,
        );
        assert!(refused(&config, &bad_grant).contains("nonsense"));
        let no_subject = sign(
            Header::default(),
            &json!({"iss": "iss", "aud": "aud", "exp": now() + 60}),
            &key,
        );
        assert!(refused(&config, &no_subject).contains("claim"));
        let payload = good.split('.').nth(1).expect("payload");
        // `alg: none` is not even a header this library parses.
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(refused(&config, &unsigned), "malformed");
        assert_eq!(refused(&config, "not a token"), "malformed");
    }

    #[test]
    fn public_key_algorithms_verify_with_pem_or_jwks_and_refuse_confusion() {
        let rsa_private = std::fs::read(format!("{DIR}/rsa_private.pem")).expect("key");
        let rsa_key = EncodingKey::from_rsa_pem(&rsa_private).expect("RSA key");
        let rs256 = AuthConfig {
            public_key_file: format!("{DIR}/rsa_public.pem"),
            ..config("RS256")
        };
        let token = sign(Header::new(Algorithm::RS256), &claims(json!({})), &rsa_key);
        assert!(verify(&rs256, &token).is_ok());
        // The classic confusion: HS256 "signed" with the public key as secret.
        let public = std::fs::read(format!("{DIR}/rsa_public.pem")).expect("key");
        let forged = sign(
            Header::default(),
            &claims(json!({})),
            &EncodingKey::from_secret(&public),
        );
        assert_eq!(refused(&rs256, &forged), "algorithm not accepted");

        let jwks = AuthConfig {
            jwks_file: format!("{DIR}/jwks.json"),
            ..config("RS256")
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("test-rsa-1".into());
        assert!(verify(&jwks, &sign(header.clone(), &claims(json!({})), &rsa_key)).is_ok());
        header.kid = Some("someone-else".into());
        assert_eq!(
            refused(&jwks, &sign(header, &claims(json!({})), &rsa_key)),
            "unknown kid"
        );
        assert_eq!(refused(&jwks, &token), "no kid in the header");

        let ec_private = std::fs::read(format!("{DIR}/ec_private.pem")).expect("key");
        let es256 = AuthConfig {
            public_key_file: format!("{DIR}/ec_public.pem"),
            ..config("ES256")
        };
        let ec_key = EncodingKey::from_ec_pem(&ec_private).expect("EC key");
        assert!(
            verify(
                &es256,
                &sign(Header::new(Algorithm::ES256), &claims(json!({})), &ec_key)
            )
            .is_ok()
        );
        assert_eq!(refused(&es256, &token), "algorithm not accepted");
    }

    #[test]
    fn unusable_settings_name_their_key() {
        let field = |c: AuthConfig| JwtAuthenticator::from_config(&c).err().map(|e| e.field);
        assert_eq!(field(config("HS256")), Some("secret"));
        assert_eq!(field(config("XS999")), Some("algorithm"));
        assert_eq!(field(config("RS256")), Some("public_key_file"));
        let both = AuthConfig {
            secret: SECRET.into(),
            public_key_file: format!("{DIR}/rsa_public.pem"),
            ..config("RS256")
        };
        assert_eq!(field(both), Some("secret"));
        let missing = AuthConfig {
            public_key_file: "/nonexistent.pem".into(),
            ..config("RS256")
        };
        assert_eq!(field(missing), Some("public_key_file"));
    }

    #[test]
    fn issued_tokens_verify_and_carry_their_permissions() {
        let hs256 = hmac();
        let token = issue(&hs256, "dev", &["tasker.task:create@payments".into()], 60).expect("issues");
        let caller = verify(&hs256, &token).expect("accepted");
        assert_eq!(caller.subject, "dev");
        assert!(issue(&hs256, "dev", &["bad".into()], 60).is_err());
        assert!(issue(&config("RS256"), "dev", &[], 60).is_err());
    }
}
