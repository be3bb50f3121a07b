//! The standard `process_*` metrics, read from `/proc/self` at scrape time
//! (Linux; elsewhere only the start time is reported).

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// `/proc` reports CPU time in USER_HZ ticks, fixed at 100 per second for
/// user space on every Linux architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// What `/proc/self` says about this process.
#[derive(Debug, Default, PartialEq)]
pub(super) struct ProcessSample {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub threads: Option<f64>,
    pub open_fds: Option<f64>,
}

/// Parse `/proc/self/stat` (CPU) and `/proc/self/status` (memory, threads).
pub(super) fn parse(stat: &str, status: &str) -> ProcessSample {
    // The command name (field 2) may hold spaces; fields after it start past ')'.
    let after_name: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
    let ticks = |i: usize| after_name.get(i).and_then(|v| v.parse::<f64>().ok());
    let cpu_seconds = ticks(11)
        .zip(ticks(12))
        .map(|(user, system)| (user + system) / TICKS_PER_SECOND);
    let field = |key: &str| {
        status.lines().find_map(|line| {
            let value = line.strip_prefix(key)?.trim();
            let number = value.split_whitespace().next()?.parse::<f64>().ok()?;
            Some(if value.ends_with("kB") {
                number * 1024.0
            } else {
                number
            })
        })
    };
    ProcessSample {
        cpu_seconds,
        resident_bytes: field("VmRSS:"),
        virtual_bytes: field("VmSize:"),
        threads: field("Threads:"),
        open_fds: None,
    }
}

/// Resident memory now, in bytes (Linux).
pub(super) fn resident_bytes() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse("", &status).resident_bytes
}

fn sample() -> ProcessSample {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let mut sample = parse(&read("/proc/self/stat"), &read("/proc/self/status"));
    sample.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|entries| entries.count() as f64);
    sample
}

/// Reports the process's CPU, memory, threads, descriptors and start time.
#[derive(Debug)]
pub(super) struct ProcessCollector {
    start_time_seconds: f64,
}

impl ProcessCollector {
    pub(super) fn new() -> Self {
        let start_time_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self { start_time_seconds }
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: f64,
) -> std::fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let s = sample();
        if let Some(cpu) = s.cpu_seconds {
            let metric = ConstCounter::new(cpu);
            metric.encode(encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent",
                Some(&Unit::Seconds),
                metric.metric_type(),
            )?)?;
        }
        let gauges = [
            (
                "process_resident_memory",
                "Resident memory size",
                Some(Unit::Bytes),
                s.resident_bytes,
            ),
            (
                "process_virtual_memory",
                "Virtual memory size",
                Some(Unit::Bytes),
                s.virtual_bytes,
            ),
            ("process_threads", "OS threads in the process", None, s.threads),
            ("process_open_fds", "Open file descriptors", None, s.open_fds),
            (
                "process_start_time",
                "Start time of the process since the Unix epoch",
                Some(Unit::Seconds),
                Some(self.start_time_seconds),
            ),
        ];
        for (name, help, unit, value) in gauges {
            if let Some(value) = value {
                gauge(&mut encoder, name, help, unit.as_ref(), value)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_memory_and_threads_even_with_spaces_in_the_name() {
        let stat =
            "4242 (tasker (x) y) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 9 0 100 1000000 300";
        let status = "Name:\ttasker\nVmSize:\t  200 kB\nVmRSS:\t   100 kB\nThreads:\t9\n";
        let s = parse(stat, status);
        assert_eq!(s.cpu_seconds, Some(3.0));
        assert_eq!(s.resident_bytes, Some(102_400.0));
        assert_eq!(s.virtual_bytes, Some(204_800.0));
        assert_eq!(s.threads, Some(9.0));
        assert_eq!(parse("garbage", ""), ProcessSample::default());
    }
}
