//! A database outage: a throwaway PostgreSQL (initdb + pg_ctl on a free port)
//! stopped mid-run. The replica reports not-ready, retries with backoff,
//! resumes when the server returns, and loses or repeats nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::{TestApp, TestDb, completed_once, free_port, test_config};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster of its own in a temporary directory.
struct ThrowawayPostgres {
    dir: tempfile::TempDir,
    port: u16,
}

/// Run a PostgreSQL tool as the `postgres` user (initdb refuses root).
fn as_postgres(tool: &str, args: &[&str]) -> bool {
    let tool = format!("{BIN}/{tool}");
    let mut command = if rustix::process::geteuid().is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &tool]);
        c
    } else {
        Command::new(&tool)
    };
    command
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl ThrowawayPostgres {
    fn start() -> ThrowawayPostgres {
        let dir = tempfile::tempdir().expect("temp dir");
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(dir.path(), Some(postgres_id("-u")), Some(postgres_id("-g")))
                .expect("chown the cluster's directory to postgres");
        }
        let port = free_port();
        let data = data_dir(dir.path());
        assert!(
            as_postgres("initdb", &["-D", &data, "-A", "trust", "-U", "postgres"]),
            "initdb of a throwaway cluster"
        );
        let pg = ThrowawayPostgres { dir, port };
        pg.up();
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let data = data_dir(self.dir.path());
        assert!(
            as_postgres(
                "pg_ctl",
                &["-D", &data, "-o", &options, "-w", "-t", "30", "start"]
            ),
            "pg_ctl start"
        );
    }

    fn down(&self) {
        let data = data_dir(self.dir.path());
        assert!(
            as_postgres("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]),
            "pg_ctl stop"
        );
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let data = data_dir(self.dir.path());
        let _ = as_postgres("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

fn data_dir(dir: &Path) -> String {
    PathBuf::from(dir).join("data").display().to_string()
}

/// The `postgres` user's uid (`-u`) or gid (`-g`).
fn postgres_id(flag: &str) -> u32 {
    let out = Command::new("id").args([flag, "postgres"]).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a numeric id")
}

async fn ready(app: &TestApp) -> u16 {
    app.get("/health/ready").await.status().as_u16()
}

async fn wait_ready(app: &TestApp, want: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ready(app).await != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/health/ready never answered {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_database_outage_mid_run_loses_and_repeats_nothing() {
    // The PostgreSQL suite's switch: without it (and outside CI) this is skipped.
    if TestDb::postgres().await.is_none() {
        return;
    }
    let pg = ThrowawayPostgres::start();
    let mut config = test_config(&TestDb::sqlite());
    config.database.url = pg.url();
    // Leases outlast the outage: this is about the database, not lost replicas.
    config.engine.lease_seconds = 30;
    let app = TestApp::spawn(config).await;
    app.tasker
        .register_template(
            "name: outage
steps:
  - {name: a, handler: noop}
  - {name: b, handler: sleep, config: {ms: 1500}, depends_on: [a]}
  - {name: c, handler: noop, depends_on: [b]}
",
            false,
        )
        .await
        .expect("registers");
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(app.create_task("outage", json!({"i": i})).await);
    }
    wait_ready(&app, 200).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Down while the sleeps run: their outcomes arrive with no database.
    pg.down();
    wait_ready(&app, 503).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.up();
    wait_ready(&app, 200).await;

    for id in &ids {
        let done = app
            .wait_until(
                "query($id: ID!) { task(id: $id) { status steps { name status attempts } } }",
                json!({"id": id}),
                |d| d["data"]["task"]["status"] == "COMPLETE",
            )
            .await;
        assert_eq!(done["data"]["task"]["status"], "COMPLETE", "{done}");
    }
    let tasker = &app.tasker;
    for id in &ids {
        let detail = completed_once(tasker, id.parse().expect("uuid")).await;
        for step in &detail.steps {
            assert_eq!(step.attempts, 1, "{}: the outage cost no attempt", step.name);
        }
    }
    app.stop().await;
}
