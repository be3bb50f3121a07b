//! Application services: what front ends (GraphQL, REST, CLI) call. They parse
//! and check inputs, run store functions in transactions, publish the committed
//! changes and tell the engine about new work.

mod approvals;
mod children;
mod error;
mod flow;
mod graphs;
mod inbound;
mod metrics;
mod overview;
mod parsed;
mod reads;
mod registries;
mod schedules;
mod settings;
mod task_info;
mod tasks;
mod templates;
mod views;
mod workers;

use crate::cluster::metrics::MetricsCache;
use crate::telemetry::{Exporters, Metrics};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use children::spawn_children;
pub use error::{Error, Result};
pub use graphs::{ObservedByTemplate, template_key};
pub use inbound::{EventView, SentEvent};
pub use metrics::MetricsScope;
pub use overview::{Bucket, Overview, Replica};
pub use reads::{MAX_PAGE_SIZE, TaskList};
pub use registries::{RegistryMatch, RegistryView};
pub use schedules::{NewSchedule, ScheduleView, UPCOMING, spawn_schedules};
pub use settings::{Limits, Settings};
pub use task_info::{TaskInfo, TaskInfoCache};
pub use tasks::{CreateTask, Created, MAX_KEY_CHARS, MAX_TAG_CHARS, MAX_TAGS, MAX_TEXT_CHARS, TaskDetail};
pub use templates::{LoadedTemplate, TEMPLATE_EXTENSIONS};
pub use views::{StepView, TaskView, TransitionView};
pub use workers::{ClaimRequest, ClaimedStep, FailureReport};

use crate::domain::context::ContextSchema;
use crate::engine::{Clock, EngineHandle};
use crate::events::{EventBus, Subscribers, TaskWatch};
use crate::handlers::HandlerRegistry;
use crate::store::{self, Store, WriteTxn};

/// Compiled context schemas by (template id, content hash); bounded.
type SchemaCache = Mutex<HashMap<(uuid::Uuid, String), Arc<ContextSchema>>>;
const SCHEMA_CACHE_LIMIT: usize = 1_000;
/// Queue of a typed subscriber unless configured.
const DEFAULT_SUBSCRIBER_QUEUE: usize = 1024;

/// The application services (cheap to clone).
#[derive(Clone)]
pub struct Tasker {
    store: Store,
    handlers: HandlerRegistry,
    events: EventBus,
    task_watch: TaskWatch,
    clock: Arc<dyn Clock>,
    engine: Option<EngineHandle>,
    settings: Arc<Settings>,
    schemas: Arc<SchemaCache>,
    observed: Arc<graphs::ObservedCache>,
    parsed: Arc<parsed::ParsedTemplates>,
    metrics: Metrics,
    subscribers: Subscribers,
    exporters: Exporters,
    metrics_cache: MetricsCache,
    /// Where workers' next claim resumes among step gates (round-robin).
    gate_cursor: Arc<Mutex<String>>,
}

impl std::fmt::Debug for Tasker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasker")
            .field("backend", &self.store.backend())
            .field("engine", &self.engine)
            .finish()
    }
}

impl Tasker {
    /// Services over a store; without an engine, new work waits for one.
    pub fn new(
        store: Store,
        handlers: HandlerRegistry,
        events: EventBus,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        let metrics = Metrics::new();
        handlers.registry().attach(&events);
        let queue = match settings.subscriber_queue {
            0 => DEFAULT_SUBSCRIBER_QUEUE,
            n => n,
        };
        let subscribers = Subscribers::new(&events, queue, Some(metrics.events_dropped_counter()));
        let exporters = Exporters::with_builtins();
        exporters.registry().attach(&events);
        Self {
            store,
            handlers,
            subscribers,
            exporters,
            task_watch: TaskWatch::new(events.clone()),
            events,
            clock,
            engine: None,
            settings: Arc::new(settings),
            schemas: Arc::new(Mutex::new(HashMap::new())),
            observed: Arc::default(),
            parsed: Arc::default(),
            metrics_cache: MetricsCache::local_only(metrics.clone()),
            metrics,
            gate_cursor: Arc::default(),
        }
    }

    /// Tell this engine about new work and interrupted steps.
    pub fn with_engine(mut self, engine: EngineHandle) -> Self {
        self.engine = Some(engine);
        self
    }

    /// The engine this replica runs, if any.
    pub fn engine(&self) -> Option<&EngineHandle> {
        self.engine.as_ref()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The handler registry.
    pub fn handlers(&self) -> &HandlerRegistry {
        &self.handlers
    }

    /// The process's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The event bus.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Per-task change notification (what `taskUpdated` waits on).
    pub fn task_watch(&self) -> &TaskWatch {
        &self.task_watch
    }

    /// The exporter plugins.
    pub fn exporters(&self) -> &Exporters {
        &self.exporters
    }

    /// The typed event subscribers.
    pub fn subscribers(&self) -> &Subscribers {
        &self.subscribers
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn wake_engine(&self) {
        if let Some(engine) = &self.engine {
            engine.wake();
        }
    }

    fn gate_cursor(&self) -> std::sync::MutexGuard<'_, String> {
        self.gate_cursor.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wake the engine to look at its concurrency groups too.
    fn wake_groups(&self) {
        if let Some(engine) = &self.engine {
            engine.wake_groups();
        }
    }

    fn interrupt(&self, step_ids: &[uuid::Uuid]) {
        if let (Some(engine), false) = (&self.engine, step_ids.is_empty()) {
            engine.interrupt(step_ids);
        }
    }

    /// Run `work` in a write transaction, retried when the database reports
    /// contention; publish the committed changes.
    async fn write<T, F, Fut>(&self, mut work: F) -> Result<T>
    where
        F: FnMut(WriteTxn) -> Fut,
        Fut: Future<Output = store::Result<(T, WriteTxn)>>,
    {
        let mut attempt = 0u64;
        loop {
            let outcome = async {
                let tx = self.store.begin().await?;
                let (value, tx) = work(tx).await?;
                let changes = tx.commit().await?;
                Ok::<_, store::Error>((value, changes))
            }
            .await;
            match outcome {
                Ok((value, changes)) => {
                    self.events.publish_changes(changes);
                    return Ok(value);
                }
                Err(err) if err.is_retryable() && attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(5 * attempt)).await;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }

    fn context_schema(&self, template: &store::StoredTemplate) -> Result<Option<Arc<ContextSchema>>> {
        let Some(schema) = &template.template.context_schema else {
            return Ok(None);
        };
        let key = (template.id, template.content_hash.clone());
        let mut cache = self.schemas.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = cache.get(&key) {
            return Ok(Some(Arc::clone(found)));
        }
        let compiled = Arc::new(ContextSchema::compile(schema).map_err(|message| {
            Error::Internal(store::Error::Corrupt {
                message: format!("stored context_schema: {message}"),
            })
        })?);
        if cache.len() >= SCHEMA_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&compiled));
        Ok(Some(compiled))
    }
}
