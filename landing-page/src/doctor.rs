//! `landing-page doctor`: reads the settings the page would read and checks, for real, that
//! auth-service answers and accepts the page's credentials. One line per check, the fix under a
//! failing one; exit status 1 when the page could not work.
use auth_client::{AuthClient, AuthError, Timeouts};
use service_health::doctor::{Check, Report};
use service_settings::Source;

use crate::settings::Settings;

/// A token no share has: with our credentials accepted, auth-service answers 200 and an error
/// code, and nothing is created, counted or minted.
const PROBE_TOKEN: &str = "landing-page-doctor-probe";

/// Runs every check.
pub async fn run(source: &Source) -> Report {
    let settings = match Settings::from_source(source) {
        Ok(s) => s,
        Err(e) => {
            return Report {
                checks: vec![Check::bad_setting(&e)],
            }
        }
    };
    Report {
        checks: vec![Check::pass("settings parse"), auth_service(&settings).await],
    }
}

async fn auth_service(s: &Settings) -> Check {
    let url = &s.auth_service_url;
    let user = &s.auth_service_user;
    let timeouts = Timeouts {
        total: s.auth_service_timeout,
        ..Timeouts::default()
    };
    let client = match AuthClient::new(url, user, &s.auth_service_password, timeouts) {
        Ok(c) => c,
        Err(e) => return Check::fail(format!("auth-service client: {e}"), "see the message"),
    };
    match client.decode(PROBE_TOKEN).await {
        Ok(_) => Check::pass(format!(
            "auth-service {url} answers and accepts AUTH_SERVICE_USER {user}"
        )),
        Err(AuthError::Status(401)) => Check::fail(
            format!("auth-service {url} refuses AUTH_SERVICE_USER {user} (401)"),
            "set AUTH_SERVICE_USER and AUTH_SERVICE_PASSWORD to one of auth-service's USERS",
        ),
        Err(AuthError::Status(429)) => Check::fail(
            format!("auth-service {url} throttles this client after failed logins (429)"),
            "fix the credentials, then wait a minute (LOGIN_FAILURE_REFILL_SECONDS) and run the doctor again",
        ),
        Err(AuthError::Unreachable(_)) => Check::fail(
            format!("auth-service {url} unreachable"),
            "check AUTH_SERVICE_URL and that auth-service is up and reachable from landing-page",
        ),
        Err(e) => Check::fail(
            format!("auth-service {url}: {e}"),
            "check that AUTH_SERVICE_URL is auth-service's own root (e.g. http://auth-service:8000/), not a public path",
        ),
    }
}
