//! The doctor's findings: checks that pass or fail (with what to fix) and
//! the figures measured along the way.

use std::fmt;

use serde::Serialize;

/// A check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    /// It holds.
    Pass,
    /// It does not; `fix` says what to look at.
    Fail {
        /// What to change or look at.
        fix: String,
    },
}

/// One thing checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Short name.
    pub name: &'static str,
    /// What was seen.
    pub detail: String,
    /// Pass or fail.
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl Check {
    /// A check that held.
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            detail: detail.into(),
            verdict: Verdict::Pass,
        }
    }

    /// A check that did not, with what to fix.
    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            detail: detail.into(),
            verdict: Verdict::Fail { fix: fix.into() },
        }
    }

    /// Whether it held.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

/// Everything one doctor run found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// What was checked against what.
    pub title: String,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
    /// Figures measured (name, value), in order.
    pub figures: Vec<(String, String)>,
}

impl Report {
    /// An empty report.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            ..Self::default()
        }
    }

    /// Add a check; whether it passed.
    pub fn add(&mut self, check: Check) -> bool {
        let passed = check.passed();
        self.checks.push(check);
        passed
    }

    /// The value of a step that fails as a check: the value, or `None`
    /// with the failed check added.
    pub fn keep<T>(&mut self, outcome: Result<T, Check>) -> Option<T> {
        match outcome {
            Ok(value) => Some(value),
            Err(check) => {
                self.add(check);
                None
            }
        }
    }

    /// Add a figure.
    pub fn figure(&mut self, name: &str, value: impl Into<String>) {
        self.figures.push((name.to_owned(), value.into()));
    }

    /// Whether every check passed (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(Check::passed)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}\n", self.title)?;
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for check in &self.checks {
            let mark = if check.passed() { "ok  " } else { "FAIL" };
            writeln!(f, "  {mark}  {:<width$}  {}", check.name, check.detail)?;
            if let Verdict::Fail { fix } = &check.verdict {
                writeln!(f, "        {:<width$}  fix: {fix}", "")?;
            }
        }
        if !self.figures.is_empty() {
            writeln!(f)?;
            let width = self.figures.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
            for (name, value) in &self.figures {
                writeln!(f, "  {name:<width$}  {value}")?;
            }
        }
        let failed = self.checks.iter().filter(|c| !c.passed()).count();
        writeln!(
            f,
            "\n{}: {} passed, {failed} failed",
            if self.passed() { "PASS" } else { "FAIL" },
            self.checks.len() - failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_passes_only_when_every_check_does_and_says_what_to_fix() {
        let mut report = Report::new("telemetry of http://tasker");
        assert!(!report.passed(), "no checks is no proof");
        assert!(report.add(Check::pass("server ready", "200 in 3 ms")));
        report.figure("p95", "12.0 ms");
        assert!(report.passed());
        assert!(!report.add(Check::fail("tasker scraped", "no target", "add a scrape job")));
        assert!(!report.passed());
        let text = report.to_string();
        assert!(text.contains("  ok    server ready    200 in 3 ms\n"), "{text}");
        assert!(text.contains("  FAIL  tasker scraped  no target\n"), "{text}");
        assert!(text.contains("fix: add a scrape job"), "{text}");
        assert!(text.contains("  p95  12.0 ms"), "{text}");
        assert!(text.ends_with("FAIL: 1 passed, 1 failed\n"), "{text}");
        assert_eq!(report.keep::<u8>(Ok(3)), Some(3));
        assert_eq!(report.keep::<u8>(Err(Check::fail("x", "y", "z"))), None);
        assert_eq!(report.checks.len(), 3, "a failed step is kept as its check");
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["checks"][1]["verdict"], "fail");
        assert_eq!(json["checks"][1]["fix"], "add a scrape job");
        assert_eq!(json["checks"][0]["verdict"], "pass");
    }
}
