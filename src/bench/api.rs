//! GraphQL over HTTP: createTask throughput at several concurrencies, and the
//! latency of a nested query over 100 tasks.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::Percentiles;

/// Why an API benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApiBenchError {
    /// The request failed.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with GraphQL errors.
    #[error("GraphQL errors: {0}")]
    Graphql(String),
}

/// createTask over HTTP at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct CreateRun {
    /// Concurrent clients.
    pub concurrency: usize,
    /// Requests made.
    pub requests: usize,
    /// Requests per second.
    pub per_s: f64,
    /// Request latency.
    pub latency: Percentiles,
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<Value, ApiBenchError> {
    let response: Value = client.post(url).json(body).send().await?.json().await?;
    match response.get("errors") {
        Some(errors) if !errors.is_null() => Err(ApiBenchError::Graphql(errors.to_string())),
        _ => Ok(response),
    }
}

/// `requests` createTask mutations of `namespace/name` from `concurrency` clients.
pub async fn create_tasks(
    client: &reqwest::Client,
    url: &str,
    (namespace, name): (&str, &str),
    concurrency: usize,
    requests: usize,
) -> Result<CreateRun, ApiBenchError> {
    let body = json!({
        "query": "mutation($ns: String!, $n: String!) { createTask(input: {namespace: $ns, name: $n, context: {}}) { task { id } } }",
        "variables": {"ns": namespace, "n": name},
    });
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let (client, url, body) = (client.clone(), url.to_owned(), body.clone());
        let share = requests / concurrency + usize::from(worker < requests % concurrency);
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for _ in 0..share {
                let t0 = Instant::now();
                post(&client, &url, &body).await?;
                latencies.push(t0.elapsed());
            }
            Ok::<_, ApiBenchError>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for worker in workers {
        let done = worker
            .await
            .map_err(|e| ApiBenchError::Graphql(format!("client task failed: {e}")))??;
        latencies.extend(done);
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    Ok(CreateRun {
        concurrency,
        requests,
        per_s: requests as f64 / elapsed,
        latency: Percentiles::of(latencies),
    })
}

/// The nested query the API test checks for a constant statement count.
pub const NESTED_QUERY: &str = "query($ns: String!) {
  tasks(filter: {namespace: $ns}, first: 100) {
    totalCount
    edges { node {
      id status executionStatus
      transitions { from to at }
      steps { name status results dependsOn { name } dependents { name } transitions { from to attempt } }
    } }
  }
}";

/// Latency of [`NESTED_QUERY`] over tasks of `namespace`, after 10 warm-up runs.
pub async fn nested_query(
    client: &reqwest::Client,
    url: &str,
    namespace: &str,
    samples: usize,
) -> Result<Percentiles, ApiBenchError> {
    let body = json!({"query": NESTED_QUERY, "variables": {"ns": namespace}});
    let mut latencies: Vec<Duration> = Vec::with_capacity(samples);
    for i in 0..samples + 10 {
        let t0 = Instant::now();
        post(client, url, &body).await?;
        if i >= 10 {
            latencies.push(t0.elapsed());
        }
    }
    Ok(Percentiles::of(latencies))
}
