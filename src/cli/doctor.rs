//! `tasker doctor telemetry`: run the telemetry checks (or, with `--load`,
//! the load variant) against a running deployment and print the report.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::task::{ServerArgs, parse_template_ref, read_context};
use crate::doctor::{self, LoadPlan, Probe, Prometheus, Traces};
use crate::domain::template::DEFAULT_NAMESPACE;

#[derive(Debug, Subcommand)]
pub(super) enum DoctorCommand {
    /// Prove that a task's metrics reach Prometheus and its trace the trace
    /// backend; exit 0 when every check passes, 1 otherwise.
    Telemetry(TelemetryArgs),
}

#[derive(Debug, Args)]
pub(super) struct TelemetryArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Prometheus's base URL.
    #[arg(long, default_value = "http://127.0.0.1:9090", value_name = "URL")]
    prometheus: String,
    /// The trace backend's Jaeger query API (Jaeger's UI port).
    #[arg(long, default_value = "http://127.0.0.1:16686", value_name = "URL")]
    traces: String,
    /// The Prometheus scrape job of the Tasker replicas.
    #[arg(long, default_value = "tasker", value_name = "NAME")]
    job: String,
    /// The `service.name` of Tasker's spans.
    #[arg(long, default_value = "tasker", value_name = "NAME")]
    service: String,
    /// The template of the tasks to create: NAMESPACE/NAME[@VERSION] or NAME.
    #[arg(long, default_value = "hello_world", value_name = "TEMPLATE")]
    template: String,
    /// Their context: JSON text, or @FILE.
    #[arg(long, default_value = "{}", value_name = "JSON")]
    context: String,
    /// How long each wait (task, scrape, trace) may take, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    timeout: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The load variant: many concurrent createTask calls, judged from the
    /// telemetry (latency, error rate, throughput, the slowest traces).
    #[arg(long)]
    load: bool,
    /// createTask calls in all (with --load).
    #[arg(long, default_value_t = 200, value_name = "N")]
    requests: usize,
    /// Calls in flight at once (with --load).
    #[arg(long, default_value_t = 16, value_name = "N")]
    concurrency: usize,
    /// Slowest traces to list (with --load).
    #[arg(long, default_value_t = 5, value_name = "N")]
    slowest: usize,
    /// The highest share of failed requests that passes, 0 to 1 (with --load).
    #[arg(long, default_value_t = 0.01, value_name = "SHARE")]
    max_error_rate: f64,
    /// Fail when Prometheus's p95 createTask latency is above this (with --load).
    #[arg(long, value_name = "MS")]
    max_p95_ms: Option<u64>,
}

pub(super) async fn run(command: DoctorCommand) -> anyhow::Result<ExitCode> {
    let DoctorCommand::Telemetry(args) = command;
    let template = parse_template_ref(&args.template)?;
    if !(0.0..=1.0).contains(&args.max_error_rate) {
        anyhow::bail!("--max-error-rate must be between 0 and 1");
    }
    let probe = Probe {
        client: args.server.client(),
        prometheus: Prometheus::new(&args.prometheus),
        traces: Traces::new(&args.traces),
        job: args.job,
        service: args.service,
        namespace: template.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
        name: template.name,
        version: template.version,
        context: read_context(&args.context)?,
        timeout: Duration::from_secs(args.timeout),
    };
    let report = if args.load {
        let plan = LoadPlan {
            requests: args.requests,
            concurrency: args.concurrency,
            slowest: args.slowest,
            max_error_rate: args.max_error_rate,
            max_p95: args.max_p95_ms.map(Duration::from_millis),
        };
        doctor::load(&probe, &plan).await
    } else {
        doctor::validate(&probe).await
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
