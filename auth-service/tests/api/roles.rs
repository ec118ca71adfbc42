//! `GET /settings/roles`, `PUT /settings/roles`.
use serde_json::{json, Value};

use crate::user::{app, profile, Files};

const NO_ADMIN: &str = r#"{"detail":"No Keycloack admin client defined, you probably should define KEYCLOAK_CLIENT_SECRET"}"#;

/// The fixture roles file merged with the realm's roles (auditor-role and teacher-role are in the
/// realm only; legacy-role is in the file only).
fn merged_fixture() -> Value {
    json!({
        "roles": {
            "admin-role": {"authorized-labels": ["*"], "permissions": ["all", "admin-permissions"]},
            "auditor-role": {"authorized-labels": [], "permissions": []},
            "doctor-role": {"authorized-labels": ["*"], "permissions": ["view", "download", "share", "send"]},
            "external-role": {"authorized-labels": ["external", "teaching"], "permissions": ["view", "download"]},
            "teacher-role": {"authorized-labels": [], "permissions": []}
        },
        "available-labels": ["external", "teaching", "urgent"]
    })
}

#[tokio::test]
async fn without_an_admin_client_the_roles_routes_answer_the_python_404() {
    let files = Files::new();
    for extra in [
        vec![],
        vec![
            ("ENABLE_KEYCLOAK", "true"),
            ("KEYCLOAK_URI", "http://127.0.0.1:9/realms/orthanc/"),
        ],
    ] {
        let app = app(&files, None, &extra).await;
        let get = app
            .client
            .get(app.url("/settings/roles"))
            .header(
                "Authorization",
                crate::helpers::basic(crate::helpers::USER, crate::helpers::PASSWORD),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(get.status().as_u16(), 404);
        assert_eq!(get.text().await.unwrap(), NO_ADMIN);
        let body = json!({"roles": {"doctor-role": {"authorized-labels": ["*"], "permissions": ["view"]}}});
        let (status, answer) = app
            .send(reqwest::Method::PUT, "/settings/roles", &body)
            .await;
        assert_eq!(
            (status, answer),
            (404, serde_json::from_str(NO_ADMIN).unwrap())
        );
        let (status, _) = app
            .send(
                reqwest::Method::PUT,
                "/settings/roles",
                &json!({"roles": "nope"}),
            )
            .await;
        assert_eq!(status, 422);
    }
}

#[tokio::test]
async fn get_roles_merges_the_file_with_the_realm_roles() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let before = std::fs::read_to_string(files.roles()).unwrap();
    let app = app(&files, Some(&realm), &[]).await;
    let (status, answer) = app
        .send(reqwest::Method::GET, "/settings/roles", &json!(null))
        .await;
    assert_eq!((status, answer), (200, merged_fixture()));
    assert_eq!(
        std::fs::read_to_string(files.roles()).unwrap(),
        before,
        "a GET writes nothing"
    );
}

#[tokio::test]
async fn put_roles_refuses_unknown_permissions_and_keeps_the_file() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let before = std::fs::read_to_string(files.roles()).unwrap();
    let app = app(&files, Some(&realm), &[]).await;
    let body = json!({"roles": {"doctor-role": {"authorized-labels": ["*"], "permissions": ["view", "fly", "teleport"]}}});
    let (status, answer) = app
        .send(reqwest::Method::PUT, "/settings/roles", &body)
        .await;
    assert_eq!(
        (status, &answer["error"]),
        (400, &json!("unknown permissions")),
        "{answer}"
    );
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .starts_with("not permissions: fly, teleport;"),
        "{answer}"
    );
    assert_eq!(std::fs::read_to_string(files.roles()).unwrap(), before);
}

#[tokio::test]
async fn put_roles_from_the_plugin_persists_the_merge_and_applies_at_once() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    // As the plugin relays it from OE2: an extra server-id, no available-labels.
    let body = json!({"roles": {"doctor-role": {"authorized-labels": ["urgent"], "permissions": ["view"]}, "ghost-role": {"authorized-labels": [], "permissions": ["all"]}}, "server-id": "orthanc-a"});
    let (status, answer) = app
        .send(reqwest::Method::PUT, "/settings/roles", &body)
        .await;
    let expected = json!({
        "roles": {
            "admin-role": {"authorized-labels": [], "permissions": []},
            "auditor-role": {"authorized-labels": [], "permissions": []},
            "doctor-role": {"authorized-labels": ["urgent"], "permissions": ["view"]},
            "external-role": {"authorized-labels": [], "permissions": []},
            "teacher-role": {"authorized-labels": [], "permissions": []}
        },
        "available-labels": ["external", "teaching", "urgent"]
    });
    assert_eq!((status, &answer), (200, &expected));
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(files.roles()).unwrap()).unwrap();
    assert_eq!(stored, expected);
    let (_, got) = app
        .send(reqwest::Method::GET, "/settings/roles", &json!(null))
        .await;
    assert_eq!(got, expected);
    let (_, doctor) = profile(
        &app,
        json!({"token-key": "api-key", "token-value": "key-doctor-0002"}),
    )
    .await;
    assert_eq!(
        (&doctor["permissions"], &doctor["authorized-labels"]),
        (&json!(["view"]), &json!(["urgent"]))
    );
}

#[tokio::test]
async fn concurrent_roles_writers_leave_one_whole_file() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = std::sync::Arc::new(app(&files, Some(&realm), &[]).await);
    let bodies: Vec<Value> = (0..24)
        .map(|i| {
            let labels: Vec<String> = (0..200).map(|j| format!("label-{i}-{j}")).collect();
            json!({"roles": {"doctor-role": {"authorized-labels": labels, "permissions": ["view"]}}, "available-labels": [format!("writer-{i}")]})
        })
        .collect();
    let mut tasks = Vec::new();
    for body in bodies.clone() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.send(reqwest::Method::PUT, "/settings/roles", &body)
                .await
                .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(files.roles()).unwrap())
        .expect("the file is whole JSON");
    let writer = stored["available-labels"][0]
        .as_str()
        .unwrap()
        .trim_start_matches("writer-")
        .parse::<usize>()
        .unwrap();
    assert_eq!(
        stored["roles"]["doctor-role"]["authorized-labels"],
        bodies[writer]["roles"]["doctor-role"]["authorized-labels"]
    );
    let (_, got) = app
        .send(reqwest::Method::GET, "/settings/roles", &json!(null))
        .await;
    assert_eq!(got, stored, "memory and file agree");
    let leftovers: Vec<_> = std::fs::read_dir(files.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn roles_routes_answer_503_when_keycloak_is_down() {
    let mut realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    realm.stop().await;
    let (status, answer) = app
        .send(reqwest::Method::GET, "/settings/roles", &json!(null))
        .await;
    assert_eq!(
        (status, &answer["error"]),
        (503, &json!("keycloak unavailable")),
        "{answer}"
    );
    let body = json!({"roles": {}});
    assert_eq!(
        app.send(reqwest::Method::PUT, "/settings/roles", &body)
            .await
            .0,
        503
    );
}

#[tokio::test]
async fn a_snake_case_available_labels_is_ignored_as_python_does() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let (_, before) = app
        .send(reqwest::Method::GET, "/settings/roles", &json!(null))
        .await;
    // Inside a role, `authorized_labels` is read (Python's model allows it); at the top,
    // `available_labels` is not (Python's is dashed only): the file's labels stay.
    let body = json!({"roles": {"doctor-role": {"authorized_labels": ["urgent"], "permissions": ["view"]}}, "available_labels": ["only-this"]});
    let (status, answer) = app
        .send(reqwest::Method::PUT, "/settings/roles", &body)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["available-labels"], before["available-labels"]);
    assert_eq!(
        answer["roles"]["doctor-role"],
        json!({"authorized-labels": ["urgent"], "permissions": ["view"]})
    );
}
