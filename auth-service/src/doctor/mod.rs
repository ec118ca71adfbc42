//! `auth-service doctor`: reads the settings the service would read and checks each configured
//! dependency for real, one line per check with what to try when it fails. The exit status is
//! non-zero when something a configured feature needs is broken (warnings do not count).
mod checks;

use crate::settings::{Settings, Source};

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

/// Runs every check that the settings call for.
pub async fn run(source: &Source) -> Report {
    let settings = match Settings::from_source(source) {
        Ok(s) => s,
        Err(e) => {
            return Report {
                checks: vec![Check::fail(
                    format!("settings: {e}"),
                    format!(
                        "correct {} (environment or /run/secrets/{})",
                        e.name, e.name
                    ),
                )],
            }
        }
    };
    let mut checks = vec![Check::pass("settings parse")];
    checks.push(checks::secret_key(&settings));
    checks.extend(checks::public_roots(&settings));
    checks.push(checks::roles_file(&settings));
    checks.push(checks::database(&settings).await);
    if let Some(orthanc) = &settings.orthanc {
        checks.push(checks::orthanc(orthanc).await);
    }
    if let Some(keycloak) = &settings.keycloak {
        checks.extend(checks::keycloak(keycloak, &settings).await);
    }
    if let Some(meddream) = &settings.meddream {
        checks.push(checks::meddream(meddream).await);
    }
    if let Some(emails) = &settings.emails {
        checks.extend(checks::smtp(emails).await);
    }
    Report { checks }
}
