//! `tasker token issue`: a development token signed with the configured HMAC
//! secret (`[auth] secret`, e.g. from `TASKER_AUTH__SECRET`).
//! `tasker token api-key`: a new API key and its configuration entry.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;

use crate::auth::{Grant, api_key, jwt};
use crate::config::{ApiKeyConfig, Config};

#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
    /// Print a signed JWT granting the given permissions.
    Issue {
        /// Permission to grant, e.g. tasker.task:create@payments (repeatable).
        #[arg(long = "permission", value_name = "PERMISSION", required = true)]
        permissions: Vec<String>,
        /// Lifetime: seconds, or with a unit (30m, 12h, 7d).
        #[arg(long, default_value = "1h", value_name = "DURATION")]
        ttl: String,
        /// The token's subject.
        #[arg(long, default_value = "developer")]
        subject: String,
    },
    /// Make an API key: prints the key (give it to the client; it is stored
    /// nowhere) and the `[[auth.api_keys]]` entry with its argon2id hash.
    ApiKey {
        /// The key's name (letters, digits, - and _).
        #[arg(long)]
        name: String,
        /// Permission to grant (repeatable).
        #[arg(long = "permission", value_name = "PERMISSION", required = true)]
        permissions: Vec<String>,
    },
}

/// `90`, `90s`, `30m`, `12h`, `7d` → seconds.
fn seconds(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c),
        _ => (text, 's'),
    };
    let Ok(n) = number.parse::<u64>() else {
        bail!("--ttl {text:?}: expected a number with an optional unit s, m, h or d");
    };
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        other => bail!("--ttl {text:?}: unknown unit {other:?} (s, m, h or d)"),
    };
    match n.checked_mul(factor) {
        Some(0) | None => bail!("--ttl {text:?}: must be positive and sensible"),
        Some(s) => Ok(s),
    }
}

pub(super) fn run(command: TokenCommand, config: &Config) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Issue {
            permissions,
            ttl,
            subject,
        } => {
            let token = jwt::issue(&config.auth, &subject, &permissions, seconds(&ttl)?)?;
            println!("{token}");
        }
        TokenCommand::ApiKey { name, permissions } => {
            for permission in &permissions {
                Grant::parse(permission)?;
            }
            let (key, hash) = api_key::generate(&name)?;
            let entry = toml::to_string(&ApiKeyConfig {
                name,
                hash,
                permissions,
            })?;
            println!("{key}");
            eprintln!(
                "Give the key above to its client; add this to the configuration:\n\n[[auth.api_keys]]\n{entry}"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_take_units() {
        assert_eq!(seconds("90").ok(), Some(90));
        assert_eq!(seconds("30m").ok(), Some(1_800));
        assert_eq!(seconds("7d").ok(), Some(604_800));
        for bad in ["", "0", "h", "5w", "-1", "99999999999999999999d"] {
            assert!(seconds(bad).is_err(), "{bad:?}");
        }
    }
}
