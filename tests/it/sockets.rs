//! Sockets are opened with TCP_NODELAY: without it, Nagle's algorithm and
//! delayed ACKs hold back some PostgreSQL messages and websocket frames for
//! ~40 ms (sqlx 0.9.0 dropped the option; vendor/sqlx-core restores it).

use std::net::SocketAddr;

use rustix::net::{getpeername, getsockname, sockopt};
use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};
use sea_orm::ConnectionTrait;

use crate::support::{TestApp, TestDb, open_store, test_config};

/// One TCP socket of this process.
struct Tcp {
    local: SocketAddr,
    peer: SocketAddr,
    nodelay: bool,
}

/// This process's TCP sockets, read through duplicates of its own descriptors
/// (no unsafe code needed).
fn tcp_sockets() -> Vec<Tcp> {
    let me = pidfd_open(getpid(), PidfdFlags::empty()).expect("pidfd of this process");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let Ok(entry) = entry else { continue };
        let Some(raw) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // Descriptors of other tests come and go: skip whatever vanished.
        let Ok(fd) = pidfd_getfd(&me, raw, PidfdGetfdFlags::empty()) else {
            continue;
        };
        let (Ok(Some(peer)), Ok(local)) = (getpeername(&fd), getsockname(&fd)) else {
            continue;
        };
        let (Ok(peer), Ok(local), Ok(nodelay)) = (
            SocketAddr::try_from(peer),
            SocketAddr::try_from(local),
            sockopt::tcp_nodelay(&fd),
        ) else {
            continue;
        };
        found.push(Tcp { local, peer, nodelay });
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_turn_nagle_off() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let port = reqwest::Url::parse(&db.url)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(5432);
    let store = open_store(&db).await;
    store
        .writer()
        .execute_unprepared("SELECT 1")
        .await
        .expect("a query");
    let database: Vec<bool> = tcp_sockets()
        .into_iter()
        .filter(|s| s.peer.port() == port)
        .map(|s| s.nodelay)
        .collect();
    assert!(
        !database.is_empty(),
        "the store holds at least one PostgreSQL socket"
    );
    assert!(
        database.iter().all(|&nodelay| nodelay),
        "every PostgreSQL socket has TCP_NODELAY: {database:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_http_connections_turn_nagle_off() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    let port = reqwest::Url::parse(&app.base)
        .ok()
        .and_then(|u| u.port())
        .expect("the app's base URL has a port");
    // The client keeps the connection open, so the server's end is still there.
    let response = app.client.get(format!("{}/health/live", app.base)).send().await;
    assert!(response.expect("health answers").status().is_success());
    let served: Vec<bool> = tcp_sockets()
        .into_iter()
        .filter(|s| s.local.port() == port)
        .map(|s| s.nodelay)
        .collect();
    assert!(!served.is_empty(), "the server holds the accepted connection");
    assert!(
        served.iter().all(|&nodelay| nodelay),
        "every accepted connection has TCP_NODELAY: {served:?}"
    );
}
