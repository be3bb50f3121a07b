//! JSON log lines written straight out, in the shape of tracing-subscriber's
//! JSON format with flattened events: `timestamp`, `level`, the event's
//! fields, then `span` (its fields and `name`) and `spans` (root to leaf)
//! inside a span. That format serializes each field through serde_json into an
//! `io::Write` adaptor over the line (about 1,300 instructions a string
//! field), formats the timestamp anew for every line (about 3,000), and
//! parses each enclosing span's fields back from JSON to write them again.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::span_fields::{Escaped, JsonSpanFields, buffered, write_entries};

/// The JSON line format (span fields written by [`JsonSpanFields`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonSpanFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonSpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        buffered(&mut writer, |out| {
            out.write_str("{\"timestamp\":\"")?;
            write_timestamp(out, SystemTime::now())?;
            out.write_str("\",\"level\":\"")?;
            out.write_str(event.metadata().level().as_str())?;
            out.write_char('"')?;
            write_entries(out, event, false)?;
            // As tracing-subscriber does: `span` is the event's parent if it
            // names one, `spans` the current span and its ancestors.
            let span = event
                .parent()
                .and_then(|id| ctx.span(id))
                .or_else(|| ctx.lookup_current());
            if let Some(span) = span {
                out.write_str(",\"span\":")?;
                write_span(out, &span)?;
                out.write_str(",\"spans\":[")?;
                if let Some(leaf) = ctx.lookup_current() {
                    for (i, span) in leaf.scope().from_root().enumerate() {
                        if i > 0 {
                            out.write_char(',')?;
                        }
                        write_span(out, &span)?;
                    }
                }
                out.write_char(']')?;
            }
            out.write_str("}\n")
        })
    }
}

/// `{…its fields…,"name":"…"}`: the span's fields as the log layer stored
/// them (a JSON object), with its name added.
fn write_span<S>(out: &mut String, span: &SpanRef<'_, S>) -> fmt::Result
where
    S: for<'a> LookupSpan<'a>,
{
    let extensions = span.extensions();
    let fields = extensions
        .get::<FormattedFields<JsonSpanFields>>()
        .map_or("{}", |formatted| formatted.fields.as_str());
    let entries = fields
        .strip_prefix('{')
        .and_then(|f| f.strip_suffix('}'))
        .ok_or(fmt::Error)?;
    out.write_char('{')?;
    if !entries.is_empty() {
        out.write_str(entries)?;
        out.write_char(',')?;
    }
    out.write_str("\"name\":\"")?;
    Escaped(&mut *out).write_str(span.metadata().name())?;
    out.write_str("\"}")
}

/// RFC 3339 in UTC with microseconds, as tracing-subscriber writes it
/// (`2026-12-04T02:35:29.123456Z`); the part up to the second is written once
/// a second per thread.
fn write_timestamp(out: &mut String, now: SystemTime) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let Ok(since) = now.duration_since(UNIX_EPOCH) else {
        let at = chrono::DateTime::<chrono::Utc>::from(now);
        return write!(out, "{}", at.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
    };
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != since.as_secs() || second.1.is_empty() {
            let at = chrono::DateTime::<chrono::Utc>::from(now);
            second.1.clear();
            write!(second.1, "{}", at.format("%Y-%m-%dT%H:%M:%S"))?;
            second.0 = since.as_secs();
        }
        out.write_str(&second.1)
    })?;
    let mut fraction = *b".000000Z";
    let mut micros = since.subsec_micros();
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    out.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests;
