//! `auth-service doctor`: reads the settings the service would read and checks each configured
//! dependency for real, one line per check with what to try when it fails. The exit status is
//! non-zero when something a configured feature needs is broken (warnings do not count).
mod checks;

use crate::settings::{Settings, Source};

pub use service_health::doctor::{Check, Outcome, Report};

/// Runs every check that the settings call for.
pub async fn run(source: &Source) -> Report {
    let settings = match Settings::from_source(source) {
        Ok(s) => s,
        Err(e) => {
            return Report {
                checks: vec![Check::bad_setting(&e)],
            }
        }
    };
    let mut checks = vec![Check::pass("settings parse")];
    checks.push(checks::secret_key(&settings));
    checks.extend(checks::public_roots(&settings));
    checks.push(checks::roles_file(&settings));
    checks.push(checks::database(&settings).await);
    checks.extend(checks::registry_volume(&settings));
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
