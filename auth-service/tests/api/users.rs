//! `auth-service users`, `auth-service explain`, `GET /users`, `GET /users/{username}/explain`
//! against the realm stand-in (tests/support/oidc/realm.mjs): one fixture user per problem, the
//! admin API paged as Keycloak pages it, only the rights the shipped realm gives admin-cli, and
//! no secret in any output.
use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::helpers::{basic, TestApp, PASSWORD, USER};
use crate::realm::{fixture, Realm, ADMIN_CLI_SECRET};
use crate::user::{app, profile, Files};

/// The fixture users' api-keys (realm.mjs), by user.
const API_KEYS: [(&str, &str); 7] = [
    ("admin", "key-admin-0001"),
    ("doctor", "key-doctor-0002"),
    ("disabled-user", "key-disabled-0003"),
    ("future-user", "key-future-0004"),
    ("dup-one", "key-dup-0005"),
    ("dup-two", "key-dup-0005"),
    ("intern", "key-intern-0006"),
];

/// The fixture users, as Keycloak lists them (by username).
const USERNAMES: [&str; 11] = [
    "admin",
    "auditor",
    "disabled-user",
    "doctor",
    "dup-one",
    "dup-two",
    "external",
    "future-user",
    "intern",
    "newcomer",
    "teacher",
];

fn roles_file() -> String {
    fixture("users-permissions.jsonc").display().to_string()
}

/// What the binary said: exit status, stdout, stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", self.stdout, self.stderr))
    }
}

/// Runs `auth-service ARGS` with the tests' `SECRET_KEY` and `USERS` and `env` (nothing
/// inherited from the test's environment).
pub async fn auth_service(env: &[(&str, &str)], args: &[&str]) -> Run {
    let data = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_auth-service"));
    command
        .args(args)
        .env_clear()
        .env("SECRET_KEY", crate::helpers::SECRET)
        .env("USERS", format!(r#"{{"{USER}": "{PASSWORD}"}}"#))
        .env("SECRETS_DIR", "/nonexistent-secrets-dir")
        .env("DATA_DIR", data.path());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().await.expect("auth-service runs");
    Run {
        code: out.status.code().expect("an exit status"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

/// `auth-service ARGS` with the service's settings for `realm`, the users tests' roles file and
/// `extra`.
async fn run(realm: &Realm, extra: &[(&str, &str)], args: &[&str]) -> Run {
    let roles = roles_file();
    let anonymous = fixture("anonymous-profile.jsonc").display().to_string();
    let realm_env = realm.env();
    let mut env = vec![
        ("PERMISSIONS_FILE_PATH", roles.as_str()),
        ("ANONYMOUS_PROFILE_FILE_PATH", anonymous.as_str()),
    ];
    env.extend(realm_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    env.extend_from_slice(extra);
    auth_service(&env, args).await
}

/// The app with the realm and the users tests' roles file.
async fn users_app(realm: &Realm, files: &Files, extra: &[(&str, &str)]) -> TestApp {
    let roles = roles_file();
    let mut env = vec![("PERMISSIONS_FILE_PATH", roles.as_str())];
    env.extend_from_slice(extra);
    app(files, Some(realm), &env).await
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    app.send(reqwest::Method::GET, path, &json!(null)).await
}

#[tokio::test]
async fn users_lists_every_user_with_roles_permissions_labels_and_api_key_set() {
    let realm = realm_or_skip!();
    let run = run(&realm, &[], &["users", "--json"]).await;
    assert_eq!(run.code, 1, "problems found: exit status 1\n{}", run.stderr);
    let report = run.json();
    let users = report["users"].as_array().unwrap();
    let names: Vec<&str> = users
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, USERNAMES);
    let by_name: BTreeMap<&str, &Value> = names.iter().copied().zip(users).collect();
    assert_eq!(
        by_name["doctor"],
        &json!({"username": "doctor", "id": "u-doctor", "enabled": true,
            "roles": ["doctor-role", "external-role", "default-roles-orthanc", "offline_access", "uma_authorization"],
            "permissions": ["view", "download", "share", "send"],
            "authorized-labels": ["*", "external", "teaching"], "api-key": true})
    );
    assert_eq!(
        by_name["external"],
        &json!({"username": "external", "id": "u-external", "enabled": true,
            "roles": ["external-role", "default-roles-orthanc", "offline_access", "uma_authorization"],
            "permissions": ["view", "download"], "authorized-labels": ["external", "teaching"], "api-key": false})
    );
    assert_eq!(by_name["disabled-user"]["enabled"], false);
    assert_eq!(by_name["newcomer"]["permissions"], json!([]));
    for (name, user) in &by_name {
        let has_key = API_KEYS.iter().any(|(u, _)| u == name);
        assert_eq!(user["api-key"], has_key, "{name}");
    }
    // The shipped realm's rights were enough for every call.
    assert_eq!(realm.stats().await["forbidden"], 0);

    // The text: a header, one line per user, Keycloak's own roles left out.
    let text = self::run(&realm, &[], &["users"]).await;
    assert_eq!(text.code, 1);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "USER",
            "ENABLED",
            "API-KEY",
            "ROLES",
            "PERMISSIONS",
            "AUTHORIZED",
            "LABELS"
        ]
    );
    let doctor = lines.iter().find(|l| l.starts_with("doctor ")).unwrap();
    assert_eq!(
        doctor.split_whitespace().collect::<Vec<_>>().join(" "),
        "doctor yes yes doctor-role, external-role view, download, share, send *, external, teaching"
    );
    let newcomer = lines.iter().find(|l| l.starts_with("newcomer ")).unwrap();
    assert_eq!(
        newcomer.split_whitespace().collect::<Vec<_>>().join(" "),
        "newcomer yes no - - -"
    );
    assert_eq!(
        lines.last().unwrap(),
        &"users: 11 users (roles shown without Keycloak's own), 11 problems found"
    );
}

#[tokio::test]
async fn every_problem_is_found_on_its_fixture_user_with_the_fix_to_try() {
    let realm = realm_or_skip!();
    let run = run(&realm, &[], &["users", "--json"]).await;
    let problems = run.json()["problems"].as_array().unwrap().clone();
    let found: Vec<(String, Value, Value, Value)> = problems
        .iter()
        .map(|p| {
            (
                p["problem"].as_str().unwrap().to_owned(),
                p["users"].clone(),
                p["roles"].clone(),
                p["labels"].clone(),
            )
        })
        .collect();
    let expected = [
        (
            "no-permissions",
            json!(["newcomer", "teacher"]),
            json!(["teacher-role"]),
            json!([]),
        ),
        (
            "no-authorized-labels",
            json!(["auditor"]),
            json!(["auditor-role"]),
            json!([]),
        ),
        (
            "restricted-user-granted-everything",
            json!(["intern"]),
            json!(["external-role", "admin-role"]),
            json!([]),
        ),
        (
            "api-key-shared",
            json!(["dup-one", "dup-two"]),
            json!([]),
            json!([]),
        ),
        (
            "api-key-of-disabled-user",
            json!(["disabled-user"]),
            json!([]),
            json!([]),
        ),
        (
            "api-key-not-valid-yet",
            json!(["future-user"]),
            json!([]),
            json!([]),
        ),
        (
            "realm-role-not-in-roles-file",
            json!(["teacher"]),
            json!(["teacher-role"]),
            json!([]),
        ),
        (
            "roles-file-role-not-in-realm",
            json!([]),
            json!(["legacy-role"]),
            json!([]),
        ),
        (
            "label-granted-by-no-role",
            json!([]),
            json!(["legacy-role"]),
            json!(["archive"]),
        ),
        (
            "label-granted-by-no-role",
            json!([]),
            json!([]),
            json!(["urgent"]),
        ),
        (
            "label-not-available",
            json!([]),
            json!(["external-role"]),
            json!(["teaching"]),
        ),
    ]
    .map(|(kind, users, roles, labels)| (kind.to_owned(), users, roles, labels));
    assert_eq!(found, expected);
    // The words an administrator needs, and a fix for every problem.
    let what = |kind: &str| {
        problems.iter().find(|p| p["problem"] == kind).unwrap()["what"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        what("no-authorized-labels"),
        "auditor (auditor-role) has permissions but no authorized labels: the plugin refuses them tools/find, so OE2's study list stays empty"
    );
    assert_eq!(
        what("no-permissions"),
        "2 users get no permission at all: newcomer (no role but Keycloak's defaults) and teacher (teacher-role)"
    );
    for p in &problems {
        assert!(p["fix"].as_str().is_some_and(|f| f.len() > 20), "{p}");
    }

    // In text, as the doctor prints warnings: `! what` and its fix under it.
    let text = self::run(&realm, &[], &["users"]).await;
    for p in &problems {
        let line = format!(
            "! {}\n    fix: {}\n",
            p["what"].as_str().unwrap(),
            p["fix"].as_str().unwrap()
        );
        assert!(
            text.stdout.contains(&line),
            "{line} missing from\n{}",
            text.stdout
        );
    }
}

#[tokio::test]
async fn api_keys_while_api_keys_are_off_are_a_problem_naming_their_holders() {
    let realm = realm_or_skip!();
    let run = run(
        &realm,
        &[("ENABLE_KEYCLOAK_API_KEYS", "false")],
        &["users", "--json"],
    )
    .await;
    let problems = run.json()["problems"].clone();
    let off = problems
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["problem"] == "api-keys-disabled")
        .unwrap_or_else(|| panic!("{problems}"));
    assert_eq!(
        off["users"],
        json!([
            "admin",
            "disabled-user",
            "doctor",
            "dup-one",
            "dup-two",
            "future-user",
            "intern"
        ])
    );
}

/// The access-token profile `explain` shows is `POST /user/get-profile`'s answer for the token
/// Keycloak issues the user (the stand-in builds it from the user as Keycloak does), and the
/// api-key profile the answer for the user's api-key: for every fixture user, through the route
/// and through the command line.
#[tokio::test]
async fn explain_agrees_with_get_profile_for_every_fixture_user() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = users_app(&realm, &files, &[]).await;
    let (status, report) = get(&app, "/users").await;
    assert_eq!(status, 200, "{report}");
    let names: Vec<String> = report["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, USERNAMES);
    for name in &names {
        let token = realm.user_token(name).await;
        let (status, by_token) = profile(
            &app,
            json!({"token-key": "Authorization", "token-value": format!("Bearer {token}")}),
        )
        .await;
        assert_eq!(status, 200, "{name}: {by_token}");
        let (status, explained) = get(&app, &format!("/users/{name}/explain")).await;
        assert_eq!(status, 200, "{name}: {explained}");
        assert_eq!(explained["profile"], by_token, "{name}'s token");
        let key = API_KEYS.iter().find(|(u, _)| u == name).map(|(_, k)| *k);
        match key {
            Some(key) => {
                let (status, by_key) =
                    profile(&app, json!({"token-key": "api-key", "token-value": key})).await;
                assert_eq!(status, 200);
                assert_eq!(explained["api-key-profile"], by_key, "{name}'s api-key");
            }
            None => assert_eq!(explained["api-key-profile"], Value::Null, "{name}"),
        }
        let cli = run(&realm, &[], &["explain", name, "--json"]).await;
        assert_eq!(cli.json()["profile"], by_token, "{name}: explain --json");
    }
    // What those profiles hold (so that equal does not mean equally empty).
    let token = realm.user_token("doctor").await;
    let (_, doctor) = profile(
        &app,
        json!({"token-key": "Authorization", "token-value": format!("Bearer {token}")}),
    )
    .await;
    assert_eq!(
        doctor,
        json!({"authorized-labels": ["*", "external", "teaching"], "permissions": ["view", "download", "share", "send"],
            "name": "Doctor Who", "user-id": "u-doctor", "validity": 60, "groups": ["/doctors", "/staff"]})
    );
    let (_, dup) = get(&app, "/users/dup-one/explain").await;
    assert_eq!(
        dup["api-key-profile"]["name"], "Anonymous",
        "a shared key opens nothing"
    );
}

#[tokio::test]
async fn explain_says_what_each_role_gives_and_which_rule_decides_a_label() {
    let realm = realm_or_skip!();
    let run_ = |args: &'static [&'static str]| {
        let realm = &realm;
        async move { run(realm, &[], args).await }
    };
    let doctor = run_(&["explain", "doctor", "--label", "urgent", "--json"]).await;
    assert_eq!(
        doctor.code, 0,
        "no problem: exit status 0\n{}",
        doctor.stderr
    );
    let doctor = doctor.json();
    assert_eq!(
        doctor["roles"],
        json!([
            {"role": "doctor-role", "source": "roles-file", "permissions": ["view", "download", "share", "send"], "authorized-labels": ["*"]},
            {"role": "external-role", "source": "roles-file", "permissions": ["view", "download"], "authorized-labels": ["external", "teaching"]},
            {"role": "default-roles-orthanc", "source": "keycloak-default", "permissions": [], "authorized-labels": []},
            {"role": "offline_access", "source": "keycloak-default", "permissions": [], "authorized-labels": []},
            {"role": "uma_authorization", "source": "keycloak-default", "permissions": [], "authorized-labels": []}
        ])
    );
    assert_eq!(
        doctor["label"],
        json!({"label": "urgent", "visible": true, "decided-by": ["doctor-role"],
            "rule": "doctor-role grants authorized label * (every study, whatever its labels); view from doctor-role and external-role"})
    );
    assert_eq!(doctor["problems"], json!([]));

    let external = run_(&["explain", "external", "--label", "urgent", "--json"])
        .await
        .json();
    assert_eq!(
        external["label"],
        json!({"label": "urgent", "visible": false, "decided-by": [],
            "rule": "no role grants label urgent nor *; the user's authorized labels are external, teaching"})
    );
    let teaching = run_(&["explain", "external", "--label", "teaching"]).await;
    assert!(
        teaching.stdout.contains("a study labelled teaching is visible: external-role grants authorized label teaching; view from external-role\n"),
        "{}",
        teaching.stdout
    );
    let teacher = run_(&["explain", "teacher", "--label", "external"]).await;
    assert_eq!(teacher.code, 1, "a problem: exit status 1");
    assert!(
        teacher
            .stdout
            .contains("  teacher-role           not in the roles file: nothing\n"),
        "{}",
        teacher.stdout
    );
    assert!(
        teacher
            .stdout
            .contains("a study labelled external is NOT visible: no role grants view or all"),
        "{}",
        teacher.stdout
    );
    assert!(
        teacher
            .stdout
            .contains("! teacher (teacher-role) gets no permission at all\n    fix: "),
        "{}",
        teacher.stdout
    );
    assert!(
        teacher
            .stdout
            .ends_with("explain: 1 problem found for teacher\n"),
        "{}",
        teacher.stdout
    );

    // A user's own problems, the shared api-key included; by id as well as by username.
    let dup = run_(&["explain", "u-dup2", "--json"]).await.json();
    assert_eq!(dup["user"]["username"], "dup-two");
    assert_eq!(dup["problems"][0]["problem"], "api-key-shared");
    assert_eq!(dup["problems"][0]["users"], json!(["dup-one", "dup-two"]));

    let nobody = run_(&["explain", "nobody-here"]).await;
    assert_eq!(nobody.code, 1);
    assert_eq!(nobody.stdout, "");
    assert!(
        nobody
            .stderr
            .starts_with("✗ no user nobody-here in the realm"),
        "{}",
        nobody.stderr
    );
}

#[tokio::test]
async fn the_routes_answer_what_the_command_line_prints_behind_basic_auth() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = users_app(&realm, &files, &[]).await;
    for path in ["/users", "/users/doctor/explain"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
        assert_eq!(res.headers()["www-authenticate"], "Basic");
    }
    let (status, report) = get(&app, "/users").await;
    assert_eq!(status, 200);
    assert_eq!(report, run(&realm, &[], &["users", "--json"]).await.json());
    let (status, explained) = get(&app, "/users/intern/explain?label=external").await;
    assert_eq!(status, 200);
    assert_eq!(
        explained,
        run(
            &realm,
            &[],
            &["explain", "intern", "--label", "external", "--json"]
        )
        .await
        .json()
    );
    assert_eq!(
        explained["problems"][0]["problem"],
        "restricted-user-granted-everything"
    );
    let (status, auditor) = get(&app, "/users/auditor/explain?label=external").await;
    assert_eq!(status, 200);
    assert_eq!(auditor["label"]["visible"], false);
    assert_eq!(
        auditor["label"]["rule"],
        "the user has no authorized label: the plugin refuses every study it has to check by label, and tools/find"
    );

    assert_eq!(
        get(&app, "/users/nobody-here/explain").await,
        (
            404,
            json!({"error": "unknown user", "detail": "no such username or user id in the realm"})
        )
    );
    assert_eq!(
        get(&app, "/users/doctor/explain?label=").await,
        (
            400,
            json!({"error": "invalid name", "detail": "label: 1 to 255 characters"})
        )
    );
    // Counted in characters, as Keycloak counts a username's: 255 "é" are 510 bytes.
    let e_acute = |n: usize| format!("/users/doctor/explain?label={}", "%C3%A9".repeat(n));
    assert_eq!(get(&app, &e_acute(255)).await.0, 200);
    assert_eq!(get(&app, &e_acute(256)).await.0, 400);
    let res = app
        .client
        .post(app.url("/users"))
        .header("Authorization", basic(USER, PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET");
}

#[tokio::test]
async fn without_an_admin_client_or_with_keycloak_down_the_routes_and_commands_say_so() {
    let mut realm = realm_or_skip!();
    let files = Files::new();
    // No KEYCLOAK_CLIENT_SECRET: the roles routes' 404; the commands refuse with exit status 2.
    let no_admin = app(&files, None, &[("ENABLE_KEYCLOAK", "true")]).await;
    let missing = json!({"detail": "No Keycloack admin client defined, you probably should define KEYCLOAK_CLIENT_SECRET"});
    assert_eq!(get(&no_admin, "/users").await, (404, missing.clone()));
    assert_eq!(
        get(&no_admin, "/users/doctor/explain").await,
        (404, missing)
    );
    // An empty setting is no setting.
    let refused = run(&realm, &[("KEYCLOAK_CLIENT_SECRET", "")], &["users"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .starts_with("✗ KEYCLOAK_CLIENT_SECRET is not set"),
        "{}",
        refused.stderr
    );
    let no_keycloak = run(&realm, &[("ENABLE_KEYCLOAK", "false")], &["users"]).await;
    assert_eq!(no_keycloak.code, 2);
    assert!(
        no_keycloak
            .stderr
            .starts_with("✗ ENABLE_KEYCLOAK is not true"),
        "{}",
        no_keycloak.stderr
    );

    // Keycloak down: 503 and exit status 1, saying where.
    let app = users_app(&realm, &files, &[]).await;
    let env = realm.env();
    realm.stop().await;
    let (status, body) = get(&app, "/users").await;
    assert_eq!(
        (status, &body["error"]),
        (503, &json!("keycloak unavailable")),
        "{body}"
    );
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let down = run(&realm, &extra, &["users"]).await;
    assert_eq!(down.code, 1);
    assert!(
        down.stderr
            .starts_with("✗ Keycloak admin API: Keycloak at http://127.0.0.1:"),
        "{}",
        down.stderr
    );
    assert!(down.stderr.contains("connection failed"), "{}", down.stderr);
}

#[tokio::test]
async fn users_needs_view_users_and_names_the_missing_right() {
    let realm =
        or_skip!(Realm::start_with_rights(test_name!(), Some("query-users,view-realm")).await);
    let run = run(&realm, &[], &["users"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("403 Forbidden"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the realm-management roles view-users, query-users and view-realm"),
        "{}",
        run.stderr
    );
    assert!(realm.stats().await["forbidden"].as_u64().unwrap() > 0);
}

/// Two listings asked at once read the realm once; the next one reads it afresh.
#[tokio::test]
async fn concurrent_listings_share_one_pass_over_the_realm() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = users_app(&realm, &files, &[]).await;
    // Every admin call takes 200 ms: the first listing is still running when the second asks.
    realm.delay(200).await;
    let (first, second) = tokio::join!(get(&app, "/users"), get(&app, "/users"));
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(first, second);
    assert_eq!(realm.stats().await["userPages"], 1);
    realm.delay(0).await;
    assert_eq!(get(&app, "/users").await.0, 200);
    assert_eq!(realm.stats().await["userPages"], 2);
}

/// Keycloak's pages of 100 users, every user once, a few role look-ups at a time. (How long it
/// takes is bench/users.sh's business.)
#[tokio::test]
async fn users_pages_through_thousands_of_users_with_first_and_max() {
    let realm = realm_or_skip!();
    let total = realm.populate(2_500).await;
    assert_eq!(total, 2_511);
    let run = run(&realm, &[], &["users", "--json"]).await;
    let report = run.json();
    let users = report["users"].as_array().unwrap();
    assert_eq!(users.len(), 2_511);
    let names: Vec<&str> = users
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "each user once, by username");
    assert_eq!(
        users
            .iter()
            .find(|u| u["username"] == "user-00003")
            .unwrap()["permissions"],
        json!(["view", "download", "share", "send"])
    );
    let stats = realm.stats().await;
    assert_eq!(
        stats["userPages"], 26,
        "25 full pages and a last short one: {stats}"
    );
    assert!(
        stats["pageSizes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m == 100),
        "{stats}"
    );
    assert_eq!(
        stats["briefPages"], 0,
        "full representations: they hold the api-key"
    );
    assert_eq!(stats["roleMappings"], 2_511);
    assert_eq!(
        stats["maxInFlight"], 8,
        "8 role look-ups at a time: {stats}"
    );
    // The generated users are sound: the problems are the fixture users' ones.
    assert_eq!(report["problems"].as_array().unwrap().len(), 11);
}

/// Neither an api-key nor the admin-cli secret appears in what `users` and `explain` print or
/// answer, in text or JSON, nor in their errors.
#[tokio::test]
async fn no_secret_in_any_output() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = users_app(&realm, &files, &[]).await;
    let mut outputs = Vec::new();
    for args in [vec!["users"], vec!["users", "--json"]] {
        let r = run(&realm, &[], &args).await;
        outputs.push(r.stdout + &r.stderr);
    }
    for (name, _) in API_KEYS {
        for json in [false, true] {
            let mut args = vec!["explain", name, "--label", "external"];
            if json {
                args.push("--json");
            }
            let r = run(&realm, &[], &args).await;
            outputs.push(r.stdout + &r.stderr);
        }
        outputs.push(
            get(&app, &format!("/users/{name}/explain"))
                .await
                .1
                .to_string(),
        );
    }
    outputs.push(get(&app, "/users").await.1.to_string());
    let wrong = run(
        &realm,
        &[("KEYCLOAK_CLIENT_SECRET", "wrong-secret-31415")],
        &["users"],
    )
    .await;
    assert!(
        wrong
            .stderr
            .contains("refused the admin-cli client credentials"),
        "{}",
        wrong.stderr
    );
    outputs.push(wrong.stdout + &wrong.stderr);
    let secrets: Vec<&str> = API_KEYS
        .iter()
        .map(|(_, k)| *k)
        .chain([ADMIN_CLI_SECRET, "wrong-secret-31415"])
        .collect();
    for output in &outputs {
        assert!(output.len() > 50, "{output}");
        for secret in &secrets {
            assert!(!output.contains(secret), "{secret} in:\n{output}");
        }
    }
}
