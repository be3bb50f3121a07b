//! `tasker token issue`: a development token signed with the configured HMAC
//! secret (`[auth] secret`, e.g. from `TASKER_AUTH__SECRET`).

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;

use crate::auth::jwt;
use crate::config::Config;

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
    let TokenCommand::Issue {
        permissions,
        ttl,
        subject,
    } = command;
    let token = jwt::issue(&config.auth, &subject, &permissions, seconds(&ttl)?)?;
    println!("{token}");
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
