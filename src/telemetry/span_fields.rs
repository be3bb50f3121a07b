//! Span fields for JSON log lines, written straight out as a JSON object while
//! they are visited. tracing-subscriber's own `JsonFields` first collects them
//! into a map of `serde_json::Value`s and then serializes the map: for spans
//! created by the thousand per second (one per step attempt) and rarely logged
//! inside, that was most of what a span cost the log layer.

use std::cell::RefCell;
use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, FormattedFields};

/// The most a thread keeps of the string it writes log lines and span fields
/// into (see [`buffered`]).
const KEPT_BUFFER: usize = 16 * 1024;

/// Formats span fields as one JSON object, as the JSON event format expects.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSpanFields;

/// A writer that escapes what goes through it as the inside of a JSON string.
pub(super) struct Escaped<'a>(pub(super) &'a mut String);

impl Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Ids and names, nearly all the text here, need no escape: one write.
        // (A fold without early exit: the compiler checks many bytes at once.)
        let needs_escape = s
            .bytes()
            .fold(false, |found, b| found | (b < 0x20) | (b == b'"') | (b == b'\\'));
        if !needs_escape {
            return self.0.write_str(s);
        }
        let mut start = 0;
        for (i, c) in s.char_indices() {
            let escape = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                c if (c as u32) < 0x20 => "",
                _ => continue,
            };
            self.0.write_str(&s[start..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{:04x}", c as u32)?;
            } else {
                self.0.write_str(escape)?;
            }
            start = i + c.len_utf8();
        }
        self.0.write_str(&s[start..])
    }
}

/// `"name":`, the key of the field `name` as it is written.
fn quoted_key(out: &mut String, name: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(&mut *out).write_str(name.strip_prefix("r#").unwrap_or(name))?;
    out.write_str("\":")
}

struct Visitor<'a> {
    out: &'a mut String,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    /// `"name":` (with the comma before it when needed).
    fn key(&mut self, field: &Field) -> fmt::Result {
        if !self.first {
            self.out.write_char(',')?;
        }
        self.first = false;
        quoted_key(&mut *self.out, field.name())
    }

    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut String) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(&mut *self.out));
        }
    }

    fn string(&mut self, field: &Field, text: fmt::Arguments<'_>) {
        self.entry(field, |out| {
            out.write_char('"')?;
            Escaped(&mut *out).write_fmt(text)?;
            out.write_char('"')
        });
    }

    /// A string value, without the formatting machinery `string` goes through.
    fn text(&mut self, field: &Field, value: &str) {
        self.entry(field, |out| {
            out.write_char('"')?;
            Escaped(&mut *out).write_str(value)?;
            out.write_char('"')
        });
    }
}

impl Visit for Visitor<'_> {
    /// As serde_json writes it (`1.0`, not `1`); not finite: `null`.
    fn record_f64(&mut self, field: &Field, value: f64) {
        match serde_json::Number::from_f64(value) {
            Some(number) => self.entry(field, |out| write!(out, "{number}")),
            None => self.entry(field, |out| out.write_str("null")),
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, |out| write!(out, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.string(field, format_args!("{value:?}"));
    }
}

/// Write `fields` to `out` as one JSON object.
fn write_object<R: RecordFields>(out: &mut String, fields: R) -> fmt::Result {
    out.write_char('{')?;
    write_entries(out, fields, true)?;
    out.write_char('}')
}

/// Write `fields` to `out` as entries of a JSON object, `"key":value`, with
/// a comma before each unless it comes `first`.
pub(super) fn write_entries<R: RecordFields>(out: &mut String, fields: R, first: bool) -> fmt::Result {
    let mut visitor = Visitor {
        out,
        first,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

/// Let `write` write into a string the thread keeps, then copy that to
/// `writer` in one piece. The log layer's writer reaches its string through
/// two dynamic calls and grows it piece by piece, once per key, quote and
/// value; here every piece is a push onto a string with room. (A field whose
/// formatting formats fields itself gets a string of its own.)
pub(super) fn buffered(
    writer: &mut Writer<'_>,
    write: impl FnOnce(&mut String) -> fmt::Result,
) -> fmt::Result {
    thread_local! {
        static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
    }
    BUFFER.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut buffer) => {
            buffer.clear();
            let written = write(&mut buffer).and_then(|()| writer.write_str(&buffer));
            // A huge line or field is not kept for the thread's lifetime.
            if buffer.capacity() > KEPT_BUFFER {
                *buffer = String::new();
            }
            written
        }
        Err(_) => {
            let mut own = String::new();
            write(&mut own)?;
            writer.write_str(&own)
        }
    })
}

impl<'w> FormatFields<'w> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        buffered(&mut writer, |out| write_object(out, fields))
    }

    /// Fields recorded after the span was created (a task's id once it is
    /// stored, a request's status): new keys are appended to the object as it
    /// stands; a key recorded again is merged, so that it appears once with its
    /// last value.
    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if current.fields.is_empty() {
            return write_object(&mut current.fields, fields);
        }
        let mut added = String::new();
        write_object(&mut added, fields)?;
        let mut names = Names(Vec::new());
        fields.record(&mut names);
        let mut needle = String::new();
        let repeated = names.0.iter().any(|name| {
            needle.clear();
            // Written as keys are, so that an escaped name is found (a key
            // that cannot be written is taken as present: merged).
            quoted_key(&mut needle, name).is_err() || current.fields.contains(needle.as_str())
        });
        if repeated {
            return merge(&mut current.fields, &added);
        }
        let (Some(entries), true) = (added.strip_prefix('{'), current.fields.ends_with('}')) else {
            return Err(fmt::Error);
        };
        if entries == "}" {
            return Ok(());
        }
        current.fields.pop();
        if current.fields != "{" {
            current.fields.push(',');
        }
        current.fields.push_str(entries);
        Ok(())
    }
}

/// The names of the fields a record holds.
struct Names(Vec<&'static str>);

impl Visit for Names {
    fn record_debug(&mut self, field: &Field, _: &dyn fmt::Debug) {
        self.0.push(field.name());
    }
}

/// `current` with the entries of `added` (both JSON objects), the added
/// values winning.
fn merge(current: &mut String, added: &str) -> fmt::Result {
    let parse = |text: &str| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text);
    let (mut merged, added) = match (parse(current), parse(added)) {
        (Ok(merged), Ok(added)) => (merged, added),
        _ => return Err(fmt::Error),
    };
    merged.extend(added);
    *current = serde_json::Value::Object(merged).to_string();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_json() {
        let mut out = String::new();
        Escaped(&mut out)
            .write_str("a\"b\\c\nd\te\u{1}é")
            .expect("writes");
        assert_eq!(out, "a\\\"b\\\\c\\nd\\te\\u0001é");
        let back: String = serde_json::from_str(&format!("\"{out}\"")).expect("valid JSON string");
        assert_eq!(back, "a\"b\\c\nd\te\u{1}é");
    }
}
