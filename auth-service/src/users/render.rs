//! The text a person reads: a table of users, then the problems as the doctor prints its
//! warnings (`! what`, `fix: ...` under it).
use service_health::doctor::Check;

use super::explain::{Explanation, RoleSource};
use super::{Problem, UserSummary, UsersReport};
use crate::keycloak::is_keycloak_default_role;

fn joined(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let text: Vec<String> = items.into_iter().map(|i| i.as_ref().to_owned()).collect();
    if text.is_empty() {
        "-".into()
    } else {
        text.join(", ")
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// The user's roles a person looks for: Keycloak's own left out.
fn shown_roles(user: &UserSummary) -> String {
    joined(user.roles.iter().filter(|r| !is_keycloak_default_role(r)))
}

fn problem_lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| Check::warn(p.what.clone(), p.fix.clone()).line() + "\n")
        .collect()
}

/// One line per user under a header, columns as wide as their widest cell, then the problems
/// and a last line that sums it up.
pub fn report_text(report: &UsersReport) -> String {
    let header = [
        "USER",
        "ENABLED",
        "API-KEY",
        "ROLES",
        "PERMISSIONS",
        "AUTHORIZED LABELS",
    ];
    let rows: Vec<[String; 6]> = report
        .users
        .iter()
        .map(|u| {
            [
                u.username.clone(),
                yes_no(u.enabled).to_owned(),
                yes_no(u.api_key).to_owned(),
                shown_roles(u),
                joined(u.permissions.iter().map(|p| p.as_str())),
                joined(&u.authorized_labels),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut text = line(&header.map(str::to_owned));
    for row in &rows {
        text.push_str(&line(row));
    }
    if !report.problems.is_empty() {
        text.push('\n');
        text.push_str(&problem_lines(&report.problems));
    }
    text.push_str(&format!(
        "users: {} user{} (roles shown without Keycloak's own), {}\n",
        report.users.len(),
        if report.users.len() == 1 { "" } else { "s" },
        problems_found(report.problems.len())
    ));
    text
}

fn problems_found(n: usize) -> String {
    match n {
        0 => "no problem found".into(),
        1 => "1 problem found".into(),
        n => format!("{n} problems found"),
    }
}

/// The explanation of one user, role by role.
pub fn explanation_text(e: &Explanation) -> String {
    let user = &e.user;
    let mut text = format!(
        "user {} (id {}): {}, {}\n",
        user.username,
        user.id,
        if user.enabled { "enabled" } else { "disabled" },
        if user.api_key {
            "api-key set"
        } else {
            "no api-key"
        }
    );
    text.push_str("roles (effective, composites expanded) and what the roles file gives each:\n");
    let width = e
        .roles
        .iter()
        .map(|r| r.role.chars().count())
        .max()
        .unwrap_or(0);
    if e.roles.is_empty() {
        text.push_str("  (none)\n");
    }
    for role in &e.roles {
        let gives = match role.source {
            RoleSource::KeycloakDefault => "Keycloak's own role: nothing".to_owned(),
            RoleSource::NotInRolesFile => "not in the roles file: nothing".to_owned(),
            RoleSource::RolesFile => format!(
                "permissions {}; labels {}",
                joined(role.permissions.iter().map(|p| p.as_str())),
                joined(&role.authorized_labels)
            ),
        };
        text.push_str(&format!("  {:<width$}  {gives}\n", role.role));
    }
    let json = |p| serde_json::to_string(p).unwrap_or_default();
    text.push_str(&format!(
        "profile for {}'s access token (POST /user/get-profile):\n  {}\n",
        user.username,
        json(&e.profile)
    ));
    if let Some(profile) = &e.api_key_profile {
        text.push_str(&format!(
            "profile for {}'s api-key (POST /user/get-profile, token-key api-key):\n  {}\n",
            user.username,
            json(profile)
        ));
    }
    if let Some(verdict) = &e.label {
        text.push_str(&format!(
            "a study labelled {} is {}: {}\n",
            verdict.label,
            if verdict.visible {
                "visible"
            } else {
                "NOT visible"
            },
            verdict.rule
        ));
    }
    text.push_str(&problem_lines(&e.problems));
    text.push_str(&format!(
        "explain: {} for {}\n",
        problems_found(e.problems.len()),
        user.username
    ));
    text
}
