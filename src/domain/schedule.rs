//! Cron schedules: when a schedule fires, in its time zone, and which of the
//! fires that came due while nobody looked are made up for. Parsing and
//! stepping go through `croner` (POSIX cron with seconds optional, names,
//! `L`, `#`, `W`, `@daily` …) over `chrono-tz` zones: a local time skipped by a
//! daylight-saving change fires at the first instant after the gap, and one
//! that occurs twice fires once.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A fire seen later than this after its time counts as missed.
pub const MISSED_AFTER_SECONDS: i64 = 60;
/// Most fires one pass makes up for under `catch_up: all`; the rest follow.
pub const MAX_FIRES_PER_PASS: usize = 100;
/// Longest cron expression, in bytes.
const MAX_CRON_BYTES: usize = 256;

/// What a fire does while the schedule's previous task still runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Start another task anyway.
    #[default]
    Allow,
    /// Start nothing: the fire is recorded as skipped.
    Skip,
    /// Cancel the running tasks of the schedule, then start.
    CancelPrevious,
}

/// Which missed fires (down while they came due) are made up for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// None: missed fires are recorded as missed.
    #[default]
    None,
    /// The latest missed fire only.
    One,
    /// Every missed fire, oldest first.
    All,
}

macro_rules! spelled {
    ($ty:ty { $($variant:ident => $text:literal),+ }) => {
        impl $ty {
            /// The spelling in templates, the API and storage.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// The value spelled `text`, if any.
            pub fn parse(text: &str) -> Option<Self> {
                [$(Self::$variant),+].into_iter().find(|v| v.as_str() == text)
            }
        }
    };
}

spelled!(Overlap { Allow => "allow", Skip => "skip", CancelPrevious => "cancel_previous" });
spelled!(CatchUp { None => "none", One => "one", All => "all" });

/// A schedule declared in a template (`schedules:`): its tasks come from
/// the template that declares it, at the latest registered declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDecl {
    /// Unique within the template.
    pub name: String,
    /// Cron expression (five fields, or six with seconds).
    pub cron: String,
    /// IANA time zone (default UTC).
    #[serde(default = "utc")]
    pub timezone: String,
    /// Context of every task it creates.
    #[serde(default = "empty_object")]
    pub context: serde_json::Value,
    /// What a fire does while an earlier task runs.
    #[serde(default)]
    pub overlap: Overlap,
    /// Which missed fires are made up for.
    #[serde(default)]
    pub catch_up: CatchUp,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl ScheduleDecl {
    /// The `source` naming it among stored schedules.
    pub fn source(&self, namespace: &str, template: &str) -> String {
        format!("{}{namespace}/{template}:{}", TEMPLATE_SOURCE_PREFIX, self.name)
    }
}

/// Prefix of the `source` of schedules declared in templates.
pub const TEMPLATE_SOURCE_PREFIX: &str = "template:";

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not a cron expression croner reads, or one that never fires.
    #[error("cron {cron:?}: {message}")]
    Cron {
        /// The expression.
        cron: String,
        /// What is wrong.
        message: String,
    },
    /// Not an IANA time zone name.
    #[error("timezone {0:?} is not an IANA time zone (e.g. Europe/Berlin, UTC)")]
    Timezone(String),
}

/// A parsed cron expression in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: croner::Cron,
    zone: Tz,
}

impl CronSchedule {
    /// Parse `cron` (five fields, or six with seconds first) in `timezone`.
    pub fn parse(cron: &str, timezone: &str) -> Result<Self, ScheduleError> {
        let refused = |message: String| ScheduleError::Cron {
            cron: cron.to_owned(),
            message,
        };
        if cron.len() > MAX_CRON_BYTES {
            return Err(refused(format!("longer than {MAX_CRON_BYTES} bytes")));
        }
        let zone = Tz::from_str(timezone).map_err(|_| ScheduleError::Timezone(timezone.to_owned()))?;
        let parsed = croner::Cron::from_str(cron).map_err(|e| refused(e.to_string()))?;
        let schedule = Self { cron: parsed, zone };
        if schedule.next_after(Utc::now()).is_none() {
            return Err(refused("it never fires".to_owned()));
        }
        Ok(schedule)
    }

    /// The first fire strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.zone), false)
            .ok()
            .map(|local| local.with_timezone(&Utc))
    }

    /// The first fire at `t` or after.
    pub fn at_or_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.zone), true)
            .ok()
            .map(|local| local.with_timezone(&Utc))
    }

    /// The last fire strictly before `t`.
    pub fn last_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.zone), false)
            .ok()
            .map(|local| local.with_timezone(&Utc))
    }

    /// The next `n` fires after `t`.
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut fires = Vec::with_capacity(n);
        let mut at = t;
        while fires.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    fires.push(next);
                    at = next;
                }
                None => break,
            }
        }
        fires
    }
}

/// What a pass over one schedule does at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Due {
    /// Fires to start a task for, oldest first.
    pub fire: Vec<DateTime<Utc>>,
    /// Missed fires not made up for (counted up to [`MAX_MISSED_COUNTED`]).
    pub missed: usize,
    /// The first fire the next pass looks at (after every fire handled here).
    pub next: Option<DateTime<Utc>>,
}

/// Most missed fires one pass counts (a long outage of a frequent schedule
/// is not walked fire by fire).
pub const MAX_MISSED_COUNTED: usize = 10_000;

/// The fires from `first` (the first not handled yet) up to `now`: on-time
/// ones (seen at most a minute late) fire; missed ones follow `catch_up`.
pub fn due(schedule: &CronSchedule, first: DateTime<Utc>, now: DateTime<Utc>, catch_up: CatchUp) -> Due {
    let walk = |from: Option<DateTime<Utc>>, fire: &mut Vec<DateTime<Utc>>| {
        let mut at = from;
        while let Some(f) = at.filter(|f| *f <= now) {
            if fire.len() == MAX_FIRES_PER_PASS {
                break;
            }
            fire.push(f);
            at = schedule.next_after(f);
        }
        at
    };
    let mut fire = Vec::new();
    if catch_up == CatchUp::All {
        let next = walk(Some(first), &mut fire);
        return Due {
            fire,
            missed: 0,
            next,
        };
    }
    let cutoff = now - Duration::seconds(MISSED_AFTER_SECONDS);
    let mut missed = 0;
    let mut at = Some(first);
    while let Some(f) = at.filter(|f| *f < cutoff) {
        missed += 1;
        if missed == MAX_MISSED_COUNTED {
            break;
        }
        at = schedule.next_after(f);
    }
    let on_time = if first >= cutoff {
        Some(first)
    } else {
        schedule.at_or_after(cutoff)
    };
    let next = walk(on_time, &mut fire);
    if catch_up == CatchUp::One
        && fire.is_empty()
        && missed > 0
        && let Some(latest) = schedule.last_before(cutoff)
    {
        fire.push(latest);
        missed -= 1;
    }
    Due { fire, missed, next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn fires_follow_the_zone_through_daylight_saving_changes() {
        let berlin = CronSchedule::parse("0 2 * * *", "Europe/Berlin").expect("parses");
        // 02:00 CET is 01:00 UTC; in summer (CEST) it is 00:00 UTC.
        assert_eq!(
            berlin.next_after(utc("2026-01-10T12:00:00Z")),
            Some(utc("2026-01-11T01:00:00Z"))
        );
        assert_eq!(
            berlin.next_after(utc("2026-07-10T12:00:00Z")),
            Some(utc("2026-07-11T00:00:00Z"))
        );
        // 29 March 2026: 02:00-03:00 does not exist; the fire is at 03:00 CEST.
        assert_eq!(
            berlin.next_after(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        // 25 October 2026: 02:30 happens twice; it fires once.
        let repeated = CronSchedule::parse("30 2 * * *", "Europe/Berlin").expect("parses");
        let fires = repeated.upcoming(utc("2026-10-24T12:00:00Z"), 2);
        assert_eq!(fires[0], utc("2026-10-25T00:30:00Z"), "{fires:?}");
        assert_eq!(fires[1], utc("2026-10-26T01:30:00Z"), "{fires:?}");
    }

    #[test]
    fn bad_expressions_and_zones_are_refused() {
        assert!(matches!(
            CronSchedule::parse("61 * * * *", "UTC"),
            Err(ScheduleError::Cron { .. })
        ));
        assert!(matches!(
            CronSchedule::parse("not cron", "UTC"),
            Err(ScheduleError::Cron { .. })
        ));
        assert!(matches!(
            CronSchedule::parse("0 2 * * *", "Mars/Olympus"),
            Err(ScheduleError::Timezone(_))
        ));
        assert!(
            CronSchedule::parse("*/5 * * * * *", "UTC").is_ok(),
            "seconds are optional"
        );
        assert!(CronSchedule::parse("@daily", "UTC").is_ok());
    }

    #[test]
    fn upcoming_lists_the_next_fires() {
        let hourly = CronSchedule::parse("0 * * * *", "UTC").expect("parses");
        let from = Utc
            .with_ymd_and_hms(2026, 12, 7, 8, 30, 0)
            .single()
            .expect("time");
        let fires = hourly.upcoming(from, 5);
        assert_eq!(fires.len(), 5);
        assert_eq!(fires[0], utc("2026-12-07T09:00:00Z"));
        assert_eq!(fires[4], utc("2026-12-07T13:00:00Z"));
    }

    #[test]
    fn an_on_time_fire_fires_and_missed_ones_follow_catch_up() {
        let hourly = CronSchedule::parse("0 * * * *", "UTC").expect("parses");
        let first = utc("2026-12-07T05:00:00Z");
        // Seen 10 s after 09:00: 05:00-08:00 were missed, 09:00 is on time.
        let now = utc("2026-12-07T09:00:10Z");
        let none = due(&hourly, first, now, CatchUp::None);
        assert_eq!(none.fire, vec![utc("2026-12-07T09:00:00Z")]);
        assert_eq!(none.missed, 4);
        assert_eq!(none.next, Some(utc("2026-12-07T10:00:00Z")));
        let one = due(&hourly, first, now, CatchUp::One);
        assert_eq!(
            one.fire,
            vec![utc("2026-12-07T09:00:00Z")],
            "on time: nothing to make up"
        );
        let all = due(&hourly, first, now, CatchUp::All);
        assert_eq!(all.fire.len(), 5);
        assert_eq!(all.fire[0], first);
        // Seen at 09:30, every fire is missed: one makes up for the latest.
        let late = utc("2026-12-07T09:30:00Z");
        let one = due(&hourly, first, late, CatchUp::One);
        assert_eq!(one.fire, vec![utc("2026-12-07T09:00:00Z")]);
        assert_eq!(one.missed, 4);
        assert!(due(&hourly, first, late, CatchUp::None).fire.is_empty());
        // Nothing due yet.
        let early = due(&hourly, first, utc("2026-12-07T04:59:00Z"), CatchUp::All);
        assert_eq!(
            early,
            Due {
                fire: vec![],
                missed: 0,
                next: Some(first)
            }
        );
    }

    #[test]
    fn a_long_outage_is_made_up_in_bounded_passes() {
        let minutely = CronSchedule::parse("* * * * *", "UTC").expect("parses");
        // Ten days down: 14,400 fires.
        let first = utc("2026-11-27T00:00:00Z");
        let now = utc("2026-12-07T00:00:00Z");
        let all = due(&minutely, first, now, CatchUp::All);
        assert_eq!(all.fire.len(), MAX_FIRES_PER_PASS);
        assert_eq!(
            all.next,
            Some(utc("2026-11-27T01:40:00Z")),
            "the next pass goes on"
        );
        // Seen 30 s after midnight: 23:59 and before were missed.
        let seen = utc("2026-12-07T00:00:30Z");
        let none = due(&minutely, first, seen, CatchUp::None);
        assert_eq!(none.fire, vec![now]);
        assert_eq!(none.missed, MAX_MISSED_COUNTED, "counted up to the bound");
        assert_eq!(none.next, Some(utc("2026-12-07T00:01:00Z")));
        let one = due(&minutely, first, seen, CatchUp::One);
        assert_eq!(one.fire, vec![now], "on time: nothing to make up");
        let hourly = CronSchedule::parse("0 * * * *", "UTC").expect("parses");
        let one = due(&hourly, first, utc("2026-12-07T00:30:00Z"), CatchUp::One);
        assert_eq!(one.fire, vec![now], "the latest missed fire");
        assert_eq!(one.next, Some(utc("2026-12-07T01:00:00Z")));
    }
}
