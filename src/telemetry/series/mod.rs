//! The metrics as flat series, so that replicas can add theirs up: every
//! sample of the OpenMetrics text the registry renders becomes one series,
//! keyed by its sample text (`name{label="value",…}`). Counters and the parts
//! of histograms (buckets, sums, counts) only grow, so replicas contribute
//! their increments; gauges are a replica's current value and add up across
//! live replicas.

use std::collections::BTreeMap;
use std::fmt::Write;

/// How a series combines across replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only grows: replicas add their increments.
    Monotonic,
    /// A current value: the cluster's is the sum of the live replicas'.
    Gauge,
}

/// What rendering a family needs besides its samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// `counter`, `gauge`, `histogram`, `info`, `unknown`, …
    pub kind: String,
    /// The `# HELP` text.
    pub help: String,
}

impl Family {
    fn combines_as(&self) -> Kind {
        match self.kind.as_str() {
            "counter" | "histogram" => Kind::Monotonic,
            _ => Kind::Gauge,
        }
    }

    /// Stored as one string: the type, a tab, the help.
    pub fn to_stored(&self) -> String {
        format!("{}\t{}", self.kind, self.help)
    }

    /// Back from [`Family::to_stored`].
    pub fn from_stored(text: &str) -> Self {
        let (kind, help) = text.split_once('\t').unwrap_or((text, ""));
        Family {
            kind: kind.to_owned(),
            help: help.to_owned(),
        }
    }
}

/// One series: its family and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The family it belongs to.
    pub family: String,
    /// How it combines.
    pub kind: Kind,
    /// Its value.
    pub value: f64,
}

/// Every series of one registry (or of the cluster), by sample text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Families by name.
    pub families: BTreeMap<String, Family>,
    /// Series by sample text.
    pub series: BTreeMap<String, Point>,
}

/// The sample name of a sample text (what precedes the labels).
fn sample_name(key: &str) -> &str {
    key.split('{').next().unwrap_or(key)
}

/// The family a sample belongs to, among `families`.
fn family_of<'a>(sample: &'a str, families: &BTreeMap<String, Family>) -> Option<&'a str> {
    if families.contains_key(sample) {
        return Some(sample);
    }
    ["_total", "_bucket", "_sum", "_count", "_created", "_info"]
        .iter()
        .filter_map(|suffix| sample.strip_suffix(suffix))
        .find(|family| families.contains_key(*family))
}

/// Where the value starts: after the labels' closing brace (label values may
/// hold spaces and braces, escaped quotes aside), else after the name.
fn split_sample(line: &str) -> Option<(&str, &str)> {
    let end_of_key = match line.find('{') {
        Some(open) => {
            let mut in_quotes = false;
            let mut escaped = false;
            let mut close = None;
            for (i, c) in line[open..].char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_quotes = !in_quotes,
                    '}' if !in_quotes => {
                        close = Some(open + i + 1);
                        break;
                    }
                    _ => {}
                }
            }
            close?
        }
        None => line.find(' ')?,
    };
    let (key, rest) = line.split_at(end_of_key);
    let value = rest.split_whitespace().next()?;
    Some((key, value))
}

/// A sample text's name and labels, unescaped (`\\`, `\"`, `\n`).
pub fn name_and_labels(key: &str) -> (&str, Vec<(String, String)>) {
    let name = sample_name(key);
    let mut labels = Vec::new();
    let Some(body) = key[name.len()..]
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
    else {
        return (name, labels);
    };
    let mut chars = body.chars().peekable();
    loop {
        let label: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if label.is_empty() || chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((label.trim_start_matches(',').trim().to_owned(), value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    (name, labels)
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

impl Snapshot {
    /// The series of OpenMetrics (or Prometheus) text. Samples of families
    /// without a `# TYPE` line are gauges; `_created` samples (timestamps,
    /// not amounts) are left out.
    pub fn parse(text: &str) -> Self {
        let mut snapshot = Snapshot::default();
        let mut helps = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                if let Some((name, kind)) = rest.split_once(' ') {
                    let family = snapshot.families.entry(name.to_owned()).or_insert(Family {
                        kind: String::new(),
                        help: String::new(),
                    });
                    family.kind = kind.trim().to_owned();
                }
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                if let Some((name, help)) = rest.split_once(' ') {
                    helps.insert(name.to_owned(), help.to_owned());
                }
            } else if line.starts_with('#') || line.trim().is_empty() {
                continue;
            } else if let Some((key, value)) = split_sample(line)
                && let Some(value) = parse_value(value)
            {
                let name = sample_name(key);
                if name.ends_with("_created") {
                    continue;
                }
                let family = family_of(name, &snapshot.families).unwrap_or(name).to_owned();
                let kind = snapshot
                    .families
                    .get(&family)
                    .map_or(Kind::Gauge, Family::combines_as);
                snapshot
                    .series
                    .insert(key.to_owned(), Point { family, kind, value });
            }
        }
        for (name, help) in helps {
            if let Some(family) = snapshot.families.get_mut(&name) {
                family.help = help;
            }
        }
        // Families that only appear as samples (untyped) still render.
        for point in snapshot.series.values() {
            snapshot
                .families
                .entry(point.family.clone())
                .or_insert_with(|| Family {
                    kind: "gauge".to_owned(),
                    help: String::new(),
                });
        }
        snapshot
    }

    /// How much each monotonic series grew since `earlier` (series that did
    /// not grow are left out; a series that shrank — a restarted registry —
    /// counts from zero).
    pub fn increments_since(&self, earlier: &Snapshot) -> BTreeMap<String, f64> {
        self.series
            .iter()
            .filter(|(_, p)| p.kind == Kind::Monotonic)
            .filter_map(|(key, point)| {
                let before = earlier.series.get(key).map_or(0.0, |p| p.value);
                let grown = if point.value >= before {
                    point.value - before
                } else {
                    point.value
                };
                (grown != 0.0 && grown.is_finite()).then(|| (key.clone(), grown))
            })
            .collect()
    }

    /// The gauges, by sample text.
    pub fn gauges(&self) -> BTreeMap<String, f64> {
        self.series
            .iter()
            .filter(|(_, p)| p.kind == Kind::Gauge)
            .map(|(key, p)| (key.clone(), p.value))
            .collect()
    }

    /// Add `value` to a series (created when missing: its family is found by
    /// name among the known ones, else it is an untyped gauge of its own).
    pub fn add(&mut self, key: &str, value: f64) {
        if let Some(point) = self.series.get_mut(key) {
            point.value += value;
            return;
        }
        let name = sample_name(key);
        let family = family_of(name, &self.families).unwrap_or(name).to_owned();
        let kind = self
            .families
            .entry(family.clone())
            .or_insert_with(|| Family {
                kind: "gauge".to_owned(),
                help: String::new(),
            })
            .combines_as();
        self.series.insert(key.to_owned(), Point { family, kind, value });
    }

    /// Keep only the families (and their series) whose name passes `keep`.
    pub fn retain_families(&mut self, keep: impl Fn(&str) -> bool) {
        self.families.retain(|name, _| keep(name));
        self.series.retain(|_, point| keep(&point.family));
    }

    /// OpenMetrics text: each family's help, type and samples, then `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, family) in &self.families {
            let mut samples = self.series.iter().filter(|(_, p)| &p.family == name).peekable();
            if samples.peek().is_none() {
                continue;
            }
            if !family.help.is_empty() {
                let _ = writeln!(out, "# HELP {name} {}", family.help);
            }
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            let mut samples: Vec<_> = samples.collect();
            samples.sort_by(|(a, _), (b, _)| exposition_order(a).total_cmp_key(&exposition_order(b)));
            for (key, point) in samples {
                let _ = writeln!(out, "{key} {}", render_value(point.value));
            }
        }
        out.push_str("# EOF\n");
        out
    }
}

/// Where a sample goes in its family: grouped by its labels (`le` aside),
/// buckets first in increasing `le` (`+Inf` last), then count and sum, as
/// OpenMetrics requires of histograms.
struct Order {
    labels: Vec<(String, String)>,
    part: u8,
    le: f64,
}

impl Order {
    fn total_cmp_key(&self, other: &Order) -> std::cmp::Ordering {
        self.labels
            .cmp(&other.labels)
            .then(self.part.cmp(&other.part))
            .then(self.le.total_cmp(&other.le))
    }
}

fn exposition_order(key: &str) -> Order {
    let (name, labels) = name_and_labels(key);
    let le = labels
        .iter()
        .find(|(k, _)| k == "le")
        .and_then(|(_, v)| parse_value(v))
        .unwrap_or(0.0);
    let part = if name.ends_with("_bucket") {
        0
    } else if name.ends_with("_count") {
        1
    } else if name.ends_with("_sum") {
        2
    } else {
        0
    };
    Order {
        labels: labels.into_iter().filter(|(k, _)| k != "le").collect(),
        part,
        le,
    }
}

fn render_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests;
