//! Several engines on one database: every attempt of every step runs exactly
//! once, none twice, and the work is shared.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tasker::domain::{StepStatus, TaskStatus};
use tasker::engine;
use tasker::handlers::{HandlerError, HandlerRegistry, StepContext, StepHandler};
use uuid::Uuid;

use crate::support::{Harness, TestDb, test_engine_options};

crate::on_both_backends! {
    two_engines_share_200_tasks_and_run_each_attempt_exactly_once => two_engines;
}

/// Counts calls per (step, attempt); fails the first attempt of every seventh step.
#[derive(Default)]
struct Recorder {
    calls: Mutex<HashMap<(Uuid, u32), u32>>,
    by_engine: Mutex<HashMap<String, u32>>,
}

struct Recording {
    shared: Arc<Recorder>,
    engine: &'static str,
}

#[async_trait::async_trait]
impl StepHandler for Recording {
    async fn handle(&self, ctx: StepContext) -> Result<Value, HandlerError> {
        {
            let mut calls = self.shared.calls.lock().expect("lock");
            *calls.entry((ctx.step_id, ctx.attempt)).or_default() += 1;
            *self
                .shared
                .by_engine
                .lock()
                .expect("lock")
                .entry(self.engine.to_owned())
                .or_default() += 1;
        }
        tokio::task::yield_now().await;
        if ctx.attempt == 1 && ctx.step_id.as_u128().is_multiple_of(7) {
            return Err(HandlerError::retryable(
                "first attempt of every seventh step fails",
            ));
        }
        Ok(json!({"engine": self.engine}))
    }
}

async fn two_engines(db: &TestDb) {
    let recorder = Arc::new(Recorder::default());
    let registry = |engine: &'static str| {
        let r = HandlerRegistry::with_builtins();
        r.register(
            None,
            "record",
            Arc::new(Recording {
                shared: Arc::clone(&recorder),
                engine,
            }),
            false,
        )
        .expect("registers");
        r
    };
    let options = |name: &str| engine::Options {
        instance_id: format!("engine:{name}"),
        max_concurrency: 16,
        claim_batch_size: 8,
        ..test_engine_options()
    };
    let a = Harness::start_with(db, registry("a"), options("a")).await;
    let b = Harness::start_with(db, registry("b"), options("b")).await;
    a.register(
        "name: shared
steps:
  - {name: start, handler: record}
  - {name: left, handler: record, depends_on: [start]}
  - {name: right, handler: record, depends_on: [start]}
  - {name: join, handler: record, depends_on: [left, right]}
  - {name: after, handler: record, depends_on: [join]}
",
    )
    .await;
    // Each replica hears only of the tasks created through it (the others find
    // work by polling), and an engine claims the steps its own turn readies:
    // tasks created through one replica alone can all run there.
    let mut ids = Vec::new();
    for i in 0..200 {
        let through = if i % 2 == 0 { &a } else { &b };
        ids.push(through.create("shared", json!({"i": i})).await);
    }
    for id in &ids {
        let detail = a.wait_finished(*id).await;
        assert_eq!(detail.task.status, TaskStatus::Complete);
        for step in &detail.steps {
            assert_eq!(step.status, StepStatus::Complete);
            let expected = if step.id.as_u128().is_multiple_of(7) { 2 } else { 1 };
            assert_eq!(step.attempts, expected, "{}", step.name);
        }
        let step_ids: Vec<Uuid> = detail.steps.iter().map(|s| s.id).collect();
        let audit = a.tasker.step_transitions(&step_ids).await.expect("audit");
        for step in &step_ids {
            let completions = audit
                .iter()
                .filter(|(id, t)| id == step && t.to == "COMPLETE")
                .count();
            assert_eq!(completions, 1, "step {step} completed {completions} times");
        }
    }
    let calls = recorder.calls.lock().expect("lock").clone();
    assert_eq!(
        calls.len(),
        200 * 5 + calls.keys().filter(|(_, attempt)| *attempt == 2).count()
    );
    let twice: Vec<_> = calls.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "attempts run more than once: {twice:?}");
    let by_engine = recorder.by_engine.lock().expect("lock").clone();
    assert!(
        by_engine.get("a").copied().unwrap_or(0) > 0 && by_engine.get("b").copied().unwrap_or(0) > 0,
        "{by_engine:?}"
    );
    a.stop().await;
    b.stop().await;
}
