//! The configuration checks that need a layer's knowledge: whether the
//! database URL names a backend, whether event patterns match the catalog,
//! whether the auth settings hold together. The pure range checks are
//! [`Config::validate`]'s.

use crate::config::{Config, ConfigError};

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Check `config` whole: ranges and consistency, then what each layer says.
pub fn check_config(config: &Config) -> Result<(), ConfigError> {
    config.validate()?;
    crate::store::backend_of(&config.database.url).map_err(|e| invalid("database.url", e.to_string()))?;
    let o = &config.observability;
    if let Some(unknown) = crate::events::first_unknown(&o.filtered_events) {
        return Err(invalid(
            "observability.filtered_events",
            format!("{unknown:?} matches no event of the catalog"),
        ));
    }
    if let Err((key, message)) = crate::telemetry::router::check_routes(&o.routes) {
        return Err(invalid(&format!("observability.{key}"), message));
    }
    crate::auth::Auth::from_config(&config.auth)
        .map(drop)
        .map_err(|e| invalid(&format!("auth.{}", e.field), e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(change: &dyn Fn(&mut Config)) -> String {
        let mut c = Config::default();
        change(&mut c);
        match check_config(&c) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn layer_checks_name_their_key() {
        assert!(check_config(&Config::default()).is_ok());
        assert_eq!(
            key_of(&|c| c.database.url = "mysql://db/x".into()),
            "database.url"
        );
        assert_eq!(
            key_of(&|c| c.observability.filtered_events = vec!["nope.*".into()]),
            "observability.filtered_events"
        );
        assert_eq!(
            key_of(&|c| {
                c.observability
                    .routes
                    .insert("step.*".into(), vec!["pager".into()]);
            }),
            "observability.routes.\"step.*\""
        );
        let mut c = Config::default();
        c.observability.filtered_events = vec!["step.handle".into(), "workflow.*".into()];
        assert!(check_config(&c).is_ok());
    }
}
