//! The admin-API double of `realm.mjs` checked with Keycloak's own npm client
//! (`@keycloak/keycloak-admin-client`), unchanged: its URL layout and representation shapes stay
//! Keycloak's, so the tests built on the double test what a real Keycloak answers.
use crate::realm::ADMIN_CLI_SECRET;

#[tokio::test]
async fn official_keycloak_admin_client_accepts_the_admin_api_double() {
    let realm = realm_or_skip!();
    let out = tokio::process::Command::new("node")
        .arg("check-admin-client.mjs")
        .arg(realm.base())
        .arg(ADMIN_CLI_SECRET)
        .current_dir(crate::realm::installed().expect("installed by realm_or_skip"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs check-admin-client.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the official Keycloak admin client disagrees with the double ({}):\n{stdout}{stderr}",
        out.status
    );
    assert!(
        stdout.contains("check-admin-client: all checks passed"),
        "{stdout}{stderr}"
    );
}
