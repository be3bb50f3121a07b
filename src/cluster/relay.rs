//! Events across replicas over Redis pub/sub. Every event this replica
//! publishes is sent on `{prefix}:events` by a typed subscriber (so a slow or
//! unreachable Redis costs the engine nothing: its queue overflows and the
//! loss is counted); a listener republishes other replicas' events on the
//! local bus marked with their origin, so subscriptions on any replica see
//! every task. Redis going away degrades to local mode; the listener
//! reconnects with backoff.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::RedisConfig;
use crate::events::{Event, EventBus, Subscriber, WireEvent};
use crate::service::Tasker;

/// The outbound subscriber's name in the registry.
pub const RELAY: &str = "redis_relay";

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How the relay is doing (shown in /health/status).
#[derive(Debug, Default)]
pub struct RelayStatus {
    connected: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl RelayStatus {
    fn failed(&self, what: &str, err: &redis::RedisError) {
        let count = self.errors.fetch_add(1, Ordering::Relaxed);
        let message = format!("{what}: {err}");
        // The first failure of a streak is worth a line; the rest are counted.
        if count == 0 || self.connected.swap(false, Ordering::Relaxed) {
            warn!(error = %message, "redis event relay degraded to local mode");
        }
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    }

    /// True while the listener is subscribed.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// The status as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let connected = self.connected();
        serde_json::json!({
            "status": if connected { "ok" } else { "unavailable" },
            "mode": if connected { "distributed" } else { "local" },
            "events_published": self.published.load(Ordering::Relaxed),
            "events_received": self.received.load(Ordering::Relaxed),
            "errors": self.errors.load(Ordering::Relaxed),
            "last_error": *self.last_error.lock().unwrap_or_else(|p| p.into_inner()),
        })
    }
}

struct Outbound {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    channel: String,
    instance: String,
    status: Arc<RelayStatus>,
}

#[async_trait::async_trait]
impl Subscriber for Outbound {
    async fn handle(&self, event: Arc<Event>) {
        if event.origin.is_some() {
            return;
        }
        let payload = match serde_json::to_string(&WireEvent::new(&event, &self.instance)) {
            Ok(payload) => payload,
            Err(err) => {
                warn!(error = %err, event = event.name.as_str(), "cannot serialize an event for other replicas");
                return;
            }
        };
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            match self.client.get_connection_manager().await {
                Ok(manager) => *slot = Some(manager),
                Err(err) => return self.status.failed("connect", &err),
            }
        }
        let Some(connection) = slot.as_mut() else { return };
        match connection.publish::<_, _, ()>(&self.channel, payload).await {
            Ok(()) => {
                self.status.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => self.status.failed("publish", &err),
        }
    }
}

async fn listen(
    client: redis::Client,
    channel: String,
    instance: String,
    bus: EventBus,
    status: Arc<RelayStatus>,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let attempt = tokio::select! {
            () = cancel.cancelled() => return,
            attempt = tokio::time::timeout(Duration::from_secs(5), subscribed) => attempt,
        };
        match attempt {
            Ok(Ok(pubsub)) => {
                if !status.connected.swap(true, Ordering::Relaxed) {
                    info!(channel = %channel, "redis event relay connected: events fan out across replicas");
                }
                backoff = Duration::from_millis(250);
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! {
                        () = cancel.cancelled() => return,
                        message = messages.next() => message,
                    };
                    let Some(message) = message else { break };
                    let Some(event) = decode(message.get_payload_bytes(), &instance) else {
                        continue;
                    };
                    status.received.fetch_add(1, Ordering::Relaxed);
                    bus.publish(event);
                }
                let lost = redis::RedisError::from((redis::ErrorKind::Io, "subscription closed"));
                status.failed("listen", &lost);
            }
            Ok(Err(err)) => status.failed("subscribe", &err),
            Err(_) => {
                let slow = redis::RedisError::from((redis::ErrorKind::Io, "no answer within 5 s"));
                status.failed("subscribe", &slow);
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Another replica's event, or `None` for this replica's own, unreadable
/// messages and names this version does not know.
fn decode(payload: &[u8], instance: &str) -> Option<Event> {
    let wire: WireEvent = serde_json::from_slice(payload).ok()?;
    if wire.origin == instance {
        return None;
    }
    wire.into_event()
}

/// Start relaying events through Redis until `cancel`; `None` when no Redis
/// is configured (local mode). `queue` bounds the events waiting to be sent.
pub fn start_relay(
    tasker: &Tasker,
    config: &RedisConfig,
    instance: &str,
    queue: usize,
    cancel: CancellationToken,
) -> Result<Option<Arc<RelayStatus>>, String> {
    let Some(url) = config.url() else {
        return Ok(None);
    };
    let client = redis::Client::open(url).map_err(|e| format!("redis.url: {e}"))?;
    let channel = format!("{}:events", config.key_prefix);
    let status = Arc::new(RelayStatus::default());
    let outbound = Outbound {
        client: client.clone(),
        connection: tokio::sync::Mutex::new(None),
        channel: channel.clone(),
        instance: instance.to_owned(),
        status: Arc::clone(&status),
    };
    tasker
        .subscribers()
        .subscribe_with_queue(RELAY, &["*"], Arc::new(outbound), true, queue)
        .map_err(|e| e.to_string())?;
    let bus = tasker.events().clone();
    let listener = listen(
        client,
        channel,
        instance.to_owned(),
        bus,
        Arc::clone(&status),
        cancel,
    );
    tokio::spawn(listener);
    Ok(Some(status))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::events::EventName;

    #[test]
    fn own_and_unknown_events_are_not_replayed() {
        let event = Event::new(EventName::HandlerRegistered, Utc::now()).with("name", "x");
        let mine = serde_json::to_vec(&WireEvent::new(&event, "a")).expect("json");
        assert!(decode(&mine, "a").is_none());
        let theirs = decode(&mine, "b").expect("relayed");
        assert_eq!(theirs.origin.as_deref(), Some("a"));
        assert_eq!(theirs.payload(), event.payload());
        let mut future = WireEvent::new(&event, "a");
        future.name = "task.teleported".into();
        let unknown = serde_json::to_vec(&future).expect("json");
        assert!(decode(&unknown, "b").is_none());
        assert!(decode(b"not json", "b").is_none());
    }
}
