//! Realm access tokens where the Python service's verification (PyJWT 2.12, `jwt.decode` with
//! the realm key and audience `account`) and ours could differ, decided one by one: an `iat` in
//! the future is refused as PyJWT refused it, `realm_access.roles: null` is a user without
//! rights as Python made it, and a token without `exp` stays refused (PyJWT accepted it; we are
//! stricter on purpose, see release-notes.md).
use serde_json::{json, Value};

use crate::user::{app, profile, Files};

/// The anonymous profile of the fixture file.
fn anonymous() -> Value {
    json!({"authorized-labels": [], "permissions": ["upload"], "name": "Anonymous", "user-id": null, "validity": 60, "groups": []})
}

#[tokio::test]
async fn an_access_token_issued_in_the_future_is_refused_beyond_the_leeway() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let now = chrono::Utc::now().timestamp();
    let admin = |iat: Value| json!({"sub": "u-admin", "preferred_username": "admin", "iat": iat, "realm_access": {"roles": ["admin-role"]}});
    for (case, iat, admitted) in [
        ("issued now", json!(now), true),
        (
            "issued 20 s ahead: clocks differ, within the 30 s leeway",
            json!(now + 20),
            true,
        ),
        ("issued 2 minutes ahead", json!(now + 120), false),
        ("issued in a day", json!(now + 86_400), false),
        ("iat not a number", json!("yesterday"), false),
    ] {
        let token = realm.sign(admin(iat), json!({})).await;
        let (status, answer) =
            profile(&app, json!({"token-key": "token", "token-value": token})).await;
        assert_eq!(status, 200, "{case}: {answer}");
        if admitted {
            assert_eq!(
                answer["permissions"],
                json!(["all", "admin-permissions"]),
                "{case}"
            );
        } else {
            assert_eq!(answer, anonymous(), "{case}");
        }
    }
}

#[tokio::test]
async fn null_realm_roles_give_the_users_own_name_and_no_rights() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let no_rights = |name: &str| json!({"authorized-labels": [], "permissions": [], "name": name, "user-id": "u-doctor", "validity": 60, "groups": []});
    for (case, extra) in [
        ("roles null", json!({"realm_access": {"roles": null}})),
        ("realm_access null", json!({"realm_access": null})),
        ("no realm_access", json!({})),
    ] {
        let mut claims = json!({"sub": "u-doctor", "name": "Doctor Who"});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let token = realm.sign(claims, json!({})).await;
        assert_eq!(
            profile(&app, json!({"token-key": "token", "token-value": token})).await,
            (200, no_rights("Doctor Who")),
            "{case}"
        );
    }
}

#[tokio::test]
async fn an_access_token_without_exp_stays_refused() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let claims = json!({"sub": "u-admin", "preferred_username": "admin", "realm_access": {"roles": ["admin-role"]}});
    let with_exp = realm.sign_without(claims.clone(), &[]).await;
    let (_, answer) = profile(&app, json!({"token-key": "token", "token-value": with_exp})).await;
    assert_eq!(answer["permissions"], json!(["all", "admin-permissions"]));
    let never_expires = realm.sign_without(claims, &["exp"]).await;
    assert_eq!(
        profile(
            &app,
            json!({"token-key": "token", "token-value": never_expires})
        )
        .await,
        (200, anonymous()),
        "a token that would grant for ever is refused (PyJWT accepted it)"
    );
}
