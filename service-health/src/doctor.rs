//! The report of a `doctor` subcommand (auth-service's and landing-page's): one line per check,
//! `✓`/`!`/`✗`, the fix to try under a failing one, and a last line that sums it up.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// Works, but should be changed (a short SECRET_KEY).
    Warn,
    Fail,
}

/// One check and its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub outcome: Outcome,
    pub what: String,
    /// Why it failed or warns, and what to try.
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(what: impl Into<String>) -> Check {
        Check {
            outcome: Outcome::Pass,
            what: what.into(),
            fix: None,
        }
    }
    pub fn fail(what: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            outcome: Outcome::Fail,
            what: what.into(),
            fix: Some(fix.into()),
        }
    }
    pub fn warn(what: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            outcome: Outcome::Warn,
            what: what.into(),
            fix: Some(fix.into()),
        }
    }

    /// A setting that does not parse, and where to correct it.
    pub fn bad_setting(e: &service_settings::SettingsError) -> Check {
        Check::fail(
            format!("settings: {e}"),
            format!(
                "correct {} (environment or /run/secrets/{})",
                e.name, e.name
            ),
        )
    }

    /// `✓ what`, `✗ what` or `! what`, and the fix on the next line.
    pub fn line(&self) -> String {
        let mark = match self.outcome {
            Outcome::Pass => "✓",
            Outcome::Warn => "!",
            Outcome::Fail => "✗",
        };
        match &self.fix {
            None => format!("{mark} {}", self.what),
            Some(fix) => format!("{mark} {}\n    fix: {fix}", self.what),
        }
    }
}

pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.outcome == Outcome::Fail)
    }

    pub fn render(&self) -> String {
        let mut text: String = self.checks.iter().map(|c| c.line() + "\n").collect();
        let failed = self
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .count();
        text.push_str(&match failed {
            0 => "doctor: everything configured works\n".to_owned(),
            n => format!("doctor: {n} check(s) failed\n"),
        });
        text
    }
}
