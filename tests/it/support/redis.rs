//! Redis for the tests: the suite's server, and throwaway ones to kill.

use std::time::Duration;

/// The Redis the suite uses; `None` (with the reason printed) when unset, and
/// under `CI=true` a missing Redis fails the test instead.
pub fn redis_url() -> Option<String> {
    match std::env::var("TASKER_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TASKER_TEST_REDIS_URL is not set: the Redis suite must run in CI"
            );
            eprintln!("skipped: set TASKER_TEST_REDIS_URL=redis://127.0.0.1:6379 to run the Redis tests");
            None
        }
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A throwaway `redis-server` on a free port, killed however the test ends.
pub struct ThrowawayRedis {
    child: std::process::Child,
    /// Its port.
    pub port: u16,
}

impl ThrowawayRedis {
    /// A server without persistence: a restart starts empty.
    pub fn start_on(port: u16) -> ThrowawayRedis {
        Self::start_with(port, &["--save", "", "--appendonly", "no"])
    }

    /// A server that writes every command to an append-only file in `dir`
    /// before answering: killed and started again there, it has lost nothing.
    pub fn start_durable_on(port: u16, dir: &std::path::Path) -> ThrowawayRedis {
        let dir = dir.to_str().expect("a UTF-8 path");
        Self::start_with(
            port,
            &[
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                dir,
            ],
        )
    }

    fn start_with(port: u16, args: &[&str]) -> ThrowawayRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian package redis-server)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        ThrowawayRedis { child, port }
    }

    /// Kill it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
