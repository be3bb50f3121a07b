//! `tasker bench --api` and `--fanout`: the whole service in this process,
//! measured over HTTP and websockets.

use std::process::ExitCode;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::bench::{BenchArgs, backend_name};
use crate::bench::{self, Shape};
use crate::config::Config;
use crate::handlers::HandlerRegistry;
use crate::service::Tasker;

/// The whole service (engine, GraphQL over HTTP) in this process, on a free port.
struct InProcess {
    tasker: Tasker,
    /// `http://127.0.0.1:port`
    base: String,
    backend: String,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<Result<(), crate::app::StartError>>,
}

impl InProcess {
    async fn start(config: &Config) -> anyhow::Result<InProcess> {
        let app = crate::app::App::build(config, HandlerRegistry::with_builtins()).await?;
        let tasker = app.tasker().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let cancel = CancellationToken::new();
        let server = tokio::spawn(app.serve_on(listener, cancel.clone()));
        let backend = backend_name(&tasker);
        Ok(InProcess {
            tasker,
            base,
            backend,
            cancel,
            server,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.cancel.cancel();
        self.server.await??;
        Ok(())
    }
}

pub(super) async fn run_fanout(args: BenchArgs, config: Config) -> anyhow::Result<ExitCode> {
    let service = InProcess::start(&config).await?;
    let run = bench::fanout::run(&service.tasker, &service.base, args.subscribers).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"backend": service.backend, "fanout": run}))?
        );
    } else {
        let (d, c) = (&run.delivery, &run.completion);
        println!(
            "{} · {} taskUpdated subscribers, one websocket each: connected in {:.2} s; all tasks finished and seen {:.2} s after the first gate opened ({} messages)",
            service.backend, run.subscribers, run.connect_s, run.drain_s, run.messages
        );
        println!(
            "  gate committed → subscriber sees it: p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  (max {:.2})",
            d.p50_ms, d.p95_ms, d.p99_ms, d.max_ms
        );
        println!(
            "  gate committed → subscriber sees the task COMPLETE: p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  (max {:.2}); peak RSS {:.0} MiB",
            c.p50_ms,
            c.p95_ms,
            c.p99_ms,
            c.max_ms,
            run.peak_rss_mb.unwrap_or_default()
        );
    }
    service.stop().await?;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn run_api(args: BenchArgs, config: Config) -> anyhow::Result<ExitCode> {
    let service = InProcess::start(&config).await?;
    let tasker = service.tasker.clone();
    tasker.register_template(&Shape::Diamond.template(), true).await?;
    tasker
        .register_template(&Shape::Diamond.template_in("bench_nested"), true)
        .await?;
    let url = format!("{}/graphql", service.base);
    let backend = service.backend.clone();
    let client = reqwest::Client::builder().pool_max_idle_per_host(128).build()?;

    let mut creates = Vec::new();
    for concurrency in [1, 16, 64] {
        let run = bench::api::create_tasks(
            &client,
            &url,
            ("bench", "diamond"),
            concurrency,
            args.tasks.max(concurrency),
        )
        .await?;
        if !args.json {
            println!(
                "{backend} · createTask over HTTP, concurrency {concurrency}: {:.0} requests/s; p50 {:.2} ms, p99 {:.2} ms ({} requests)",
                run.per_s, run.latency.p50_ms, run.latency.p99_ms, run.requests
            );
        }
        creates.push(run);
    }
    let mut ids = Vec::new();
    for i in 0..100 {
        let input = crate::service::CreateTask {
            namespace: Some("bench_nested".into()),
            name: Shape::Diamond.name().into(),
            context: json!({"i": i}),
            ..Default::default()
        };
        ids.push(tasker.create_task(input).await?.task.id);
    }
    while (crate::store::finished_window(tasker.store().reader(), &ids)
        .await?
        .0 as usize)
        < ids.len()
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let nested = bench::api::nested_query(&client, &url, "bench_nested", args.latency_samples.max(1)).await?;
    if !args.json {
        println!(
            "{backend} · nested query (100 tasks × 4 steps with results, neighbours, transitions): p50 {:.2} ms, p99 {:.2} ms ({} runs)",
            nested.p50_ms, nested.p99_ms, nested.samples
        );
    }
    service.stop().await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"backend": backend, "create_task": creates, "nested_query": nested})
            )?
        );
    }
    Ok(ExitCode::SUCCESS)
}
