//! What a run cost and what the machine did meanwhile, from Linux `/proc`:
//! this process's CPU time, memory, open files and context switches, and the
//! share of the machine's CPU time the hypervisor gave to other guests
//! (steal), which on a shared virtual machine moves throughput more than
//! most of what a benchmark compares.

/// Counters read at the start of a run, compared with their values at its end.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    cpu_s: Option<f64>,
    telemetry_cpu_s: Option<f64>,
    ticks: Option<Ticks>,
    switches: Option<u64>,
}

/// What changed between two [`Usage`] readings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    /// Process CPU seconds (user + system).
    pub cpu_s: Option<f64>,
    /// Of which on the telemetry threads (see [`telemetry_cpu_time`]).
    pub telemetry_cpu_s: Option<f64>,
    /// Share of the machine's CPU time stolen by the hypervisor, in percent.
    pub steal_percent: Option<f64>,
    /// Context switches of the process's threads (voluntary and not).
    pub context_switches: Option<u64>,
}

impl Usage {
    /// Read the counters now (none of them off Linux).
    pub fn now() -> Self {
        Self {
            cpu_s: cpu_time(),
            telemetry_cpu_s: telemetry_cpu_time(),
            ticks: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|stat| Ticks::parse(stat.lines().next()?)),
            switches: context_switches(),
        }
    }

    /// What was spent from `self` until `later`.
    pub fn until(&self, later: &Usage) -> Spent {
        Spent {
            cpu_s: self.cpu_s.zip(later.cpu_s).map(|(a, b)| b - a),
            telemetry_cpu_s: self
                .telemetry_cpu_s
                .zip(later.telemetry_cpu_s)
                .map(|(a, b)| b - a),
            steal_percent: self.ticks.zip(later.ticks).and_then(|(a, b)| a.steal_percent(b)),
            context_switches: self
                .switches
                .zip(later.switches)
                .map(|(a, b)| b.saturating_sub(a)),
        }
    }
}

/// The machine's CPU time in ticks: stolen, and all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ticks {
    steal: u64,
    total: u64,
}

impl Ticks {
    /// The aggregate `cpu` line of `/proc/stat`.
    fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let values = fields
            .map(|f| f.parse::<u64>().ok())
            .collect::<Option<Vec<u64>>>()?;
        // user nice system idle iowait irq softirq steal, then guest and
        // guest_nice, which are already counted in user and nice.
        Some(Self {
            steal: *values.get(7)?,
            total: values.iter().take(8).sum(),
        })
    }

    fn steal_percent(self, later: Ticks) -> Option<f64> {
        let total = later.total.checked_sub(self.total).filter(|t| *t > 0)?;
        let steal = later.steal.checked_sub(self.steal)?;
        Some(steal as f64 * 100.0 / total as f64)
    }
}

/// User + system CPU seconds of this process (Linux `/proc`, 100 ticks/s).
pub fn cpu_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    Some(cpu_ticks(&stat)? as f64 / 100.0)
}

/// Field `n` of a `/proc/*/stat` line, numbered as in proc(5) (the name, field
/// 2, may hold spaces: fields are counted after its closing parenthesis).
fn stat_field(stat: &str, n: usize) -> Option<u64> {
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

/// User + system ticks (fields 14 and 15) of a `/proc/*/stat` line.
fn cpu_ticks(stat: &str) -> Option<u64> {
    Some(stat_field(stat, 14)? + stat_field(stat, 15)?)
}

/// User + system CPU seconds of the telemetry threads: those under the
/// `SCHED_BATCH` policy, which only the telemetry thread and the threads it
/// starts use (see `telemetry::background`). They live as long as the process.
pub fn telemetry_cpu_time() -> Option<f64> {
    let threads = std::fs::read_dir("/proc/self/task").ok()?;
    let mut ticks = 0;
    for thread in threads.flatten() {
        if let Ok(stat) = std::fs::read_to_string(thread.path().join("stat")) {
            ticks += batch_ticks(&stat).unwrap_or(0);
        }
    }
    Some(ticks as f64 / 100.0)
}

/// `SCHED_BATCH` in the `policy` field of `/proc/*/stat`.
const SCHED_BATCH: u64 = 3;

/// User + system ticks of a thread's `/proc/*/task/*/stat`, when it runs
/// under `SCHED_BATCH`.
fn batch_ticks(stat: &str) -> Option<u64> {
    // Field 41 of proc(5): the scheduling policy.
    (stat_field(stat, 41)? == SCHED_BATCH).then(|| cpu_ticks(stat))?
}

/// Context switches of this process's live threads: a thread that ended
/// takes its count with it, so read it over runs whose threads persist.
pub fn context_switches() -> Option<u64> {
    let threads = std::fs::read_dir("/proc/self/task").ok()?;
    let mut sum = 0;
    for thread in threads.flatten() {
        // A thread may end between listing and reading: it counts as none.
        let Ok(status) = std::fs::read_to_string(thread.path().join("status")) else {
            continue;
        };
        sum += switches_in(&status);
    }
    Some(sum)
}

fn switches_in(status: &str) -> u64 {
    ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"]
        .iter()
        .filter_map(|key| status_field(status, key))
        .sum()
}

/// The number of a `/proc/*/status` line `key:\t<number>[ kB]`.
fn status_field(status: &str, key: &str) -> Option<u64> {
    let line = status
        .lines()
        .find(|l| l.strip_prefix(key).is_some_and(|rest| rest.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident set size of this process in MiB (Linux `/proc`).
pub fn peak_rss_mb() -> Option<f64> {
    memory_mb("self", "VmHWM")
}

/// A memory figure in MiB of process `pid` (or `self`) from `/proc/<pid>/status`:
/// `VmHWM` (peak resident), `VmRSS` (resident now).
pub fn memory_mb(pid: &str, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(status_field(&status, key)? as f64 / 1024.0)
}

/// Open file descriptors of this process (Linux `/proc`): sockets included.
pub fn open_files() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_stolen_share_of_all_ticks_between_two_readings() {
        let before = Ticks::parse("cpu  100 0 50 800 10 0 5 35 7 0").expect("parses");
        assert_eq!(
            before,
            Ticks {
                steal: 35,
                total: 1000
            }
        );
        let after = Ticks::parse("cpu  200 0 90 1500 10 0 5 195 9 0").expect("parses");
        // 160 of the 1,000 ticks in between were stolen; guest ticks are not added twice.
        assert_eq!(before.steal_percent(after), Some(16.0));
        assert_eq!(before.steal_percent(before), None, "no time passed");
        assert_eq!(Ticks::parse("cpu0 1 2 3 4 5 6 7 8"), None, "one core's line");
        assert_eq!(Ticks::parse("cpu 1 2 3"), None, "a kernel without steal");
    }

    #[test]
    fn context_switches_add_both_kinds() {
        let status =
            "Name:\ttokio-rt-worker\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(switches_in(status), 127);
        assert_eq!(switches_in("Name:\tx\n"), 0);
        assert_eq!(
            status_field("VmHWM:\t  20480 kB\nVmRSS:\t 1024 kB\n", "VmRSS"),
            Some(1024)
        );
        assert_eq!(status_field("VmRSSx:\t1 kB\n", "VmRSS"), None, "a longer key");
    }

    #[test]
    fn telemetry_threads_are_told_by_their_policy() {
        // proc(5) fields 3..=41 after "(name)": utime 14 = 7, stime 15 = 3, policy 41.
        let stat = |policy: u64| {
            let mut fields: Vec<String> = (3..=52).map(|_| "0".to_owned()).collect();
            fields[14 - 3] = "7".into();
            fields[15 - 3] = "3".into();
            fields[41 - 3] = policy.to_string();
            format!("42 (tasker telemetry) {}", fields.join(" "))
        };
        assert_eq!(batch_ticks(&stat(SCHED_BATCH)), Some(10));
        assert_eq!(batch_ticks(&stat(0)), None, "SCHED_OTHER: an engine thread");
        assert_eq!(batch_ticks("42 (x) S 1"), None, "too short");
    }

    #[test]
    fn a_reading_of_this_process_moves_forward() {
        let before = Usage::now();
        let after = Usage::now();
        let spent = before.until(&after);
        if cfg!(target_os = "linux") {
            assert!(spent.cpu_s.is_some_and(|s| s >= 0.0));
            assert!(spent.context_switches.is_some());
        }
    }
}
