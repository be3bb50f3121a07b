//! The trace spans of step attempts and their handler calls, built on the
//! telemetry thread from what the attempt measured, not by tracing's layer on
//! the runtime's workers while the attempt runs.
//!
//! An attempt is on the engine's critical path: the scheduler's next turn
//! waits for its report. Through `tracing-opentelemetry`, each attempt paid
//! for two spans there (a builder, a lock and a clock read on every poll, the
//! SDK span, the attribute conversions); now it takes four clock readings and
//! queues one record. The log lines inside an attempt still carry its fields
//! through the `step.attempt` tracing span, which the trace layer ignores.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use tokio::sync::Notify;
use uuid::Uuid;
use uuid::fmt::Hyphenated;

use super::traces::Parent;
use super::{Gate, background};

/// Attempts waiting for their spans; beyond, they go without (and say so once).
const QUEUE: usize = 16_384;

/// How an attempt ended, as its span says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The handler succeeded.
    Completed,
    /// Failed: the failure kind, and its message (the span's error status).
    Failed(&'static str, String),
    /// Cancelled or its claim lost: nothing recorded.
    Interrupted,
}

/// One finished attempt, as its spans need it.
#[derive(Debug)]
pub struct FinishedAttempt {
    /// The task.
    pub task_id: Uuid,
    /// The step.
    pub step_id: Uuid,
    /// The step's name.
    pub step: String,
    /// Its handler's name.
    pub handler: String,
    /// Attempt number.
    pub attempt: u32,
    /// The task's correlation id.
    pub correlation_id: Option<Arc<str>>,
    /// The task's trace context: the attempt hangs under it.
    pub parent: Option<Parent>,
    /// When the attempt started and ended.
    pub ran: (SystemTime, SystemTime),
    /// When the handler was called and returned; `None` when none was called.
    pub handler_call: Option<(SystemTime, SystemTime)>,
    /// How it ended.
    pub ending: Ending,
}

/// Where finished attempts go to become spans.
pub struct AttemptSpans {
    tracer: SdkTracer,
    gate: Gate,
    queue: SyncSender<FinishedAttempt>,
    waiting: Mutex<Receiver<FinishedAttempt>>,
    wake: Notify,
    dropping: AtomicBool,
    /// No telemetry thread: spans are built where attempts finish.
    inline: bool,
}

static INSTALLED: OnceLock<AttemptSpans> = OnceLock::new();

/// Where to send finished attempts, when their spans are exported now.
pub fn recording() -> Option<&'static AttemptSpans> {
    INSTALLED.get().filter(|spans| spans.gate.is_open())
}

/// Export attempt spans with `tracer` while `gate` is open, built on the
/// telemetry thread (or, without one, on the thread that finishes them).
/// The first call wins, like the global subscriber's.
pub(super) fn install(tracer: SdkTracer, gate: Gate) {
    let runtime = background::runtime();
    let (queue, waiting) = sync_channel(QUEUE);
    let spans = AttemptSpans {
        tracer,
        gate,
        queue,
        waiting: Mutex::new(waiting),
        wake: Notify::new(),
        dropping: AtomicBool::new(false),
        inline: runtime.is_none(),
    };
    if INSTALLED.set(spans).is_ok()
        && let (Some(runtime), Some(spans)) = (runtime, INSTALLED.get())
    {
        runtime.spawn(async move {
            loop {
                spans.wake.notified().await;
                spans.build_waiting();
                tokio::time::sleep(background::GATHER_WINDOW).await;
            }
        });
    }
}

/// Build the spans of every attempt still queued (before the exporter shuts
/// down, say).
pub fn flush() {
    if let Some(spans) = INSTALLED.get() {
        spans.build_waiting();
    }
}

impl AttemptSpans {
    fn build_waiting(&self) {
        let waiting = self
            .waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while let Ok(finished) = waiting.try_recv() {
            build(&self.tracer, finished);
        }
    }

    /// Queue `finished` for its spans; never waits.
    pub fn record(&self, finished: FinishedAttempt) {
        if self.inline {
            return build(&self.tracer, finished);
        }
        match self.queue.try_send(finished) {
            Ok(()) => self.wake.notify_one(),
            Err(TrySendError::Full(_)) => {
                if !self.dropping.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        queued = QUEUE,
                        "attempt spans are being dropped: the telemetry thread is behind"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The attempt's span and, beneath it, its handler call's.
fn build(tracer: &SdkTracer, finished: FinishedAttempt) {
    let FinishedAttempt {
        task_id,
        step_id,
        step,
        handler,
        attempt,
        correlation_id,
        parent,
        ran: (started, ended),
        handler_call,
        ending,
    } = finished;
    // Ids written out directly: `to_string` goes through the formatter.
    let id = |id: Uuid| {
        id.hyphenated()
            .encode_lower(&mut [0; Hyphenated::LENGTH])
            .to_owned()
    };
    let mut attributes = Vec::with_capacity(7);
    attributes.extend([
        KeyValue::new("task_id", id(task_id)),
        KeyValue::new("step_id", id(step_id)),
        KeyValue::new("step", step),
        KeyValue::new("attempt", i64::from(attempt)),
        KeyValue::new("handler", handler.clone()),
    ]);
    attributes.extend(correlation_id.map(|id| KeyValue::new("correlation_id", id)));
    let (outcome, status) = match ending {
        Ending::Completed => ("completed", Status::Unset),
        Ending::Failed(kind, message) => (kind, Status::error(message)),
        Ending::Interrupted => ("interrupted", Status::Unset),
    };
    attributes.push(KeyValue::new("outcome", outcome));
    let parent = parent.map_or_else(Context::new, Parent::into_context);
    let mut span = tracer
        .span_builder("step.attempt")
        .with_kind(SpanKind::Consumer)
        .with_start_time(started)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    span.set_status(status);
    let attempt_cx = parent.with_span(span);
    if let Some((called, returned)) = handler_call {
        tracer
            .span_builder("handler")
            .with_start_time(called)
            .with_attributes([KeyValue::new("handler", handler)])
            .start_with_context(tracer, &attempt_cx)
            .end_with_timestamp(returned);
    }
    attempt_cx.span().end_with_timestamp(ended);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

    use super::*;

    #[derive(Debug, Clone, Default)]
    struct Captured(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Captured {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().expect("lock").extend(batch);
            Ok(())
        }
    }

    fn finished(ending: Ending, parent: Option<Parent>) -> FinishedAttempt {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        FinishedAttempt {
            task_id: Uuid::nil(),
            step_id: Uuid::max(),
            step: "fetch".into(),
            handler: "http".into(),
            attempt: 2,
            correlation_id: Some(Arc::from("req-1")),
            parent,
            ran: (at, at + Duration::from_millis(30)),
            handler_call: Some((at + Duration::from_millis(1), at + Duration::from_millis(29))),
            ending,
        }
    }

    fn exported(attempts: Vec<FinishedAttempt>) -> Vec<SpanData> {
        let exporter = Captured::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("test");
        for attempt in attempts {
            build(&tracer, attempt);
        }
        exporter.0.lock().expect("lock").clone()
    }

    fn attribute(span: &SpanData, key: &str) -> Option<String> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    }

    #[test]
    fn an_attempt_becomes_a_consumer_span_under_the_task_with_its_handler_call_beneath() {
        let task = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let spans = exported(vec![finished(Ending::Completed, Parent::parse(task))]);
        assert_eq!(spans.len(), 2);
        let (handler, attempt) = (&spans[0], &spans[1]);
        assert_eq!(attempt.name, "step.attempt");
        assert_eq!(attempt.span_kind, SpanKind::Consumer);
        let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex");
        assert_eq!(attempt.span_context.trace_id(), trace);
        assert_eq!(
            attempt.parent_span_id,
            SpanId::from_hex("00f067aa0ba902b7").expect("hex")
        );
        assert_eq!(attribute(attempt, "step").as_deref(), Some("fetch"));
        assert_eq!(attribute(attempt, "attempt").as_deref(), Some("2"));
        assert_eq!(attribute(attempt, "task_id"), Some(Uuid::nil().to_string()));
        assert_eq!(attribute(attempt, "step_id"), Some(Uuid::max().to_string()));
        assert_eq!(attribute(attempt, "correlation_id").as_deref(), Some("req-1"));
        assert_eq!(attribute(attempt, "outcome").as_deref(), Some("completed"));
        assert_eq!(attempt.status, Status::Unset);
        let took = attempt
            .end_time
            .duration_since(attempt.start_time)
            .expect("ordered");
        assert_eq!(took, Duration::from_millis(30), "the attempt's own times");

        assert_eq!(handler.name, "handler");
        assert_eq!(handler.parent_span_id, attempt.span_context.span_id());
        assert_eq!(handler.span_context.trace_id(), trace);
        assert_eq!(attribute(handler, "handler").as_deref(), Some("http"));
        let took = handler
            .end_time
            .duration_since(handler.start_time)
            .expect("ordered");
        assert_eq!(took, Duration::from_millis(28));
    }

    #[test]
    fn a_failed_attempt_is_an_error_span_and_one_without_a_handler_has_no_call() {
        let mut unknown = finished(Ending::Failed("unknown_handler", "no handler".into()), None);
        unknown.handler_call = None;
        unknown.correlation_id = None;
        let spans = exported(vec![unknown, finished(Ending::Interrupted, None)]);
        assert_eq!(spans.len(), 3, "one attempt without a handler call, one with");
        let failed = &spans[0];
        assert_eq!(failed.name, "step.attempt");
        assert_eq!(
            failed.parent_span_id,
            SpanId::INVALID,
            "no task trace: a root span"
        );
        assert_eq!(failed.status, Status::error("no handler"));
        assert_eq!(attribute(failed, "outcome").as_deref(), Some("unknown_handler"));
        assert_eq!(attribute(failed, "correlation_id"), None);
        assert_eq!(attribute(&spans[2], "outcome").as_deref(), Some("interrupted"));
    }
}
