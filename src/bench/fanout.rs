//! Subscription fan-out: many live `taskUpdated` subscribers on one replica,
//! each on a websocket of its own, while their tasks finish together. Every
//! task waits at an external gate step until all subscribers are live; the
//! bench then completes the gates as a worker would. Delivery latency runs
//! from a gate's completion being committed (its `completeStep` call
//! returned) to the first message that shows it; completion latency from
//! there to the message that shows the task COMPLETE (the engine ran the last
//! step in between).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Percentiles;
use crate::client::Subscription;
use crate::service::{ClaimRequest, CreateTask, Tasker};

/// The gated template: a step, an external gate, a step after it.
pub const TEMPLATE: &str = "namespace: bench_fanout
name: gated
version: 1.0.0
steps:
  - {name: start, handler: noop}
  - {name: gate, handler: bench_gate, external: true, depends_on: [start]}
  - {name: finish, handler: noop, depends_on: [gate]}
";

const SUBSCRIPTION: &str =
    "subscription($id: ID!) { taskUpdated(id: $id) { status steps { name completedAt } } }";

/// Why the fan-out bench stopped.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// A service call failed.
    #[error(transparent)]
    Service(#[from] crate::service::Error),
    /// A websocket failed (on many subscribers, often the open-file limit:
    /// raise `ulimit -n`).
    #[error("websocket: {0}")]
    Socket(#[from] crate::client::ClientError),
    /// The server broke the protocol or the run did not finish in time.
    #[error("{0}")]
    Protocol(String),
}

type Result<T> = std::result::Result<T, FanoutError>;

/// What the subscribers saw.
#[derive(Debug, Clone, Serialize)]
pub struct Fanout {
    /// Live subscribers, one websocket each.
    pub subscribers: usize,
    /// Time to open every socket and receive every first snapshot.
    pub connect_s: f64,
    /// Messages received after the first snapshots.
    pub messages: usize,
    /// First gate completed → last subscriber saw its task COMPLETE.
    pub drain_s: f64,
    /// Gate completion committed → the first message showing it.
    pub delivery: Percentiles,
    /// Gate completion committed → the message showing the task COMPLETE.
    pub completion: Percentiles,
    /// Peak resident memory of the process (server and clients) (Linux).
    pub peak_rss_mb: Option<f64>,
}

/// Run `subscribers` subscribers against the server whose GraphQL endpoint is
/// `http_base` + `/graphql`, with `tasker` serving it in this process.
pub async fn run(tasker: &Tasker, http_base: &str, subscribers: usize) -> Result<Fanout> {
    tasker.register_template(TEMPLATE, true).await?;
    let mut ids = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        let input = CreateTask {
            namespace: Some("bench_fanout".into()),
            name: "gated".into(),
            context: json!({"i": i}),
            ..CreateTask::default()
        };
        ids.push(tasker.create_task(input).await?.task.id);
    }
    let gates = claim_gates(tasker, subscribers).await?;

    let url = format!("{}/graphql/ws", http_base.replacen("http", "ws", 1));
    let connecting = Instant::now();
    let (live_tx, mut live_rx) = tokio::sync::mpsc::channel::<()>(subscribers.max(1));
    let mut clients = Vec::with_capacity(subscribers);
    for chunk in ids.chunks(50) {
        for &id in chunk {
            clients.push(tokio::spawn(subscriber(url.clone(), id, live_tx.clone())));
        }
        // Open sockets in waves so the accept queue never overflows.
        for _ in chunk {
            if tokio::time::timeout(Duration::from_secs(30), live_rx.recv())
                .await
                .is_err()
            {
                return Err(first_failure(clients).await);
            }
        }
    }
    drop(live_tx);
    let connect_s = connecting.elapsed().as_secs_f64();

    let draining = Instant::now();
    let committed = complete_gates(tasker, gates).await?;
    let (mut delivery, mut completion, mut messages) = (Vec::new(), Vec::new(), 0);
    for (client, id) in clients.into_iter().zip(&ids) {
        let seen = tokio::time::timeout(Duration::from_secs(120), client)
            .await
            .map_err(|_| FanoutError::Protocol("a subscriber saw no COMPLETE within 120 s".into()))?
            .map_err(|e| FanoutError::Protocol(format!("subscriber task failed: {e}")))??;
        let at = committed
            .get(id)
            .ok_or_else(|| FanoutError::Protocol(format!("task {id} had no gate")))?;
        delivery.push(seen.gate.saturating_duration_since(*at));
        completion.push(seen.complete.saturating_duration_since(*at));
        messages += seen.messages;
    }
    Ok(Fanout {
        subscribers,
        connect_s,
        messages,
        drain_s: draining.elapsed().as_secs_f64(),
        delivery: Percentiles::of(delivery),
        completion: Percentiles::of(completion),
        peak_rss_mb: super::peak_rss_mb(),
    })
}

/// Why a subscriber did not go live: the error of one that ended, if any.
async fn first_failure(clients: Vec<tokio::task::JoinHandle<Result<Seen>>>) -> FanoutError {
    for client in clients {
        if client.is_finished() {
            match client.await {
                Ok(Err(err)) => return err,
                Err(err) => return FanoutError::Protocol(format!("subscriber task failed: {err}")),
                Ok(Ok(_)) => {}
            }
        }
    }
    FanoutError::Protocol("a subscriber received no first snapshot within 30 s".into())
}

/// Claim every gate once the engine has made it ready.
async fn claim_gates(tasker: &Tasker, count: usize) -> Result<Vec<Gate>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut gates = Vec::with_capacity(count);
    while gates.len() < count {
        let claimed = tasker
            .claim_steps(ClaimRequest {
                worker_id: "bench-gate".into(),
                handlers: vec!["bench_gate".into()],
                limit: 100,
                lease_seconds: 600,
            })
            .await?;
        if claimed.is_empty() {
            if Instant::now() > deadline {
                return Err(FanoutError::Protocol(format!(
                    "only {} of {count} gates became ready",
                    gates.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        gates.extend(claimed.into_iter().map(|c| Gate {
            task: c.step.task_id,
            step: c.step.id,
            token: c.lease_token,
        }));
    }
    Ok(gates)
}

/// A claimed gate step.
#[derive(Debug, Clone, Copy)]
struct Gate {
    task: Uuid,
    step: Uuid,
    token: Uuid,
}

/// Complete the gates from 16 concurrent callers, as a pool of workers would;
/// when each call returned, by task.
async fn complete_gates(tasker: &Tasker, gates: Vec<Gate>) -> Result<HashMap<Uuid, Instant>> {
    let workers = 16.min(gates.len().max(1));
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let mine: Vec<Gate> = gates.iter().copied().skip(w).step_by(workers).collect();
        let tasker = tasker.clone();
        handles.push(tokio::spawn(async move {
            let mut done = Vec::with_capacity(mine.len());
            for gate in mine {
                tasker
                    .complete_step(gate.step, gate.token, Some(json!({"opened": true})))
                    .await?;
                done.push((gate.task, Instant::now()));
            }
            Ok::<_, FanoutError>(done)
        }));
    }
    let mut committed = HashMap::with_capacity(gates.len());
    for handle in handles {
        let done = handle
            .await
            .map_err(|e| FanoutError::Protocol(format!("worker task failed: {e}")))??;
        committed.extend(done);
    }
    Ok(committed)
}

/// When a subscriber first saw its gate completed, and its task COMPLETE.
#[derive(Debug)]
struct Seen {
    gate: Instant,
    complete: Instant,
    messages: usize,
}

/// One subscriber: subscribe, report live after the first snapshot, then
/// note when the gate shows completed and when the task shows COMPLETE.
async fn subscriber(url: String, id: Uuid, live: tokio::sync::mpsc::Sender<()>) -> Result<Seen> {
    let payload = json!({"query": SUBSCRIPTION, "variables": {"id": id.to_string()}});
    let updates = Subscription::open(&url, None, payload)
        .await?
        .into_stream::<Value>();
    let mut updates = std::pin::pin!(updates);
    let (mut messages, mut gate) = (0, None);
    while let Some(update) = updates.next().await {
        let arrived = Instant::now();
        let task = &update?["taskUpdated"];
        if messages == 0 {
            let _ = live.send(()).await;
        }
        messages += 1;
        if gate.is_none() && gate_completed(task) {
            gate = Some(arrived);
        }
        if task["status"] == "COMPLETE" {
            return Ok(Seen {
                gate: gate.unwrap_or(arrived),
                complete: arrived,
                // The first snapshot is not a change.
                messages: messages - 1,
            });
        }
    }
    Err(FanoutError::Protocol(format!(
        "the subscription of task {id} ended early"
    )))
}

fn gate_completed(task: &Value) -> bool {
    task["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["name"] == "gate" && !s["completedAt"].is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_counts_as_completed_once_it_has_a_completion_time() {
        let task = |at: Value| json!({"steps": [{"name": "start", "completedAt": "2026-12-02T10:00:00Z"}, {"name": "gate", "completedAt": at}]});
        assert!(!gate_completed(&task(Value::Null)));
        assert!(gate_completed(&task(json!("2026-12-02T10:00:01Z"))));
        assert!(!gate_completed(&json!({"steps": null})));
    }

    #[test]
    fn the_gated_template_is_valid_and_gates_on_an_external_step() {
        let template = crate::domain::template::parse_template(TEMPLATE).expect("valid");
        assert_eq!(template.steps.len(), 3);
    }
}
