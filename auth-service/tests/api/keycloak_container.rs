//! auth-service against the real Keycloak image importing `minimal-setup/keycloak/realm-orthanc.json`
//! (testcontainers). Runs only where a Docker engine is reachable and already holds the image
//! (nothing is ever pulled); elsewhere it says loudly that it was skipped, and passes.
//! `KEYCLOAK_IMAGE_TAG` picks the tag; without it, the first local `26.*` tag, else `26.4`.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{CopyTargetOptions, GenericImage, ImageExt};

use crate::user::{app, profile, Files};

const IMAGE: &str = "quay.io/keycloak/keycloak";
const DEFAULT_TAG: &str = "26.4";
/// The master-realm administrator the container creates at its first start (test-only).
const BOOTSTRAP_ADMIN: (&str, &str) = ("bootstrap-admin", "bootstrap-admin-password");

fn realm_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../minimal-setup/keycloak/realm-orthanc.json")
}

/// The image tag to run, or why this machine cannot run it.
fn local_keycloak_tag() -> Result<String, String> {
    let docker = |args: &[&str]| {
        std::process::Command::new("docker")
            .args(args)
            .output()
            .map_err(|e| format!("no docker CLI ({e})"))
    };
    let tag = match std::env::var("KEYCLOAK_IMAGE_TAG") {
        Ok(tag) => tag,
        Err(_) => {
            let listed = docker(&["image", "ls", "--format", "{{.Tag}}", IMAGE])?;
            String::from_utf8_lossy(&listed.stdout)
                .lines()
                .find(|t| t.starts_with("26."))
                .unwrap_or(DEFAULT_TAG)
                .to_owned()
        }
    };
    let inspected = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"org.orthanc-share.stand-in\"}}",
        &format!("{IMAGE}:{tag}"),
    ])?;
    if !inspected.status.success() {
        let why = String::from_utf8_lossy(&inspected.stderr);
        return Err(format!(
            "no Docker engine with {IMAGE}:{tag} here ({})",
            why.lines().next().unwrap_or("docker image inspect failed")
        ));
    }
    // minimal-setup/stand-ins/build.sh tags the tests' realm double under Keycloak's name for
    // the compose stacks: that is not the Keycloak this test is about.
    let stand_in = String::from_utf8_lossy(&inspected.stdout);
    if !stand_in.trim().is_empty() && stand_in.trim() != "<no value>" {
        return Err(format!(
            "{IMAGE}:{tag} here is the compose stacks' stand-in ({}), not Keycloak",
            stand_in.trim()
        ));
    }
    Ok(tag)
}

async fn json_of(response: reqwest::Response, what: &str) -> Value {
    let status = response.status();
    let text = response.text().await.expect("answer read");
    assert!(status.is_success(), "{what}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

#[tokio::test]
async fn real_keycloak_with_the_shipped_realm_serves_auth_service() {
    let tag = match local_keycloak_tag() {
        Ok(tag) => tag,
        Err(reason) => {
            // Optional: the image comes from a registry CI cannot reach.
            crate::tools::unavailable(
                test_name!(),
                &format!("{reason} — run it where one is (see docs/src/keycloak.md)"),
                crate::tools::Need::Optional,
            );
            return;
        }
    };
    // The realm file holds no secret and no host: Keycloak fills its placeholders from the
    // environment at import, as the compose stacks do.
    let realm_text = std::fs::read_to_string(realm_file()).expect("realm file read");
    assert!(
        realm_text.contains(r#""secret": "${KEYCLOAK_CLIENT_SECRET}""#),
        "admin-cli secret placeholder"
    );
    assert!(
        realm_text.contains(r#""${PUBLIC_URL}/*""#),
        "redirect URI placeholder"
    );
    let realm: Value = serde_json::from_str(&realm_text).expect("realm file is JSON");
    let admin_cli_secret = format!("test-{}", std::process::id());

    // start-dev: plain HTTP, issuer named after the host each request uses.
    let container = GenericImage::new(IMAGE, tag.as_str())
        .with_exposed_port(8080.tcp())
        .with_wait_for(WaitFor::message_on_either_std("Listening on"))
        .with_cmd(["start-dev", "--import-realm"])
        .with_env_var("KC_BOOTSTRAP_ADMIN_USERNAME", BOOTSTRAP_ADMIN.0)
        .with_env_var("KC_BOOTSTRAP_ADMIN_PASSWORD", BOOTSTRAP_ADMIN.1)
        .with_env_var("KEYCLOAK_CLIENT_SECRET", admin_cli_secret.as_str())
        .with_env_var("PUBLIC_URL", "http://localhost")
        // Copied rather than bind-mounted, so a remote Docker engine works as well.
        .with_copy_to(
            CopyTargetOptions::new("/opt/keycloak/data/import/realm-orthanc.json").with_mode(0o644),
            realm_file(),
        )
        .with_startup_timeout(Duration::from_secs(300))
        .start()
        .await
        .expect("the Keycloak container starts");
    let host = container.get_host().await.expect("container host");
    let port = container
        .get_host_port_ipv4(8080)
        .await
        .expect("port 8080 mapped");
    let base = format!("http://{host}:{port}");
    let http = reqwest::Client::new();

    // 1. OpenID discovery of the imported realm (retried: the realm may answer just after the
    //    listener opens).
    let discovery_url = format!("{base}/realms/orthanc/.well-known/openid-configuration");
    let started = Instant::now();
    let discovery = loop {
        match http.get(&discovery_url).send().await {
            Ok(r) if r.status().is_success() => break json_of(r, "discovery").await,
            _ if started.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => panic!("no discovery at {discovery_url}: {other:?}"),
        }
    };
    assert_eq!(
        discovery["issuer"],
        json!(format!("{base}/realms/orthanc")),
        "{discovery}"
    );
    let token_endpoint = discovery["token_endpoint"]
        .as_str()
        .expect("token_endpoint")
        .to_owned();

    // 2. admin-cli's client-credentials token, with the realm file's secret.
    let admin_token = json_of(
        http.post(&token_endpoint)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "admin-cli"),
                ("client_secret", admin_cli_secret.as_str()),
            ])
            .send()
            .await
            .expect("token request"),
        "admin-cli client-credentials token",
    )
    .await;
    assert!(admin_token["access_token"].is_string(), "{admin_token}");

    // 3. auth-service's admin look-ups with that client: the realm roles, a user by id.
    let files = Files::new();
    let keycloak_uri = format!("{base}/realms/orthanc/");
    let admin_uri = format!("{base}/admin/realms/orthanc/");
    let app = app(
        &files,
        None,
        &[
            ("ENABLE_KEYCLOAK", "true"),
            ("ENABLE_KEYCLOAK_API_KEYS", "true"),
            ("KEYCLOAK_URI", keycloak_uri.as_str()),
            ("KEYCLOAK_ADMIN_URI", admin_uri.as_str()),
            ("KEYCLOAK_CLIENT_SECRET", admin_cli_secret.as_str()),
        ],
    )
    .await;
    let (status, roles) = app
        .send(reqwest::Method::GET, "/settings/roles", &json!(null))
        .await;
    assert_eq!(status, 200, "{roles}");
    let names: BTreeSet<&str> = roles["roles"]
        .as_object()
        .expect("roles object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["admin-role", "doctor-role", "external-role"]),
        "{roles}"
    );
    let doctor = realm["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "doctor")
        .expect("user doctor in the realm file");
    let doctor_id = doctor["id"].as_str().expect("doctor id");
    let (status, by_id) = profile(&app, json!({"user-id": doctor_id})).await;
    assert_eq!(
        (status, &by_id["name"], &by_id["user-id"]),
        (200, &json!("doctor"), &json!(doctor_id)),
        "{by_id}"
    );

    // 4. A real access token of user doctor. The shipped realm allows no password grant (client
    //    `orthanc` is browser-only, the password is temporary), so the master administrator
    //    enables it on a copy of the client and sets a permanent password — what a browser login
    //    would otherwise do — and sets an api-key, which needs unmanaged attributes editable by
    //    administrators (Keycloak 24+ drops attributes the user profile does not declare).
    let master = json_of(
        http.post(format!(
            "{base}/realms/master/protocol/openid-connect/token"
        ))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "admin-cli"),
            ("username", BOOTSTRAP_ADMIN.0),
            ("password", BOOTSTRAP_ADMIN.1),
        ])
        .send()
        .await
        .expect("master token request"),
        "master administrator token",
    )
    .await;
    let master = master["access_token"]
        .as_str()
        .expect("master access_token");
    let orthanc_admin = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{admin_uri}{path}"))
            .bearer_auth(master)
    };
    let clients = json_of(
        orthanc_admin(reqwest::Method::GET, "clients?clientId=orthanc")
            .send()
            .await
            .expect("clients"),
        "client orthanc",
    )
    .await;
    let mut client = clients[0].clone();
    client["directAccessGrantsEnabled"] = json!(true);
    let client_path = format!("clients/{}", client["id"].as_str().expect("client id"));
    let put = orthanc_admin(reqwest::Method::PUT, &client_path)
        .json(&client)
        .send()
        .await
        .expect("client update");
    assert!(put.status().is_success(), "client update: {}", put.status());
    let put = orthanc_admin(
        reqwest::Method::PUT,
        &format!("users/{doctor_id}/reset-password"),
    )
    .json(&json!({"type": "password", "value": "doctor-password", "temporary": false}))
    .send()
    .await
    .expect("password reset");
    assert!(
        put.status().is_success(),
        "password reset: {}",
        put.status()
    );

    let user_token = json_of(
        http.post(&token_endpoint)
            .form(&[
                ("grant_type", "password"),
                ("client_id", "orthanc"),
                ("username", "doctor"),
                ("password", "doctor-password"),
                ("scope", "openid"),
            ])
            .send()
            .await
            .expect("doctor token request"),
        "doctor's password-grant token",
    )
    .await;
    let access_token = user_token["access_token"]
        .as_str()
        .expect("doctor access_token");
    let (status, by_token) = profile(
        &app,
        json!({"token-key": "Authorization", "token-value": format!("Bearer {access_token}")}),
    )
    .await;
    assert_eq!(status, 200, "{by_token}");
    assert_eq!(
        (
            &by_token["user-id"],
            &by_token["permissions"],
            &by_token["authorized-labels"],
            &by_token["groups"]
        ),
        (
            &json!(doctor_id),
            &json!(["view", "download", "share", "send"]),
            &json!(["*"]),
            &json!(["/doctors"])
        ),
        "doctor's realm token must give doctor-role's rights: {by_token}"
    );

    // 5. An api-key attribute on doctor, found by auth-service's search.
    let mut user_profile = json_of(
        orthanc_admin(reqwest::Method::GET, "users/profile")
            .send()
            .await
            .expect("user profile"),
        "user profile configuration",
    )
    .await;
    user_profile["unmanagedAttributePolicy"] = json!("ADMIN_EDIT");
    let put = orthanc_admin(reqwest::Method::PUT, "users/profile")
        .json(&user_profile)
        .send()
        .await
        .expect("user profile update");
    assert!(put.status().is_success(), "user profile: {}", put.status());
    let mut user = json_of(
        orthanc_admin(reqwest::Method::GET, &format!("users/{doctor_id}"))
            .send()
            .await
            .expect("user"),
        "user doctor",
    )
    .await;
    user["attributes"]["api-key"] = json!(["doctor-api-key-0001"]);
    let put = orthanc_admin(reqwest::Method::PUT, &format!("users/{doctor_id}"))
        .json(&user)
        .send()
        .await
        .expect("user update");
    assert!(put.status().is_success(), "user update: {}", put.status());
    let (status, by_key) = profile(
        &app,
        json!({"token-key": "api-key", "token-value": "doctor-api-key-0001"}),
    )
    .await;
    assert_eq!(
        (status, &by_key["name"], &by_key["permissions"]),
        (
            200,
            &json!("doctor"),
            &json!(["view", "download", "share", "send"])
        ),
        "{by_key}"
    );

    // 6. `auth-service users` and `explain` with admin-cli's shipped rights (view-users,
    //    query-users, view-realm): the realm's three users (not admin-cli's service account),
    //    and doctor's profile as its real token gave it.
    let roles_path = files.roles();
    let anonymous_path = files.anonymous();
    let env = [
        ("ENABLE_KEYCLOAK", "true"),
        ("ENABLE_KEYCLOAK_API_KEYS", "true"),
        ("KEYCLOAK_URI", keycloak_uri.as_str()),
        ("KEYCLOAK_ADMIN_URI", admin_uri.as_str()),
        ("KEYCLOAK_CLIENT_SECRET", admin_cli_secret.as_str()),
        ("PERMISSIONS_FILE_PATH", roles_path.as_str()),
        ("ANONYMOUS_PROFILE_FILE_PATH", anonymous_path.as_str()),
    ];
    let listed = crate::users::auth_service(&env, &["users", "--json"]).await;
    let report = listed.json();
    let users: Vec<(&str, &Value, &Value, &Value)> = report["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| {
            (
                u["username"].as_str().expect("username"),
                &u["permissions"],
                &u["authorized-labels"],
                &u["api-key"],
            )
        })
        .collect();
    assert_eq!(
        users,
        [
            (
                "admin",
                &json!(["all", "admin-permissions"]),
                &json!(["*"]),
                &json!(false)
            ),
            (
                "doctor",
                &json!(["view", "download", "share", "send"]),
                &json!(["*"]),
                &json!(true)
            ),
            (
                "external",
                &json!(["view", "download"]),
                &json!(["external", "teaching"]),
                &json!(false)
            ),
        ],
        "{report}"
    );
    // The fixture roles file's own problems: legacy-role is no realm role, no role grants urgent.
    let kinds: Vec<&Value> = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| &p["problem"])
        .collect();
    assert_eq!(
        kinds,
        [
            &json!("roles-file-role-not-in-realm"),
            &json!("label-granted-by-no-role")
        ],
        "{report}"
    );
    assert!(
        !listed.stdout.contains("doctor-api-key-0001")
            && !listed.stdout.contains(&admin_cli_secret)
    );
    let explained = crate::users::auth_service(&env, &["explain", "doctor", "--json"]).await;
    let explained = explained.json();
    assert_eq!(
        explained["profile"], by_token,
        "explain agrees with get-profile for the real token"
    );
    assert_eq!(explained["api-key-profile"], by_key, "and for the api-key");
}
