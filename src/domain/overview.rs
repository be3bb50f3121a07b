//! The dashboard's time window: how far back it looks and how it cuts that
//! span into equal buckets for the throughput and failure-rate charts.
//! Buckets are aligned to their width (a 5-minute bucket starts at :00, :05 …)
//! so two replicas, or two refreshes a second apart, draw the same bars.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// How far back the dashboard looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last hour, in 12 buckets of 5 minutes.
    Hour,
    /// The last day, in 24 buckets of an hour.
    Day,
}

impl Window {
    /// The width of one bucket.
    pub fn bucket(self) -> Duration {
        match self {
            Self::Hour => Duration::minutes(5),
            Self::Day => Duration::hours(1),
        }
    }

    /// How many buckets the window holds.
    pub fn buckets(self) -> usize {
        match self {
            Self::Hour => 12,
            Self::Day => 24,
        }
    }

    /// The start of every bucket, oldest first; the last one holds `now`.
    pub fn starts(self, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let width = self.bucket();
        // Rounding fails only for widths beyond chrono's range, never for ours.
        let current = now.duration_trunc(width).unwrap_or(now);
        (0..self.buckets())
            .rev()
            .map(|back| current - width * back as i32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, h, m, s)
            .single()
            .expect("a valid time")
    }

    #[test]
    fn an_hour_is_twelve_aligned_five_minute_buckets_ending_now() {
        let starts = Window::Hour.starts(at(15, 47, 12));
        assert_eq!(starts.len(), 12);
        assert_eq!(starts.last(), Some(&at(15, 45, 0)));
        assert_eq!(starts.first(), Some(&at(14, 50, 0)));
        assert!(starts.windows(2).all(|w| w[1] - w[0] == Duration::minutes(5)));
    }

    #[test]
    fn a_day_is_twenty_four_hours_ending_in_the_current_one() {
        let starts = Window::Day.starts(at(0, 30, 0));
        assert_eq!(starts.len(), 24);
        assert_eq!(starts.last(), Some(&at(0, 0, 0)));
        assert_eq!(starts[0], at(0, 0, 0) - Duration::hours(23));
    }
}
