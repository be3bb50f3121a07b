//! `tasker healthcheck`: exit 0 when the server's `/health/ready` answers 200.
//! Container images use it as their HEALTHCHECK, so they need no curl.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::Config;

#[derive(Debug, Args)]
pub(super) struct HealthcheckArgs {
    /// The readiness URL (default: /health/ready on the configured listen address).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3, value_name = "SECONDS")]
    timeout: u64,
}

/// Where a server listening on `listen` answers locally.
fn local_url(listen: SocketAddr) -> String {
    let mut address = listen;
    if address.ip().is_unspecified() {
        address.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    format!("http://{address}/health/ready")
}

pub(super) async fn run(args: HealthcheckArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let url = match args.url {
        Some(url) => url,
        None => local_url(config.listen_addr()?),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout))
        .build()?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            eprintln!("{url}: {status} {body}");
            Ok(ExitCode::FAILURE)
        }
        Err(error) => {
            eprintln!("{url}: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_checked_on_loopback() {
        let any: SocketAddr = "0.0.0.0:8080".parse().expect("address");
        assert_eq!(local_url(any), "http://127.0.0.1:8080/health/ready");
        let one: SocketAddr = "10.0.0.5:9000".parse().expect("address");
        assert_eq!(local_url(one), "http://10.0.0.5:9000/health/ready");
    }
}
