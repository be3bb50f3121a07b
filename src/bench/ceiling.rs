//! The PostgreSQL ceiling: what the same server does with the simplest durable
//! work there is, one INSERT per transaction (`pgbench`), at the number of
//! clients the engine benchmark wrote with. An engine that commits once per
//! step could reach this rate at best; batching is how it goes past it.

use std::io::Write;
use std::process::Command;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;

/// The scratch table pgbench inserts into (dropped afterwards).
const TABLE: &str = "tasker_bench_ceiling";

/// What pgbench measured.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    /// Concurrent pgbench clients.
    pub clients: usize,
    /// Seconds it ran.
    pub seconds: u64,
    /// Committed transactions per second (without connection time).
    pub tps: f64,
    /// Mean latency per transaction.
    pub latency_ms: Option<f64>,
}

/// Why there is no ceiling figure.
#[derive(Debug, thiserror::Error)]
pub enum CeilingError {
    /// pgbench could not be started (not installed, most likely).
    #[error("pgbench could not be started ({0}); install PostgreSQL's client tools")]
    Missing(std::io::Error),
    /// pgbench ran and failed.
    #[error("pgbench failed: {0}")]
    Failed(String),
    /// The scratch table or script could not be prepared.
    #[error("preparing the pgbench run: {0}")]
    Setup(String),
}

/// The script: one autocommitted INSERT, i.e. one transaction and one WAL flush.
fn script() -> String {
    format!("INSERT INTO {TABLE} (at) VALUES (now());\n")
}

/// `tps = 1308.29 (without initial connection time)` and `latency average = 0.764 ms`.
pub fn parse_report(stdout: &str) -> Option<(f64, Option<f64>)> {
    let number_after = |prefix: &str| {
        stdout.lines().find_map(|line| {
            let rest = line.trim().strip_prefix(prefix)?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
    };
    let tps = number_after("tps = ")?;
    Some((tps, number_after("latency average = ")))
}

/// Run pgbench for `seconds` with `clients` clients against `url` (a libpq
/// URI), using a scratch table created and dropped through `db`.
pub async fn measure(
    db: &DatabaseConnection,
    url: &str,
    clients: usize,
    seconds: u64,
) -> Result<Ceiling, CeilingError> {
    let setup = |e: sea_orm::DbErr| CeilingError::Setup(e.to_string());
    db.execute_unprepared(&format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, at timestamptz NOT NULL)"
    ))
    .await
    .map_err(setup)?;
    let url = url.to_owned();
    let clients = clients.max(1);
    let run = tokio::task::spawn_blocking(move || run_pgbench(&url, clients, seconds))
        .await
        .map_err(|e| CeilingError::Setup(e.to_string()))
        .and_then(|r| r);
    db.execute_unprepared(&format!("DROP TABLE IF EXISTS {TABLE}"))
        .await
        .map_err(setup)?;
    let (tps, latency_ms) = run?;
    Ok(Ceiling {
        clients,
        seconds,
        tps,
        latency_ms,
    })
}

fn run_pgbench(url: &str, clients: usize, seconds: u64) -> Result<(f64, Option<f64>), CeilingError> {
    let path = std::env::temp_dir().join(format!("tasker-ceiling-{}.sql", std::process::id()));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(script().as_bytes()))
        .map_err(|e| CeilingError::Setup(format!("{}: {e}", path.display())))?;
    let output = Command::new("pgbench")
        .arg("--no-vacuum")
        .arg("--file")
        .arg(&path)
        .args(["--client", &clients.to_string()])
        .args(["--jobs", &clients.to_string()])
        .args(["--time", &seconds.max(1).to_string()])
        .arg(url)
        .output();
    let _ = std::fs::remove_file(&path);
    let output = output.map_err(CeilingError::Missing)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(CeilingError::Failed(stderr.trim().to_owned()));
    }
    parse_report(&stdout).ok_or_else(|| CeilingError::Failed(format!("no tps in its report: {stdout}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_gives_tps_and_mean_latency() {
        let report = "pgbench (15.14 (Debian 15.14-0+deb12u1))\n\
            transaction type: /tmp/ins.sql\n\
            number of clients: 8\n\
            latency average = 0.733 ms\n\
            initial connection time = 10.466 ms\n\
            tps = 10916.587955 (without initial connection time)\n";
        assert_eq!(parse_report(report), Some((10916.587955, Some(0.733))));
    }

    #[test]
    fn a_report_without_tps_is_no_figure() {
        assert_eq!(parse_report("pgbench: error: connection failed\n"), None);
        assert_eq!(parse_report("tps = lots\n"), None);
    }

    #[test]
    fn the_script_is_one_autocommitted_insert() {
        let s = script();
        assert_eq!(s.lines().count(), 1);
        assert!(s.starts_with("INSERT INTO tasker_bench_ceiling"));
    }
}
