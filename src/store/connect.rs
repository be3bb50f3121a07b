//! Opening the database: pools per backend and migrations.
//!
//! SQLite file: one writer connection (WAL, `BEGIN IMMEDIATE`) so writes queue in
//! the pool instead of spinning on the busy handler, plus a pool of readers.
//! `sqlite::memory:` is one connection for both (each connection would be a new
//! database). PostgreSQL: one pool for both.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use tasker_migration::{Migrator, MigratorTrait};

use super::error::{Error, Result};

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://…`.
    pub url: String,
    /// Pool size (readers on SQLite).
    pub max_connections: u32,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
    /// Give up waiting for a free pooled connection after this long.
    pub acquire_timeout: Duration,
}

impl ConnectSettings {
    /// The settings of `[database]`.
    pub fn from_config(config: &crate::config::DatabaseConfig) -> Self {
        Self {
            url: config.url.clone(),
            max_connections: config.max_connections,
            connect_timeout: Duration::from_secs(config.connect_timeout_seconds),
            acquire_timeout: Duration::from_secs(config.acquire_timeout_seconds),
        }
    }

    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// Which backend a URL names; anything else is refused with the URL's scheme.
pub fn backend_of(url: &str) -> Result<DbBackend> {
    if url.starts_with("sqlite:") {
        Ok(DbBackend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DbBackend::Postgres)
    } else {
        let scheme = url.split(':').next().unwrap_or_default();
        Err(Error::Database(sea_orm::DbErr::Custom(format!(
            "unsupported database URL scheme {scheme:?}: use sqlite://FILE?mode=rwc, sqlite::memory: or postgres://…"
        ))))
    }
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

pub(super) struct Pools {
    pub write: DatabaseConnection,
    pub read: DatabaseConnection,
    pub backend: DbBackend,
    pub shared: bool,
}

pub(super) async fn open(settings: &ConnectSettings) -> Result<Pools> {
    match backend_of(&settings.url)? {
        DbBackend::Sqlite => open_sqlite(settings).await,
        _ => {
            let mut opts = base_options(settings);
            opts.max_connections(settings.max_connections.max(2))
                .min_connections(1);
            let conn = Database::connect(opts).await?;
            Ok(Pools {
                write: conn.clone(),
                read: conn,
                backend: DbBackend::Postgres,
                shared: true,
            })
        }
    }
}

fn base_options(settings: &ConnectSettings) -> ConnectOptions {
    let mut opts = ConnectOptions::new(settings.url.clone());
    opts.connect_timeout(settings.connect_timeout)
        .acquire_timeout(settings.acquire_timeout)
        // sqlx logs every statement at INFO otherwise
        .sqlx_logging(false);
    opts
}

async fn open_sqlite(settings: &ConnectSettings) -> Result<Pools> {
    let parsed = SqliteConnectOptions::from_str(&settings.url)
        .map_err(|e| Error::Database(sea_orm::DbErr::Custom(format!("bad SQLite URL: {e}"))))?;
    let memory = is_memory(&settings.url);
    if !memory && let Some(dir) = Path::new(parsed.get_filename()).parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Database(sea_orm::DbErr::Custom(format!(
                "cannot create {}: {e}",
                dir.display()
            )))
        })?;
    }
    let mut writer = base_options(settings);
    writer
        .max_connections(1)
        .min_connections(1)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    let write = Database::connect(writer).await?;
    let read = if memory {
        write.clone()
    } else {
        let mut reader = base_options(settings);
        reader
            .max_connections(settings.max_connections.max(1))
            .map_sqlx_sqlite_opts(|o| {
                o.busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .read_only(true)
            });
        // Readers open lazily: the file may not exist until the writer created it.
        reader.connect_lazy(true);
        Database::connect(reader).await?
    };
    Ok(Pools {
        write,
        read,
        backend: DbBackend::Sqlite,
        shared: memory,
    })
}

/// Apply every pending migration.
pub(super) async fn migrate(conn: &DatabaseConnection) -> Result<()> {
    Migrator::up(conn, None).await.map_err(Error::from)
}

/// Names of migrations not yet applied.
pub(super) async fn pending_migrations(conn: &DatabaseConnection) -> Result<Vec<String>> {
    let pending = Migrator::get_pending_migrations_read_only(conn).await?;
    Ok(pending.iter().map(|m| m.name().to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_recognized_by_scheme() {
        assert_eq!(backend_of("sqlite::memory:").ok(), Some(DbBackend::Sqlite));
        assert_eq!(backend_of("postgres://u@h/db").ok(), Some(DbBackend::Postgres));
        let err = backend_of("mysql://x").expect_err("unsupported");
        assert!(err.to_string().contains("mysql"), "{err}");
    }
}
