//! `tasker doctor telemetry`: proves on a running deployment that a task's
//! metrics reach Prometheus and its trace reaches the trace backend, and
//! measures createTask under load from that telemetry (not from the client).
//!
//! The trace backend is read through Jaeger's HTTP query API (`/api/services`,
//! `/api/traces/{id}`), which Jaeger serves and the test receiver in
//! `scripts/telemetry/` imitates. Each task the doctor creates carries a
//! `traceparent` of its own making, so it knows which trace to ask for.

mod backend;
mod hierarchy;
mod jaeger;
mod load;
mod preflight;
mod probe;
mod prometheus;
mod report;
mod validate;

pub use backend::BackendError;
pub use hierarchy::{ExpectedStep, Shape};
pub use jaeger::{TraceSpan, Traces};
pub use load::{LoadPlan, load};
pub use probe::{Created, Probe};
pub use prometheus::{Prometheus, Rule, Sample, Target, Vector};
pub use report::{Check, Report, Verdict};
pub use validate::validate;

/// A fresh W3C trace context for one request: (trace id, span id, header value).
pub fn new_trace_context() -> (String, String, String) {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let header = format!("00-{trace}-{span}-01");
    (trace, span, header)
}

#[cfg(test)]
mod tests {
    #[test]
    fn trace_contexts_are_sampled_w3c_headers_of_their_own_ids() {
        let (trace, span, header) = super::new_trace_context();
        assert_eq!(trace.len(), 32);
        assert_eq!(span.len(), 16);
        assert_eq!(header, format!("00-{trace}-{span}-01"));
        assert_ne!(super::new_trace_context().0, trace);
    }
}
