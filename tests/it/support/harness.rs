//! A running engine plus services over a test database.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tasker::domain::TaskStatus;
use tasker::domain::backoff::{Backoff, RetryDefaults};
use tasker::engine::{self, Engine, EngineHandle, SystemClock};
use tasker::events::EventBus;
use tasker::handlers::HandlerRegistry;
use tasker::service::{CreateTask, Settings, TaskDetail, Tasker};
use tasker::store::{ConnectSettings, Store};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::TestDb;

pub struct Harness {
    pub tasker: Tasker,
    pub engine: EngineHandle,
    pub store: Store,
    cancel: CancellationToken,
    join: Option<JoinHandle<()>>,
}

/// Retries every 10 ms without jitter, so retry tests are fast and exact.
pub fn test_settings() -> Settings {
    Settings {
        retry_defaults: RetryDefaults {
            max_attempts: 3,
            backoff: Backoff::Exponential {
                base_ms: 10,
                multiplier: 2.0,
            },
            max_backoff_ms: 1_000,
            jitter: false,
        },
        ..Settings::default()
    }
}

pub fn test_engine_options() -> engine::Options {
    engine::Options {
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(2),
        ..engine::Options::default()
    }
}

/// Services without an engine: tasks stay where they are put.
pub fn services(store: Store, bus_capacity: usize) -> Tasker {
    Tasker::new(
        store,
        HandlerRegistry::with_builtins(),
        EventBus::new(bus_capacity),
        Arc::new(SystemClock),
        Settings::default(),
    )
}

pub async fn open_store(db: &TestDb) -> Store {
    let store = Store::connect(&ConnectSettings::new(db.url.clone()))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

impl Harness {
    pub async fn start(db: &TestDb) -> Harness {
        Self::start_with(db, HandlerRegistry::with_builtins(), test_engine_options()).await
    }

    pub async fn start_with(db: &TestDb, handlers: HandlerRegistry, options: engine::Options) -> Harness {
        Self::start_configured(db, handlers, options, test_settings()).await
    }

    pub async fn start_configured(
        db: &TestDb,
        handlers: HandlerRegistry,
        options: engine::Options,
        settings: Settings,
    ) -> Harness {
        let store = open_store(db).await;
        let events = EventBus::new(10_000);
        let clock = Arc::new(SystemClock);
        let engine = Engine::new(
            store.clone(),
            handlers.clone(),
            events.clone(),
            clock.clone(),
            options,
        );
        let handle = engine.handle();
        let tasker =
            Tasker::new(store.clone(), handlers, events, clock, settings).with_engine(handle.clone());
        let cancel = CancellationToken::new();
        let join = tokio::spawn(engine.run(cancel.clone()));
        // Child tasks are started beside the engine, as `serve` does.
        tasker::service::spawn_children(tasker.clone(), Duration::from_secs(1), cancel.child_token());
        Harness {
            tasker,
            engine: handle,
            store,
            cancel,
            join: Some(join),
        }
    }

    pub async fn register(&self, yaml: &str) {
        self.tasker
            .register_template(yaml, false)
            .await
            .expect("template registers");
    }

    pub async fn create(&self, name: &str, context: Value) -> Uuid {
        self.create_task(CreateTask {
            name: name.to_owned(),
            context,
            ..CreateTask::default()
        })
        .await
    }

    pub async fn create_in(&self, namespace: &str, name: &str) -> Uuid {
        let input = CreateTask {
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
            ..CreateTask::default()
        };
        self.create_task(CreateTask {
            context: serde_json::json!({}),
            ..input
        })
        .await
    }

    async fn create_task(&self, input: CreateTask) -> Uuid {
        self.tasker
            .create_task(input)
            .await
            .expect("task is created")
            .task
            .id
    }

    /// Wait until the task is COMPLETE, ERROR, CANCELLED or RESOLVED_MANUALLY.
    pub async fn wait_finished(&self, id: Uuid) -> TaskDetail {
        self.wait_for(id, |s| s.is_finished()).await
    }

    pub async fn wait_for(&self, id: Uuid, done: impl Fn(TaskStatus) -> bool) -> TaskDetail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let detail = self
                .tasker
                .task_detail(id)
                .await
                .expect("read task")
                .expect("task exists");
            if done(detail.task.status) {
                return detail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task {id} stuck in {:?}: {:#?}",
                detail.task.status,
                detail.steps
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn stop(mut self) {
        let failed = self
            .engine
            .stats()
            .failed_turns
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            failed, 0,
            "engine transactions failed during the test (see the WARN log)"
        );
        let undispatched = self
            .engine
            .stats()
            .dispatch_failures
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            undispatched, 0,
            "claimed steps could not be dispatched (see the WARN log)"
        );
        self.cancel.cancel();
        if let Some(join) = self.join.take() {
            join.await.expect("engine stops cleanly");
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
