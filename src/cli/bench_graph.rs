//! `tasker bench --graph`: the dependency-graph analysis alone, then REST
//! discovery and a task's graph over HTTP on the configured database.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::bench::graph::{analysis_costs, get_latency, task_graph_latency, template_yaml};
use crate::bench::{Percentiles, Shape};
use crate::config::Config;
use crate::handlers::HandlerRegistry;
use crate::service::{CreateTask, Tasker};

/// Templates registered for the discovery run.
const DISCOVERY_TEMPLATES: usize = 1_000;

fn line(what: &str, p: &Percentiles) {
    println!(
        "  {what}: p50 {:.2} ms  p99 {:.2} ms  (max {:.2}, {} runs)",
        p.p50_ms, p.p99_ms, p.max_ms, p.samples
    );
}

async fn finished_task(tasker: &Tasker, namespace: &str, name: &str) -> anyhow::Result<Uuid> {
    let input = CreateTask {
        namespace: Some(namespace.into()),
        name: name.into(),
        context: json!({}),
        ..CreateTask::default()
    };
    let id = tasker.create_task(input).await?.task.id;
    let deadline = Instant::now() + Duration::from_secs(300);
    while crate::store::finished_window(tasker.store().reader(), &[id])
        .await?
        .0
        < 1
    {
        anyhow::ensure!(Instant::now() < deadline, "task {id} did not finish in 5 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(id)
}

pub(super) async fn run(samples: usize, as_json: bool, config: Config) -> anyhow::Result<ExitCode> {
    let sizes = [(100, 1_000), (1_000, 200), (10_000, 30)];
    let costs = analysis_costs(&sizes);
    if !as_json {
        println!("dependency-graph analysis of random DAGs (1-3 parents per step), in process:");
        for c in &costs {
            println!(
                "  {:>6} steps {:>6} edges: template p50 {:.3} ms p99 {:.3} ms; task (half done, 1% failed) p50 {:.3} ms p99 {:.3} ms; {:.0} ns per step+edge",
                c.steps,
                c.edges,
                c.template.p50_ms,
                c.template.p99_ms,
                c.task.p50_ms,
                c.task.p99_ms,
                c.task_ns_per_element
            );
        }
    }

    let app = crate::app::App::build(&config, HandlerRegistry::with_builtins()).await?;
    let tasker = app.tasker().clone();
    let backend = super::bench::backend_name(&tasker);
    let registering = Instant::now();
    for i in 0..DISCOVERY_TEMPLATES {
        let yaml = template_yaml("bench_discovery", &format!("t{i:04}"), 8, i as u64);
        tasker.register_template(&yaml, true).await?;
    }
    let registered_s = registering.elapsed().as_secs_f64();
    tasker.register_template(&Shape::Mixed50.template(), true).await?;
    tasker
        .register_template(&template_yaml("bench_graph", "wide1000", 1_000, 5), true)
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let cancel = CancellationToken::new();
    let server = tokio::spawn(app.serve_on(listener, cancel.clone()));
    let client = reqwest::Client::new();
    let mixed = finished_task(&tasker, "bench", Shape::Mixed50.name()).await?;
    let wide = finished_task(&tasker, "bench_graph", "wide1000").await?;

    let list = get_latency(&client, &format!("{base}/handlers"), samples).await?;
    let list_graphs = get_latency(
        &client,
        &format!("{base}/handlers?include_dependencies=true"),
        samples,
    )
    .await?;
    let one = get_latency(
        &client,
        &format!("{base}/handlers/bench_discovery/t0500?include_dependencies=true"),
        samples,
    )
    .await?;
    let graphql = format!("{base}/graphql");
    let mixed_graph = task_graph_latency(&client, &graphql, &mixed.to_string(), samples).await?;
    let wide_graph = task_graph_latency(&client, &graphql, &wide.to_string(), samples).await?;
    cancel.cancel();
    server.await??;

    if as_json {
        let report = json!({
            "analysis": costs,
            "backend": backend,
            "registered_templates": DISCOVERY_TEMPLATES,
            "registration_s": registered_s,
            "get_handlers": list,
            "get_handlers_with_graphs": list_graphs,
            "get_one_handler_with_graph": one,
            "task_graph_mixed50": mixed_graph,
            "task_graph_1000_steps": wide_graph,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{backend} · {DISCOVERY_TEMPLATES} templates of 8 steps registered in {registered_s:.1} s; over HTTP:"
        );
        line("GET /handlers", &list);
        line("GET /handlers?include_dependencies=true", &list_graphs);
        line("GET /handlers/{ns}/{name}?include_dependencies=true", &one);
        line("dependencyGraph(taskId), 50-step task, every field", &mixed_graph);
        line(
            "dependencyGraph(taskId), 1,000-step task, every field",
            &wide_graph,
        );
    }
    Ok(ExitCode::SUCCESS)
}
