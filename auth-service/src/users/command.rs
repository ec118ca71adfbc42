//! `auth-service users [--json]` and `auth-service explain USER [--label L] [--json]`: the
//! service's own settings, roles in force and Keycloak admin client; the answer on stdout, a
//! failure on stderr in the doctor's style (`✗ what`, `fix: ...`).
//!
//! Exit status: 0 nothing to report; 1 problems found, no such user, or Keycloak could not be
//! read; 2 settings that do not allow it (as the service's own start).
use secrecy::ExposeSecret;
use service_health::doctor::Check;

use super::{explain, explanation_text, report, report_text, Problem};
use crate::keycloak::{KeycloakAdmin, KeycloakUnavailable};
use crate::roles::ROLES_SETTING;
use crate::settings::{Settings, Source};
use crate::shares::ShareStore;
use crate::user_profiles::UserProfiles;

/// Nothing to report.
pub const CLEAN: i32 = 0;
/// Problems found, no such user, or Keycloak could not be read.
pub const FOUND: i32 = 1;
/// The settings do not allow it.
pub const SETTINGS: i32 = 2;

/// `auth-service users`: every realm user, then the problems found.
pub async fn users(source: &Source, json: bool) -> i32 {
    let profiles = match open(source).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some((admin, api_keys)) = admin(&profiles) else {
        return SETTINGS;
    };
    match report(admin, &profiles.roles.current(), api_keys).await {
        Ok(report) => answer(&report, json, report_text, &report.problems),
        Err(e) => keycloak_failed(&e),
    }
}

/// `auth-service explain USER [--label L]`.
pub async fn explain_user(source: &Source, user: &str, label: Option<&str>, json: bool) -> i32 {
    let profiles = match open(source).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some((admin, api_keys)) = admin(&profiles) else {
        return SETTINGS;
    };
    match explain(&profiles, admin, user, label, api_keys).await {
        Ok(Some(e)) => answer(&e, json, explanation_text, &e.problems),
        Ok(None) => {
            eprintln!(
                "{}",
                Check::fail(
                    format!("no user {user} in the realm (neither a username nor an id)"),
                    "check the spelling; `auth-service users` lists them all",
                )
                .line()
            );
            FOUND
        }
        Err(e) => keycloak_failed(&e),
    }
}

/// The admin client and whether api-keys are on (`open` made sure there is a client).
fn admin(profiles: &UserProfiles) -> Option<(&KeycloakAdmin, bool)> {
    let admin = profiles.keycloak.as_ref().and_then(|k| k.admin())?;
    Some((admin, super::api_keys_enabled(profiles)))
}

/// Prints `value` as JSON, or as `text` makes it; the exit status says whether problems were found.
fn answer<T: serde::Serialize>(
    value: &T,
    json: bool,
    text: impl FnOnce(&T) -> String,
    problems: &[Problem],
) -> i32 {
    if json {
        print_json(value);
    } else {
        print!("{}", text(value));
    }
    if problems.is_empty() {
        CLEAN
    } else {
        FOUND
    }
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("auth-service: cannot write the answer as JSON ({e})"),
    }
}

fn keycloak_failed(e: &KeycloakUnavailable) -> i32 {
    eprintln!(
        "{}",
        Check::fail(
            format!("Keycloak admin API: {e}"),
            "check KEYCLOAK_URI, KEYCLOAK_ADMIN_URI, KEYCLOAK_CLIENT_SECRET (client admin-cli's secret), and that admin-cli's service account holds the realm-management roles view-users, query-users and view-realm (`auth-service doctor` checks the connection)",
        )
        .line()
    );
    FOUND
}

/// The service's settings, user profiles and roles in force, with a Keycloak admin client; or
/// the exit status after saying what is missing.
async fn open(source: &Source) -> Result<UserProfiles, i32> {
    let refuse = |what: String, fix: &str| {
        eprintln!("{}", Check::fail(what, fix).line());
        SETTINGS
    };
    let settings = Settings::from_source(source).map_err(|e| {
        refuse(
            format!("settings: {e}"),
            "correct it (environment or /run/secrets)",
        )
    })?;
    match &settings.keycloak {
        None => {
            return Err(refuse(
                "ENABLE_KEYCLOAK is not true: there is no realm to read".into(),
                "run it with the service's settings: ENABLE_KEYCLOAK=true, KEYCLOAK_URI, KEYCLOAK_ADMIN_URI, KEYCLOAK_CLIENT_SECRET",
            ))
        }
        Some(k) if k.client_secret.is_none() => {
            return Err(refuse(
                "KEYCLOAK_CLIENT_SECRET is not set: the realm's users cannot be read".into(),
                "set it to the secret of client admin-cli (Keycloak admin console → Clients → admin-cli → Credentials)",
            ))
        }
        Some(_) => {}
    }
    let profiles = UserProfiles::load(&settings).map_err(|e| {
        refuse(
            format!("{e:#}"),
            "fix the file or its setting, as for the service's start",
        )
    })?;
    // With PostgreSQL the roles in force are the database's (the file only seeded them).
    let url = settings.registry_url();
    if url.expose_secret().starts_with("postgres") {
        let store = ShareStore::connect(url.expose_secret())
            .await
            .map_err(|e| {
                refuse(
                    format!("share registry database: {}", e.root_cause()),
                    "check DATABASE_URL: with PostgreSQL the roles in force live there",
                )
            })?;
        match store.setting(ROLES_SETTING).await {
            Ok(Some(value)) => profiles.roles.setting_changed(ROLES_SETTING, &value),
            Ok(None) => {}
            Err(e) => {
                return Err(refuse(
                    format!("share registry database: the roles cannot be read ({e})"),
                    "check DATABASE_URL: with PostgreSQL the roles in force live there",
                ))
            }
        }
        store.close().await;
    }
    Ok(profiles)
}
