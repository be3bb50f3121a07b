//! Databases for tests: a SQLite file per test, and a fresh PostgreSQL database
//! per test when `TASKER_TEST_DATABASE_URL` names a server.

use sea_orm::{ConnectionTrait, Database};
use uuid::Uuid;

/// A database for one test; PostgreSQL databases are dropped afterwards.
pub struct TestDb {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("tasker.db").display());
        TestDb {
            url,
            postgres: None,
            _dir: Some(dir),
        }
    }

    /// `None` (with the reason printed) when no PostgreSQL is configured;
    /// under `CI=true` a missing server fails the test instead.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin) = std::env::var("TASKER_TEST_DATABASE_URL") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TASKER_TEST_DATABASE_URL is not set: the PostgreSQL suite must run in CI"
            );
            eprintln!("skipped: set TASKER_TEST_DATABASE_URL=postgres://… to run this test on PostgreSQL");
            return None;
        };
        let name = format!("tasker_t_{}", Uuid::new_v4().simple());
        let conn = Database::connect(admin.as_str())
            .await
            .expect("PostgreSQL at TASKER_TEST_DATABASE_URL is reachable");
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let mut url = reqwest::Url::parse(&admin).expect("TASKER_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(TestDb {
            url: url.to_string(),
            postgres: Some((admin, name)),
            _dir: None,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                if let Ok(conn) = Database::connect(admin.as_str()).await {
                    let _ = conn
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Define `mod $name { sqlite, postgres }` tests that run `$test(&TestDb)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $test:ident;)+) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::support::TestDb::sqlite();
                    super::$test(&db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(db) = $crate::support::TestDb::postgres().await {
                        super::$test(&db).await;
                    }
                }
            }
        )+
    };
}
