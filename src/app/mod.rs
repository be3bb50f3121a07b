//! Wiring: configuration → store, handlers, events, engine, services, HTTP.
//! Library users embed Tasker with their own handlers through [`App`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

mod checks;

pub use checks::check_config;

use crate::cluster::metrics::{ExportSchedule, Exports, MetricsCache};
use crate::config::{Config, ConfigError, DEFAULT_TEMPLATE_DIR};
use crate::engine::{Clock, Engine, SystemClock};
use crate::events::EventBus;
use crate::handlers::HandlerRegistry;
use crate::http::{AppState, router};
use crate::service::{self, Tasker};
use crate::store::{self, Store};
use crate::telemetry::monitor;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The `[auth]` settings are unusable.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthSetupError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] store::Error),
    /// A template file was refused.
    #[error("template {}: {source}", path.display())]
    Template {
        /// The file (or directory).
        path: PathBuf,
        /// Why.
        source: service::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Redis could not be set up.
    #[error("redis: {0}")]
    Redis(String),
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Serve(std::io::Error),
}

/// Open and migrate the database, build services (no engine yet).
pub async fn open(config: &Config, handlers: HandlerRegistry) -> Result<Tasker, StartError> {
    check_config(config)?;
    let mut store = Store::connect(&store::ConnectSettings::from_config(&config.database))
        .await?
        .with_priority_ageing(config.priority_ageing())
        .with_event_lookback(Duration::from_secs(config.inbound_events.lookback_seconds));
    let events = EventBus::new(config.events.channel_capacity);
    let thresholds = monitor::Thresholds::from_config(&config.observability);
    store.observe_statements(monitor::statement_observer(events.clone(), thresholds.slow_query));
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Ok(Tasker::new(
        store,
        handlers,
        events,
        clock,
        service::Settings::from_config(config),
    ))
}

/// Register every template in the configured directories. The default
/// directory may be missing; a configured one may not.
pub async fn load_templates(tasker: &Tasker, dirs: &[PathBuf]) -> Result<(), StartError> {
    for dir in dirs {
        if !dir.exists() {
            if dir == Path::new(DEFAULT_TEMPLATE_DIR) {
                continue;
            }
            let source = service::Error::BadInput {
                field: "templates.dirs".into(),
                message: "directory does not exist".into(),
            };
            return Err(StartError::Template {
                path: dir.clone(),
                source,
            });
        }
        let loaded = tasker
            .load_template_dir(dir)
            .await
            .map_err(|(path, source)| StartError::Template { path, source })?;
        for t in loaded {
            info!(template = %t.full_name, file = %t.path.display(), registration = ?t.registration, "template loaded");
        }
    }
    Ok(())
}

/// An engine over the same store, handlers and event bus as `tasker`.
pub fn engine_for(tasker: &Tasker, mut options: crate::engine::Options) -> Engine {
    options.claim_latency = Some(tasker.metrics().claim_latency());
    Engine::new(
        tasker.store().clone(),
        tasker.handlers().clone(),
        tasker.events().clone(),
        Arc::new(SystemClock),
        options,
    )
}

/// A configured service: engine plus HTTP.
pub struct App {
    tasker: Tasker,
    engine: Engine,
    listen: SocketAddr,
    graphql: crate::graphql::Settings,
    max_request_bytes: usize,
    explorer: bool,
    feed_queue: usize,
    redis: crate::config::RedisConfig,
    metrics_cache: crate::config::MetricsCacheConfig,
    thresholds: monitor::Thresholds,
    auth: crate::auth::Auth,
}

impl App {
    /// Open the database, load templates, build the engine.
    pub async fn build(config: &Config, handlers: HandlerRegistry) -> Result<Self, StartError> {
        let listen = config.listen_addr()?;
        let tasker = open(config, handlers).await?;
        if tasker.store().autovacuum_off().await.unwrap_or(false) {
            warn!(
                "PostgreSQL's autovacuum is off: without fresh statistics the engine's lookups become full scans as tables grow; turn it on or run ANALYZE regularly"
            );
        }
        let engine = engine_for(&tasker, crate::engine::Options::from_config(config));
        let tasker = tasker.with_engine(engine.handle());
        load_templates(&tasker, &config.templates.dirs).await?;
        Ok(Self {
            tasker,
            engine,
            listen,
            graphql: crate::graphql::Settings::from_config(config),
            max_request_bytes: config.graphql.max_request_bytes,
            explorer: config.explorer.enabled,
            feed_queue: config.events.channel_capacity,
            redis: config.redis.clone(),
            metrics_cache: config.metrics_cache.clone(),
            thresholds: monitor::Thresholds::from_config(&config.observability),
            auth: crate::auth::Auth::from_config(&config.auth)?,
        })
    }

    /// Use these authenticators and this authorization coordinator instead of
    /// the configured ones (a deployment's own API keys, SSO, policies).
    pub fn with_auth(mut self, auth: crate::auth::Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The services (e.g. to register handlers' templates before serving).
    pub fn tasker(&self) -> &Tasker {
        &self.tasker
    }

    /// Bind the configured address and serve until `cancel`.
    pub async fn serve(self, cancel: CancellationToken) -> Result<(), StartError> {
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: self.listen,
                source,
            })?;
        self.serve_on(listener, cancel).await
    }

    /// Serve on a bound listener until `cancel`: stop accepting requests, let
    /// the engine drain, close the database.
    pub async fn serve_on(
        self,
        listener: tokio::net::TcpListener,
        cancel: CancellationToken,
    ) -> Result<(), StartError> {
        let bound = listener.local_addr().map_err(StartError::Serve)?;
        if let Err(err) = crate::telemetry::follow(&self.tasker, self.feed_queue) {
            warn!(error = %err, "metrics will not count events");
        }
        let instance = self.engine.handle().instance_id().to_owned();
        let relay = crate::cluster::start_relay(
            &self.tasker,
            &self.redis,
            &instance,
            self.feed_queue,
            cancel.child_token(),
        )
        .map_err(StartError::Redis)?;
        let memory = monitor::watch_memory(
            self.tasker.events().clone(),
            self.thresholds,
            cancel.child_token(),
        );
        tokio::spawn(memory);
        let metrics_cache =
            MetricsCache::start(self.tasker.metrics().clone(), &self.metrics_cache, &self.redis).await;
        let syncing = metrics_cache.spawn(
            Duration::from_secs(self.metrics_cache.sync_interval_seconds),
            cancel.child_token(),
        );
        if let Some(schedule) = ExportSchedule::from_config(&self.metrics_cache) {
            // Asked a few times per window, so a window is exported soon after it ends.
            let check = (schedule.every / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
            let exports = Exports::new(
                metrics_cache.clone(),
                self.tasker.exporters().clone(),
                self.tasker.events().clone(),
                schedule,
            );
            exports.spawn(check, cancel.child_token());
        }
        let engine = tokio::spawn(self.engine.run(cancel.clone()));
        // Every replica looks for due schedules; a lease per schedule and an
        // idempotency key per fire make each fire one task.
        let schedules = service::spawn_schedules(
            self.tasker.clone(),
            instance.clone(),
            Duration::from_secs(1),
            cancel.child_token(),
        );
        // Every replica starts the child tasks waiting steps need; an
        // idempotency key per step attempt makes each one task.
        let children =
            service::spawn_children(self.tasker.clone(), Duration::from_secs(1), cancel.child_token());
        let tasker = self.tasker.clone().with_metrics_cache(metrics_cache);
        let state = AppState {
            schema: crate::graphql::schema(tasker.clone(), &self.graphql),
            tasker,
            max_request_bytes: self.max_request_bytes,
            explorer: self.explorer,
            started: Instant::now(),
            relay,
            auth: self.auth.clone(),
        };
        info!(address = %bound, backend = ?self.tasker.store().backend(), "tasker listening");
        // Small websocket frames (subscription events) would otherwise wait for
        // the peer's delayed ACK under Nagle's algorithm.
        let listener = listener.tap_io(|stream| {
            if let Err(err) = stream.set_nodelay(true) {
                debug!(error = %err, "cannot set TCP_NODELAY on an accepted connection");
            }
        });
        let served = axum::serve(listener, router(state))
            .with_graceful_shutdown(cancel.clone().cancelled_owned())
            .await;
        cancel.cancel();
        if engine.await.is_err() {
            warn!("the engine task ended abnormally");
        }
        let _ = schedules.await;
        let _ = children.await;
        // The last sync carries what the engine counted while draining.
        let _ = syncing.await;
        let _ = self.tasker.subscribers().unsubscribe(crate::telemetry::FEED);
        let _ = self.tasker.subscribers().unsubscribe(crate::cluster::RELAY);
        self.tasker.store().clone().close().await?;
        served.map_err(StartError::Serve)
    }
}
