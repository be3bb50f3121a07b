//! The telemetry thread: the telemetry subscriber (metrics, log lines) runs
//! here, and the trace exporter's threads start from a thread like it, all
//! under Linux's `SCHED_BATCH` policy. Such a thread gets its fair share of
//! the CPU but never preempts another when it wakes up: with as many busy
//! threads as cores, telemetry waits for the engine to yield instead of
//! interrupting a turn that holds the database's write lock. It still runs
//! whenever a core is free, and under saturation it keeps its share, so its
//! queue does not overflow any sooner than at the engine's own priority.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Handle;

/// While work keeps coming, how long the telemetry thread's tasks let it
/// gather before they take it up: one wake-up per window. Each wake-up takes a
/// core from the engine's threads for a moment (on two cores, a context switch
/// and cold caches for whatever ran there); at 5 ms, observability added about
/// 700 context switches per 1,000 steps on the engine benchmark, at 20–100 ms
/// about 350 (BENCHMARKS.md). Telemetry is not in a hurry: 50 ms late is on time.
pub const GATHER_WINDOW: Duration = Duration::from_millis(50);

/// The telemetry thread's runtime, started on first use; `None` when no
/// thread could be started (callers then use their own runtime).
pub fn runtime() -> Option<Handle> {
    static RUNTIME: OnceLock<Option<Handle>> = OnceLock::new();
    RUNTIME.get_or_init(start).clone()
}

fn start() -> Option<Handle> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("tasker-telemetry".to_owned())
        .spawn(move || {
            yield_to_others();
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => {
                    let _ = tx.send(Some(runtime.handle().clone()));
                    // Lives as long as the process, like the log subscriber.
                    runtime.block_on(std::future::pending::<()>());
                }
                Err(err) => {
                    eprintln!("cannot start the telemetry runtime: {err}");
                    let _ = tx.send(None);
                }
            }
        });
    match spawned {
        Ok(_) => rx.recv().ok().flatten(),
        Err(err) => {
            eprintln!("cannot start the telemetry thread: {err}");
            None
        }
    }
}

/// Run `build` on a short-lived thread under the telemetry policy, so that
/// the threads it starts (the span exporter's batch thread, its HTTP
/// client's) inherit the policy: Linux copies it to every new thread.
pub fn inherited<T: Send>(build: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let builder = scope.spawn(|| {
            yield_to_others();
            build()
        });
        match builder.join() {
            Ok(built) => built,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Put the calling thread under the telemetry policy (Linux only; elsewhere
/// it keeps the default one).
fn yield_to_others() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
        // The crate sets a nice value with the policy: the thread's own, so
        // that the policy alone changes (a process started with `nice` keeps
        // its telemetry as nice as its engine; going below needs privileges).
        let Some(nice) = nice_of_this_thread().and_then(|n| priority_for_nice(n, policy)) else {
            eprintln!("telemetry runs under the engine's scheduling policy: its nice value is unknown");
            return;
        };
        if let Err(err) = set_thread_priority_and_policy(thread_native_id(), nice, policy) {
            eprintln!("telemetry runs under the engine's scheduling policy: {err:?}");
        }
    }
}

/// The calling thread's nice value (field 19 of its `/proc` stat).
#[cfg(target_os = "linux")]
fn nice_of_this_thread() -> Option<i32> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields = stat.rsplit_once(')')?.1.to_owned();
    fields.split_whitespace().nth(19 - 3)?.parse().ok()
}

/// The crate's priority that means `nice` under `policy` (it maps 0..=99
/// onto nice 19..=-20, every value reached).
#[cfg(target_os = "linux")]
fn priority_for_nice(
    nice: i32,
    policy: thread_priority::ThreadSchedulePolicy,
) -> Option<thread_priority::ThreadPriority> {
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    (0..=99u8)
        .filter_map(|p| ThreadPriorityValue::try_from(p).ok())
        .map(ThreadPriority::Crossplatform)
        .find(|priority| priority.to_posix(policy).ok() == Some(nice))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn policy_of_this_thread() -> thread_priority::ThreadSchedulePolicy {
        thread_priority::thread_schedule_policy().expect("a policy")
    }

    #[test]
    fn threads_started_for_telemetry_run_as_batch_at_the_callers_nice_value() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let batch = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
        let (policy, child_policy) = inherited(|| {
            let child = std::thread::spawn(policy_of_this_thread);
            (policy_of_this_thread(), child.join().expect("joined"))
        });
        assert_eq!(policy, batch);
        assert_eq!(child_policy, batch, "new threads inherit the policy");
        // Under a process started with `nice -n 5`, telemetry stays at 5.
        let niced = std::thread::spawn(move || {
            let other = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
            let five = priority_for_nice(5, other).expect("nice 5");
            thread_priority::set_thread_priority_and_policy(thread_priority::thread_native_id(), five, other)
                .expect("a thread may lower its own priority");
            inherited(|| (nice_of_this_thread(), policy_of_this_thread()))
        });
        assert_eq!(niced.join().expect("joined"), (Some(5), batch));
        for nice in -20..=19 {
            let priority = priority_for_nice(nice, batch).expect("every nice value");
            assert_eq!(priority.to_posix(batch).ok(), Some(nice));
        }
        assert_ne!(policy_of_this_thread(), batch, "the caller keeps its own");
    }

    #[test]
    fn the_runtime_runs_tasks_on_its_thread() {
        let handle = runtime().expect("a telemetry runtime");
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let _ = tx.send(std::thread::current().name().map(str::to_owned));
        });
        let name = rx.recv().expect("ran");
        assert_eq!(name.as_deref(), Some("tasker-telemetry"));
    }
}
