//! Typed in-process subscribers. Each registered subscriber gets its own
//! bounded queue fed from the bus by a pump task: when the queue is full the
//! event is dropped for that subscriber only, counted, and reported (as
//! `subscriber.lagged`, at most once a second, and in
//! `tasker_events_dropped_total`); the engine never waits for a subscriber.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::FutureExt;
use tokio::runtime::Handle;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::error;

use super::{Event, EventBus, EventName, first_unknown, name_matches};
use crate::registry::{Registered, Registry, RegistryError, RegistryEvents};

/// How often a lagging subscriber is reported.
const LAG_REPORT_EVERY: Duration = Duration::from_secs(1);

/// While events keep coming, how long a subscriber's pump lets them gather
/// before handing them over (the delay a subscriber sees under load), unless
/// its [`Delivery`] says otherwise.
const BURST_WINDOW: Duration = Duration::from_millis(5);

/// Something that reacts to events. Implement it and pass it to
/// [`Subscribers::subscribe`] with the names or `prefix.*` patterns it wants.
#[async_trait::async_trait]
pub trait Subscriber: Send + Sync + 'static {
    /// Handle one event. Events arrive in publication order; a panic is
    /// logged and the subscriber goes on with the next event.
    async fn handle(&self, event: Arc<Event>);
}

/// A subscriber's counters.
#[derive(Debug, Default)]
pub struct SubscriberStats {
    /// Events handed to the subscriber.
    pub delivered: AtomicU64,
    /// Events it missed because its queue was full.
    pub missed: AtomicU64,
    /// Events whose handling panicked.
    pub panicked: AtomicU64,
}

/// A registered subscriber, as its registry holds it.
#[derive(Clone)]
pub struct SubscriberEntry {
    patterns: Arc<[String]>,
    stats: Arc<SubscriberStats>,
    running: Arc<AtomicBool>,
    cancel: CancellationToken,
}

impl SubscriberEntry {
    /// The names and patterns it listens to.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Its counters.
    pub fn stats(&self) -> &SubscriberStats {
        &self.stats
    }
}

impl Registered for SubscriberEntry {
    fn validate(&self) -> Result<(), String> {
        if self.patterns.is_empty() {
            return Err("subscribe to at least one event name or pattern".into());
        }
        match first_unknown(&self.patterns) {
            Some(unknown) => Err(format!("{unknown:?} matches no event of the catalog")),
            None => Ok(()),
        }
    }

    fn health(&self) -> Result<(), String> {
        if self.running.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("its delivery task stopped".into())
        }
    }
}

const EVENTS: RegistryEvents = RegistryEvents {
    registered: EventName::SubscriberRegistered,
    unregistered: EventName::SubscriberUnregistered,
    refused: EventName::PluginValidationFailed,
};

/// The subscriber registry (cheap to clone).
#[derive(Clone)]
pub struct Subscribers {
    registry: Registry<String, SubscriberEntry>,
    bus: EventBus,
    queue: usize,
    dropped: Option<prometheus_client::metrics::counter::Counter>,
}

impl Subscribers {
    /// Subscribers of `bus`, each with a queue of `queue` events; drops are
    /// also added to `dropped` when given.
    pub fn new(
        bus: &EventBus,
        queue: usize,
        dropped: Option<prometheus_client::metrics::counter::Counter>,
    ) -> Self {
        let registry = Registry::new("subscribers", EVENTS);
        registry.attach(bus);
        Self {
            registry,
            bus: bus.clone(),
            queue: queue.max(1),
            dropped,
        }
    }

    /// The registry behind (stats, health, search).
    pub fn registry(&self) -> &Registry<String, SubscriberEntry> {
        &self.registry
    }

    /// Deliver the events matching `patterns` to `subscriber` under `name`,
    /// from now until it is unsubscribed; `replace` swaps a subscriber of the
    /// same name. Needs a Tokio runtime.
    pub fn subscribe(
        &self,
        name: &str,
        patterns: &[&str],
        subscriber: Arc<dyn Subscriber>,
        replace: bool,
    ) -> Result<(), RegistryError> {
        self.subscribe_with_queue(name, patterns, subscriber, replace, self.queue)
    }

    /// [`Subscribers::subscribe`] with a queue of `queue` events instead of the default.
    pub fn subscribe_with_queue(
        &self,
        name: &str,
        patterns: &[&str],
        subscriber: Arc<dyn Subscriber>,
        replace: bool,
        queue: usize,
    ) -> Result<(), RegistryError> {
        let here = Handle::current();
        let delivery = Delivery {
            queue,
            window: BURST_WINDOW,
        };
        self.subscribe_on(&here, name, patterns, subscriber, replace, delivery)
    }

    /// [`Subscribers::subscribe_with_queue`], the subscriber's tasks running
    /// on `runtime` (the telemetry thread's, say) rather than the caller's,
    /// delivered as `delivery` says.
    pub fn subscribe_on(
        &self,
        runtime: &Handle,
        name: &str,
        patterns: &[&str],
        subscriber: Arc<dyn Subscriber>,
        replace: bool,
        delivery: Delivery,
    ) -> Result<(), RegistryError> {
        let key = name.to_owned();
        let entry = SubscriberEntry {
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            stats: Arc::default(),
            running: Arc::new(AtomicBool::new(true)),
            cancel: CancellationToken::new(),
        };
        // Subscribe before registering so that nothing published after the
        // registration event is missed.
        let rx = self.bus.subscribe();
        if let Some(old) = self.registry.register(key, entry.clone(), replace)? {
            old.cancel.cancel();
        }
        let (batches, received) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        let queue = Queue {
            batches,
            waiting: Arc::clone(&waiting),
            capacity: delivery.queue.max(1),
        };
        // Tasks on another runtime stop with the caller's, whose services
        // they hold (a pool, the bus): it drops this watch when it shuts down.
        let cancel = entry.cancel.clone();
        tokio::spawn(async move {
            let _stop_on_drop = cancel.clone().drop_guard();
            cancel.cancelled().await;
        });
        let pumped = pump(
            name.to_owned(),
            entry.clone(),
            rx,
            queue,
            delivery.window,
            self.clone(),
        );
        runtime.spawn(pumped);
        runtime.spawn(deliver(name.to_owned(), entry, received, waiting, subscriber));
        Ok(())
    }

    /// Stop delivering to `name`.
    pub fn unsubscribe(&self, name: &str) -> Result<(), RegistryError> {
        let entry = self.registry.unregister(&name.to_owned())?;
        entry.cancel.cancel();
        Ok(())
    }

    fn report_missed(&self, name: &str, entry: &SubscriberEntry, missed: u64) {
        if let Some(counter) = &self.dropped {
            counter.inc_by(missed);
        }
        let total = entry.stats.missed.load(Ordering::Relaxed);
        let event = Event::new(EventName::SubscriberLagged, Utc::now())
            .with("name", name)
            .with("missed", missed)
            .with("missed_total", total);
        self.bus.publish(event);
    }
}

/// How a subscriber's events reach it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// Events that may wait for it; beyond, they are dropped and counted.
    pub queue: usize,
    /// While events keep coming, how long they gather before they are handed
    /// over (the delay it sees under load).
    pub window: Duration,
}

/// Events waiting for one subscriber, counted so that its queue stays bounded
/// although the pump hands them over in batches.
struct Queue {
    batches: mpsc::UnboundedSender<Vec<Arc<Event>>>,
    waiting: Arc<AtomicUsize>,
    capacity: usize,
}

impl Queue {
    /// Admit `event` into `batch` unless the queue is full.
    fn admit(&self, event: Arc<Event>, batch: &mut Vec<Arc<Event>>) -> bool {
        if self.waiting.load(Ordering::Acquire) >= self.capacity {
            return false;
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        batch.push(event);
        true
    }
}

/// Move matching events from the bus to the subscriber's queue, in batches.
/// An idle pump waits for the first event of a burst; while events keep
/// coming it collects them once per `window` instead of being woken
/// by every publication, so that a busy engine pays one wake-up per window,
/// not one per event (the bus holds many windows' worth).
async fn pump(
    name: String,
    entry: SubscriberEntry,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Event>>,
    queue: Queue,
    window: Duration,
    subscribers: Subscribers,
) {
    let mut unreported = 0u64;
    let mut last_report: Option<Instant> = None;
    loop {
        let first = tokio::select! {
            () = entry.cancel.cancelled() => return,
            received = rx.recv() => received,
        };
        let mut received = first.map_err(|e| match e {
            RecvError::Lagged(n) => TryRecvError::Lagged(n),
            RecvError::Closed => TryRecvError::Closed,
        });
        while !matches!(received, Err(TryRecvError::Empty)) {
            let mut batch = Vec::new();
            let mut missed = 0u64;
            loop {
                match received {
                    Ok(event) => {
                        let wanted = entry
                            .patterns
                            .iter()
                            .any(|p| name_matches(p, event.name.as_str()));
                        if wanted && !queue.admit(event, &mut batch) {
                            missed += 1;
                        }
                    }
                    Err(TryRecvError::Lagged(n)) => missed += n,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
                received = rx.try_recv();
            }
            if !batch.is_empty() && queue.batches.send(batch).is_err() {
                return;
            }
            if missed > 0 {
                entry.stats.missed.fetch_add(missed, Ordering::Relaxed);
                unreported += missed;
                if last_report.is_none_or(|at| at.elapsed() >= LAG_REPORT_EVERY) {
                    subscribers.report_missed(&name, &entry, unreported);
                    unreported = 0;
                    last_report = Some(Instant::now());
                }
            }
            tokio::select! {
                () = entry.cancel.cancelled() => return,
                () = tokio::time::sleep(window) => {}
            }
            received = rx.try_recv();
        }
    }
}

async fn deliver(
    name: String,
    entry: SubscriberEntry,
    mut batches: mpsc::UnboundedReceiver<Vec<Arc<Event>>>,
    waiting: Arc<AtomicUsize>,
    subscriber: Arc<dyn Subscriber>,
) {
    'batches: loop {
        let batch = tokio::select! {
            () = entry.cancel.cancelled() => break,
            batch = batches.recv() => batch,
        };
        let Some(batch) = batch else { break };
        for event in batch {
            if entry.cancel.is_cancelled() {
                break 'batches;
            }
            // Now and then, let the runtime's other tasks run: a request
            // holding SQLite's single writer between two statements must not
            // wait behind a whole batch of telemetry. Tokio's budget yields
            // once per 128 units of work; yielding on a clock (every 100 µs)
            // parked the worker each time, a system call and often a wake-up
            // of the other worker (see BENCHMARKS.md).
            tokio::task::coop::consume_budget().await;
            let handled = AssertUnwindSafe(subscriber.handle(event)).catch_unwind().await;
            waiting.fetch_sub(1, Ordering::AcqRel);
            entry.stats.delivered.fetch_add(1, Ordering::Relaxed);
            if handled.is_err() {
                entry.stats.panicked.fetch_add(1, Ordering::Relaxed);
                error!(subscriber = %name, "an event subscriber panicked; it goes on with the next event");
            }
        }
    }
    entry.running.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Slow {
        seen: mpsc::UnboundedSender<&'static str>,
        gate: Arc<tokio::sync::Semaphore>,
    }

    #[async_trait::async_trait]
    impl Subscriber for Slow {
        async fn handle(&self, event: Arc<Event>) {
            if let Ok(permit) = self.gate.acquire().await {
                permit.forget();
            }
            let _ = self.seen.send(event.name.as_str());
        }
    }

    fn event(name: EventName) -> Event {
        Event::new(name, Utc::now())
    }

    #[tokio::test]
    async fn a_slow_subscriber_loses_only_its_own_overflow_and_reports_it() {
        let bus = EventBus::new(1024);
        let mut watcher = bus.subscribe();
        let subscribers = Subscribers::new(&bus, 2, None);
        let (seen, mut got) = mpsc::unbounded_channel();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let slow = Arc::new(Slow {
            seen,
            gate: Arc::clone(&gate),
        });
        subscribers
            .subscribe("slow", &["step.*"], slow, false)
            .expect("registers");
        // Ten matching events while the subscriber is stuck: publishing never waits.
        for _ in 0..10 {
            bus.publish(event(EventName::StepCompleted));
            bus.publish(event(EventName::TaskCompleted));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        gate.add_permits(100);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut delivered = Vec::new();
        while let Ok(name) = got.try_recv() {
            delivered.push(name);
        }
        assert!(delivered.iter().all(|n| *n == "step.completed"), "{delivered:?}");
        let entry = subscribers
            .registry()
            .get(&"slow".to_owned())
            .expect("registered");
        let missed = entry.stats().missed.load(Ordering::Relaxed);
        assert!(
            missed >= 7,
            "a queue of 2, the event in hand included: missed {missed}"
        );
        assert_eq!(delivered.len() as u64 + missed, 10);
        let mut lagged = false;
        while let Ok(e) = watcher.try_recv() {
            lagged |= e.name == EventName::SubscriberLagged && e.payload()["name"] == "slow";
        }
        assert!(lagged, "a subscriber.lagged event was published");
        subscribers.unsubscribe("slow").expect("unsubscribes");
        assert!(subscribers.registry().is_empty());
    }

    #[tokio::test]
    async fn unknown_patterns_are_refused() {
        let bus = EventBus::new(16);
        let subscribers = Subscribers::new(&bus, 4, None);
        let (seen, _) = mpsc::unbounded_channel();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let s = Arc::new(Slow { seen, gate });
        let refused = subscribers.subscribe("x", &["nothing.*"], s, false);
        assert!(
            matches!(refused, Err(RegistryError::Invalid { .. })),
            "{refused:?}"
        );
        assert_eq!(subscribers.registry().stats().rejections, 1);
    }
}
