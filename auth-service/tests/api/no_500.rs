//! Whatever arrives, every route answers a deliberate status: never a 500, never a dropped connection.
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use crate::helpers::{basic, spawn_app, PASSWORD, USER};

const ROUTES: &[(&str, &str)] = &[
    ("PUT", "/tokens/stone-viewer-publication"),
    ("PUT", "/tokens/meddream-instant-link"),
    ("PUT", "/tokens/viewer-instant-link"),
    ("POST", "/tokens/validate"),
    ("POST", "/tokens/decode"),
    ("POST", "/user/get-profile"),
    ("PUT", "/settings/roles"),
    ("POST", "/emails/send"),
    ("POST", "/tokens/unlock"),
    ("POST", "/tokens/send-code"),
];

/// JSON values shaped like the real bodies (known keys, odd values) or not at all.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        Just(json!("2099-12-31T23:59:59Z")),
        Just(json!("eyJhbGciOiJIUzI1NiJ9.e30.x")),
        Just(json!("study")),
    ];
    let value = leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("resources".to_owned()),
                    Just("level".to_owned()),
                    Just("dicom-uid".to_owned()),
                    Just("orthanc-id".to_owned()),
                    Just("token-value".to_owned()),
                    Just("expiration-date".to_owned()),
                    Just("validity-duration".to_owned()),
                    Just("method".to_owned()),
                    Just("type".to_owned()),
                    Just("roles".to_owned()),
                    Just("protection".to_owned()),
                    Just("password".to_owned()),
                    Just("email-code".to_owned()),
                    Just("code".to_owned()),
                    Just("address".to_owned()),
                    "[a-z-]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        4 => value.prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

/// Bodies for /emails/send: mostly with every field a string, so they get past the field checks
/// to the cleaning, the layout and the SMTP step.
fn email_body() -> impl Strategy<Value = Vec<u8>> {
    let email = (
        prop_oneof![3 => Just("a@example.test".to_owned()), 1 => ".{0,20}"],
        ".{0,20}",
        prop_oneof![
            ".{0,60}",
            Just("<p onclick=x()>&amp; &#1; &&& <a href=javascript:y>z</a>".to_owned())
        ],
        prop_oneof![
            2 => Just(Value::Null),
            2 => Just(json!("layout")),
            1 => Just(json!("../x"))
        ],
    )
        .prop_map(|(to, title, content, layout)| {
            json!({"destination-email": to, "email-title": title, "email-content": content, "layout-template": layout})
                .to_string()
                .into_bytes()
        });
    prop_oneof![3 => email, 1 => body()]
}

/// Bodies for the protected-link routes: mostly shaped like the landing page's, with one of the
/// given real tokens (a password link, a code link, a plain one) or a fake, and odd secrets.
fn unlock_body(tokens: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        3 => proptest::sample::select(tokens),
        1 => Just("eyJhbGciOiJIUzI1NiJ9.e30.x".to_owned()),
        1 => ".{0,30}",
    ];
    let secret = prop_oneof![
        Just(json!("not-the-password")),
        Just(json!("123456")),
        ".{0,40}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
    ];
    let shaped = (
        token,
        proptest::sample::select(vec!["password", "code", "address"]),
        secret,
        proptest::option::of(any::<i64>()),
    )
        .prop_map(|(token, key, secret, address)| {
            let mut body = json!({"token-value": token});
            body[key] = secret;
            if let Some(n) = address {
                body["address"] = json!(n.rem_euclid(4));
            }
            body.to_string().into_bytes()
        });
    prop_oneof![3 => shaped, 1 => body()]
}

#[tokio::test]
async fn random_bodies_never_get_a_500() {
    // E-mails on (templates in a temp folder, an SMTP port nobody listens on: 502), so the
    // random bodies reach the e-mail composition too, not only its 404.
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(
        templates.path().join("layout.html"),
        "<p>{email-content}</p>",
    )
    .unwrap();
    let smtp_port = crate::tools::free_port().to_string();
    let app = spawn_app(&[
        ("PUBLIC_ORTHANC_ROOT", "http://127.0.0.1:8042/"),
        ("PUBLIC_LANDING_ROOT", "http://127.0.0.1:8042/landing/"),
        ("ENABLE_EMAILS", "true"),
        ("EMAILS_TEMPLATES_ROOT", templates.path().to_str().unwrap()),
        ("EMAILS_SENDER_ADDRESS", "pacs@example.test"),
        ("EMAILS_SMTP_SERVER_HOSTNAME", "127.0.0.1"),
        ("EMAILS_SMTP_SERVER_PORT", &smtp_port),
        ("EMAILS_SMTP_SERVER_TIMEOUT", "1"),
    ])
    .await;
    let mut protected = Vec::new();
    for protection in [
        json!({"password": "the-right-password"}),
        json!({"email-code": ["a@example.test"]}),
        Value::Null,
    ] {
        let mut share = json!({"resources": [{"dicom-uid": "1.2.3", "level": "study"}]});
        if !protection.is_null() {
            share["protection"] = protection;
        }
        protected.push(app.token("stone-viewer-publication", &share).await);
    }
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    let mut cases = Vec::new();
    for i in 0..400 {
        let tree = match ROUTES[i % ROUTES.len()].1 {
            "/emails/send" => email_body().boxed().new_tree(&mut runner).unwrap(),
            "/tokens/unlock" | "/tokens/send-code" => unlock_body(protected.clone())
                .boxed()
                .new_tree(&mut runner)
                .unwrap(),
            _ => body().boxed().new_tree(&mut runner).unwrap(),
        };
        cases.push(tree.current());
    }
    let mut seen = std::collections::BTreeMap::new();
    let mut unlock_seen = std::collections::BTreeMap::new();
    for (i, bytes) in cases.into_iter().enumerate() {
        let (method, path) = ROUTES[i % ROUTES.len()];
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .header("Authorization", basic(USER, PASSWORD))
            .header("Content-Type", "application/json")
            .body(bytes.clone())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{method} {path}: connection failed ({e}) for {:?}",
                    String::from_utf8_lossy(&bytes)
                )
            });
        let status = res.status().as_u16();
        assert!(
            status < 500 || status == 502 || status == 503,
            "{method} {path} answered {status} for {:?}",
            String::from_utf8_lossy(&bytes)
        );
        *seen.entry(status).or_insert(0u32) += 1;
        if path == "/tokens/unlock" || path == "/tokens/send-code" {
            *unlock_seen.entry(status).or_insert(0u32) += 1;
        }
    }
    eprintln!(
        "statuses over {} random bodies: {seen:?}",
        seen.values().sum::<u32>()
    );
    // The generator must reach past the body checks too, not only produce 422s, and reach the
    // SMTP step of /emails/send (502: nobody listens).
    assert!(
        seen.keys().any(|s| *s == 200 || *s == 400),
        "statuses seen: {seen:?}"
    );
    assert!(seen.contains_key(&502), "statuses seen: {seen:?}");
    // The protected-link routes too got past their checks (200: a refusal or a code to send).
    assert!(
        unlock_seen.contains_key(&200) && unlock_seen.contains_key(&400),
        "unlock and send-code statuses: {unlock_seen:?}"
    );
}
