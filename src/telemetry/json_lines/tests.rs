use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tracing::field::Empty;
use tracing::{error, info, info_span, warn};
use tracing_subscriber::layer::SubscriberExt;

use super::*;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8(bytes).expect("UTF-8")
    }
}

/// The lines `emit` makes our format write, and tracing-subscriber's JSON
/// format (flattened, no target) beside it in the same subscriber.
fn both(emit: impl FnOnce()) -> (String, String) {
    let (ours, theirs) = (Lines::default(), Lines::default());
    let (to_ours, to_theirs) = (ours.clone(), theirs.clone());
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .fmt_fields(JsonSpanFields)
                .event_format(JsonLines)
                .with_writer(move || to_ours.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_target(false)
                .fmt_fields(JsonSpanFields)
                .with_writer(move || to_theirs.clone()),
        );
    tracing::subscriber::with_default(subscriber, emit);
    (ours.text(), theirs.text())
}

fn without_timestamp(line: &str) -> Value {
    let mut value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let timestamp = value
        .as_object_mut()
        .and_then(|o| o.remove("timestamp"))
        .expect("a timestamp");
    let timestamp = timestamp.as_str().expect("a string");
    assert_eq!(
        timestamp.len(),
        "2026-12-04T02:35:29.123456Z".len(),
        "{timestamp}"
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{timestamp}"
    );
    value
}

#[test]
fn lines_say_what_tracing_subscribers_json_format_says() {
    let (ours, theirs) = both(|| {
        info!("plain, with \"quotes\",\na newline and a \u{1} control");
        warn!(
            count = 3u64,
            delta = -2i64,
            whole = 1.0f64,
            half = 0.5,
            nan = f64::NAN,
            ok = false,
            text = "tab\there",
            debug = ?vec![1, 2],
            shown = %"display",
            "with fields"
        );
        let failure = io::Error::other("broken \"pipe\"");
        error!(error = &failure as &(dyn std::error::Error + 'static), "failed");
        let outer = info_span!("outer", id = 7u64, label = "x\"y");
        let inner = outer.in_scope(|| info_span!("inner", step = "fetch", later = Empty, ratio = 2.0));
        inner.record("later", "set after");
        {
            let _inner = inner.enter();
            info!(inner_field = 1, "inside both");
            info!(parent: &outer, "explicit parent, inside both");
            let empty = info_span!("empty");
            let _empty = empty.enter();
            info!("inside a span without fields");
        }
        info!(parent: &inner, "explicit parent, outside");
        info!(parent: None, "no parent");
    });
    let (ours, theirs): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    assert_eq!(ours.len(), 8, "{ours:#?}");
    assert_eq!(ours.len(), theirs.len());
    for (ours, theirs) in ours.iter().zip(&theirs) {
        assert_eq!(
            without_timestamp(ours),
            without_timestamp(theirs),
            "\nours:   {ours}\ntheirs: {theirs}"
        );
    }
    // Spot checks, lest both be wrong the same way.
    let inside = without_timestamp(ours[3]);
    assert_eq!(inside["level"], "INFO");
    assert_eq!(inside["message"], "inside both");
    assert_eq!(inside["span"]["name"], "inner");
    assert_eq!(inside["span"]["later"], "set after");
    assert_eq!(inside["spans"][0]["label"], "x\"y", "{inside}");
    assert_eq!(inside["spans"][1]["ratio"], 2.0);
    let fields = without_timestamp(ours[1]);
    assert_eq!(fields["whole"], 1.0);
    assert_eq!(fields["nan"], Value::Null);
}

#[test]
fn timestamps_are_rfc_3339_in_utc_with_microseconds() {
    let at = |secs: i64, nanos: u32| {
        let time = if secs >= 0 {
            UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
        } else {
            UNIX_EPOCH - Duration::new(secs.unsigned_abs(), 0) + Duration::from_nanos(u64::from(nanos))
        };
        let mut out = String::new();
        write_timestamp(&mut out, time).expect("written");
        out
    };
    assert_eq!(at(1_764_815_729, 123_456_789), "2025-12-04T02:35:29.123456Z");
    assert_eq!(at(1_764_815_729, 7_000), "2025-12-04T02:35:29.000007Z");
    // The next second is written anew, not taken from the one before.
    assert_eq!(at(1_764_815_730, 0), "2025-12-04T02:35:30.000000Z");
    assert_eq!(at(1_764_815_729, 999_999_999), "2025-12-04T02:35:29.999999Z");
    assert_eq!(at(-1, 500_000_000), "1969-12-31T23:59:59.500000Z");
}
