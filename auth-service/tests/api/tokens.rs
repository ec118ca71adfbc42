//! Create, validate and decode over HTTP, as Orthanc, OE2 and the landing page call them.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{assert_no_token_in, basic, raw_get, spawn_app, status_json, TestApp, SECRET};

const U1: &str = "1.2.840.113619.2.55.3.604688119.971.1";
const U2: &str = "1.2.840.113619.2.55.3.604688119.971.2";
const O1: &str = "6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f";
const O2: &str = "0d1e2f3a-4b5c6d7e-8f9a0b1c-2d3e4f5a-6b7c8d9e";

/// PROTOCOL.md's tokens: the first signed with `my-secret-key` (expires 2026-12-31T11:00Z),
/// the second with `change-me-I-am-a-secret-key` (never expires).
pub const PROTOCOL_TOKEN_1: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6InRvdG8iLCJyZXNvdXJjZXMiOlt7ImRpY29tX3VpZCI6IjEuMiIsIm9ydGhhbmNfaWQiOm51bGwsInVybCI6bnVsbCwibGV2ZWwiOiJzdHVkeSJ9XSwidHlwZSI6InN0b25lLXZpZXdlci1wdWJsaWNhdGlvbiIsImV4cGlyYXRpb25fZGF0ZSI6IjIwMjYtMTItMzFUMTE6MDA6MDArMDA6MDAifQ.RlB9x56eQSaJNt3t4hDxAHdM7BhBbah5CWWBBZQf7x0";
pub const PROTOCOL_TOKEN_2: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6ImRlbW8tMSIsInJlc291cmNlcyI6W3siZGljb21fdWlkIjoiMS4yLjI3Ni4wLjM3LjEuMzIyLjIwMTUwMi4xMTAzMzkyNyIsIm9ydGhhbmNfaWQiOm51bGwsInVybCI6bnVsbCwibGV2ZWwiOiJzdHVkeSJ9XSwidHlwZSI6Im1lZGRyZWFtLXZpZXdlci1wdWJsaWNhdGlvbiIsImV4cGlyYXRpb25fZGF0ZSI6bnVsbCwidmFsaWRpdHlfZHVyYXRpb24iOm51bGx9.a2189RYDjlPueJ8QkquJylVJCOXDRyCltGcalnkyJQM";

const LANDING: &str = "https://pacs.example.test/orthanc/ui/app/token-landing.html";

fn share(resources: Value) -> Value {
    json!({"id": "t", "resources": resources, "expiration-date": "2099-12-31T23:59:59Z"})
}
fn study(uid: Option<&str>, oid: Option<&str>) -> Value {
    json!({"dicom-uid": uid, "orthanc-id": oid, "level": "study"})
}
/// A share of one study, as `share` builds it.
fn one_study(uid: Option<&str>, oid: Option<&str>) -> Value {
    share(json!([study(uid, oid)]))
}
/// The token of a viewer instant link to one study.
async fn instant_link(app: &TestApp, uid: Option<&str>, oid: Option<&str>) -> String {
    app.token("viewer-instant-link", &one_study(uid, oid)).await
}
fn ask(uid: Option<&str>, oid: Option<&str>, level: &str) -> Value {
    json!({"dicom-uid": uid, "orthanc-id": oid, "level": level, "method": "get", "server-id": null})
}

/// A JWT signed with HMAC-SHA256 over whatever header and payload a test wants.
pub fn forge(header: &Value, payload: &Value, secret: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn good_payload() -> Value {
    json!({"id": "f", "resources": [{"dicom_uid": U1, "orthanc_id": O1, "url": null, "level": "study"}],
           "type": "stone-viewer-publication", "expiration_date": "2099-12-31T23:59:59+00:00", "validity_duration": null})
}
fn hs256() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

#[tokio::test]
async fn every_type_gets_the_link_of_its_root_configuration() {
    let landing = spawn_app(&[
        ("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/"),
        ("PUBLIC_OHIF_ROOT", "https://pacs.example.test/ohif/"),
        ("PUBLIC_LANDING_ROOT", LANDING),
    ])
    .await;
    let direct = spawn_app(&[
        // No trailing slash: URL-join drops the last segment, exactly as the Python service does.
        ("PUBLIC_ORTHANC_ROOT", "http://127.0.0.1:8042/pacs"),
        ("PUBLIC_OHIF_ROOT", "http://127.0.0.1:8042/ohif/"),
    ])
    .await;
    let json_ohif = spawn_app(&[
        ("PUBLIC_OHIF_ROOT", "http://h/ohif/"),
        ("OHIF_DATA_SOURCE", "dicom-json"),
    ])
    .await;
    let two = share(json!([
        study(Some(U1), Some(O1)),
        study(Some(U2), Some(O2))
    ]));
    let cases: Vec<(&_, &str, Option<String>)> = vec![
        (&landing, "stone-viewer-publication", Some(format!("{LANDING}?token=T"))),
        (&landing, "osimis-viewer-publication", Some(format!("{LANDING}?token=T"))),
        (&landing, "ohif-viewer-publication", Some(format!("{LANDING}?token=T"))),
        (&landing, "volview-viewer-publication", Some(format!("{LANDING}?token=T"))),
        (&landing, "viewer-instant-link", None),
        (&landing, "download-instant-link", None),
        (&direct, "stone-viewer-publication", Some(format!("http://127.0.0.1:8042/stone-webviewer/index.html?study={U1},{U2}&selectedStudies={U1},{U2}&token=T"))),
        (&direct, "osimis-viewer-publication", Some(format!("http://127.0.0.1:8042/osimis-viewer/app/index.html?pickableStudyIds={O1},{O2}&selectedStudyIds={O1},{O2}&token=T"))),
        (&direct, "volview-viewer-publication", Some(format!("http://127.0.0.1:8042/volview/index.html?names=[archive.zip]&urls=../studies/{O1}/archive,../studies/{O2}/archive&token=T"))),
        (&direct, "ohif-viewer-publication", Some(format!("http://127.0.0.1:8042/ohif/viewer?StudyInstanceUIDs={U1},{U2}&token=T"))),
        (&json_ohif, "ohif-viewer-publication", Some(format!("http://h/ohif/viewer?url=../studies/{O1}/ohif-dicom-json&token=T"))),
        (&direct, "viewer-instant-link", None),
    ];
    for (app, token_type, want) in cases {
        let (status, answer) = app.create(token_type, &two).await;
        assert_eq!(status, 200, "{token_type}: {answer}");
        let token = answer["token"].as_str().unwrap();
        let got = answer["url"].as_str().map(|u| u.replace(token, "T"));
        assert_eq!(got, want, "{token_type}");
        assert_eq!(answer["request"]["type"], token_type);
        assert_eq!(answer["request"]["expiration-date"], "2099-12-31T23:59:59Z");
        if app.port == direct.port && want.is_some() {
            // The landing page's redirect is the same direct link.
            assert_eq!(
                app.decode(token).await["redirect-url"]
                    .as_str()
                    .map(|u| u.replace(token, "T")),
                want
            );
        }
    }
}

/// Tokens recorded from the Python service (golden `full/create/shape/id-unicode` and
/// `full/create/stone-viewer-publication/two-studies`, secret `my-secret-key`).
const PYTHON_UNICODE_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6InBhcnRhZ2UtXHUwMGU5dFx1MDBlOS1cdTY1ZTVcdTY3MmMiLCJyZXNvdXJjZXMiOlt7ImRpY29tX3VpZCI6IjEuMi44NDAuMTEzNjE5LjIuNTUuMy42MDQ2ODgxMTkuOTcxLjEiLCJvcnRoYW5jX2lkIjoiNmIxZjNlMmEtMGM1ZDdlODgtMWEyYjNjNGQtNWU2ZjdhOGItOWMwZDFlMmYiLCJ1cmwiOm51bGwsImxldmVsIjoic3R1ZHkifV0sInR5cGUiOiJkb3dubG9hZC1pbnN0YW50LWxpbmsiLCJleHBpcmF0aW9uX2RhdGUiOiIyMDk5LTEyLTMxVDIzOjU5OjU5KzAwOjAwIiwidmFsaWRpdHlfZHVyYXRpb24iOm51bGx9.4uARI3hl9p0OEIEi322aLFvhYHxGVX0U5Y43fv-iCes";
const PYTHON_TWO_STUDIES_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6Im0tc3RvbmUtdmlld2VyLXB1YmxpY2F0aW9uLXR3by1zdHVkaWVzIiwicmVzb3VyY2VzIjpbeyJkaWNvbV91aWQiOiIxLjIuODQwLjExMzYxOS4yLjU1LjMuNjA0Njg4MTE5Ljk3MS4xIiwib3J0aGFuY19pZCI6IjZiMWYzZTJhLTBjNWQ3ZTg4LTFhMmIzYzRkLTVlNmY3YThiLTljMGQxZTJmIiwidXJsIjpudWxsLCJsZXZlbCI6InN0dWR5In0seyJkaWNvbV91aWQiOiIxLjIuODQwLjExMzYxOS4yLjU1LjMuNjA0Njg4MTE5Ljk3MS4yIiwib3J0aGFuY19pZCI6IjBkMWUyZjNhLTRiNWM2ZDdlLThmOWEwYjFjLTJkM2U0ZjVhLTZiN2M4ZDllIiwidXJsIjpudWxsLCJsZXZlbCI6InN0dWR5In1dLCJ0eXBlIjoic3RvbmUtdmlld2VyLXB1YmxpY2F0aW9uIiwiZXhwaXJhdGlvbl9kYXRlIjoiMjA5OS0xMi0zMVQyMzo1OTo1OSswMDowMCIsInZhbGlkaXR5X2R1cmF0aW9uIjpudWxsfQ.snh_CC6qZWNLuPhkzAua9w-uRh5AxZtnWrxqG48MSwE";

#[tokio::test]
async fn the_same_request_gives_the_very_token_string_the_python_service_gave() {
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/")]).await;
    let unicode = json!({"id": "partage-été-日本", "resources": [{"dicom-uid": U1, "orthanc-id": O1, "level": "study"}],
                         "type": "download-instant-link", "expiration-date": "2099-12-31T23:59:59Z"});
    assert_eq!(
        app.token("download-instant-link", &unicode).await,
        PYTHON_UNICODE_TOKEN
    );
    let two = json!({"id": "m-stone-viewer-publication-two-studies",
                     "resources": [{"dicom-uid": U1, "orthanc-id": O1, "level": "study"}, {"dicom-uid": U2, "orthanc-id": O2, "level": "study"}],
                     "type": "stone-viewer-publication", "expiration-date": "2099-12-31T23:59:59Z"});
    assert_eq!(
        app.token("stone-viewer-publication", &two).await,
        PYTHON_TWO_STUDIES_TOKEN
    );
}

#[tokio::test]
async fn same_request_same_date_same_secret_gives_the_python_token() {
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/")]).await;
    // Recorded from the Python service (golden full/create/shape/id-unicode, secret my-secret-key).
    let body = json!({"id": "partage-été-日本", "resources": [{"dicom-uid": U1, "orthanc-id": O1, "level": "study"}],
                      "type": "download-instant-link", "expiration-date": "2099-12-31T23:59:59Z"});
    let token = app.token("download-instant-link", &body).await;
    let payload = token.split('.').nth(1).unwrap();
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"id":"partage-\u00e9t\u00e9-\u65e5\u672c","resources":[{{"dicom_uid":"{U1}","orthanc_id":"{O1}","url":null,"level":"study"}}],"type":"download-instant-link","expiration_date":"2099-12-31T23:59:59+00:00","validity_duration":null}}"#
        )
    );
    assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
    // Same bytes signed with the same secret by the test's own HMAC: the signature must agree.
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    mac.update(input.as_bytes());
    assert_eq!(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()), sig);
}

#[tokio::test]
async fn validate_applies_the_id_rules_at_every_level() {
    let app = spawn_app(&[]).await;
    let both = instant_link(&app, Some(U1), Some(O1)).await;
    let uid_only = instant_link(&app, Some(U1), None).await;
    let oid_only = app
        .token("download-instant-link", &one_study(None, Some(O1)))
        .await;
    let two = app
        .token(
            "viewer-instant-link",
            &share(json!([
                study(Some(U1), Some(O1)),
                study(Some(U2), Some(O2))
            ])),
        )
        .await;
    let mixed = app
        .token(
            "viewer-instant-link",
            &share(json!([study(Some(U1), None), study(None, Some(O2))])),
        )
        .await;
    let cases = [
        (&both, Some(U1), None, true),
        (&both, None, Some(O1), true),
        (&both, Some(U1), Some(O2), false),
        (&both, Some(U2), Some(O1), false),
        (&both, None, None, false),
        (&uid_only, None, Some(O1), false),
        (&uid_only, Some(U1), Some(O2), true),
        (&oid_only, Some(U1), None, false),
        (&oid_only, Some(U2), Some(O1), true),
        (&two, Some(U2), None, true),
        (&two, Some(U1), Some(O2), true),
        (&mixed, Some(U1), None, false),
        (&mixed, None, Some(O2), false),
    ];
    for level in ["patient", "study", "series", "instance", "system"] {
        for (token, uid, oid, want) in &cases {
            assert_eq!(
                app.granted(token, &ask(*uid, *oid, level)).await,
                *want,
                "{level} {uid:?} {oid:?}"
            );
        }
    }
    // DICOMweb: the plugin's second call for the same study arrives with method post.
    let mut post = ask(Some(U1), None, "study");
    post["method"] = json!("post");
    assert!(app.granted(&both, &post).await);
}

#[tokio::test]
async fn the_token_may_come_in_the_header_or_the_body_with_or_without_bearer() {
    let app = spawn_app(&[]).await;
    let token = instant_link(&app, Some(U1), Some(O1)).await;
    let q = ask(Some(U1), None, "study");
    assert!(app.granted(&format!("Bearer {token}"), &q).await);
    let mut in_body = q.clone();
    in_body["token-key"] = json!("token");
    in_body["token-value"] = json!(format!("Bearer {token}"));
    assert_eq!(app.validate(None, &in_body).await.1["granted"], true);
    // The header wins over the body, whichever is wrong.
    assert_eq!(
        app.validate(Some("garbage"), &in_body).await.1["granted"],
        false
    );
    assert_eq!(app.validate(Some(""), &in_body).await.1["granted"], true);
    assert_eq!(
        app.validate(Some(&format!("bearer {token}")), &q).await.1["granted"],
        false
    );
    assert_eq!(app.validate(None, &q).await.1["granted"], false);
}

#[tokio::test]
async fn server_id_must_match_when_configured() {
    let app = spawn_app(&[("SERVER_ID", "orthanc-a")]).await;
    let token = instant_link(&app, Some(U1), None).await;
    let mut q = ask(Some(U1), None, "study");
    assert!(
        !app.granted(&token, &q).await,
        "server-id null must not pass"
    );
    q["server-id"] = json!("orthanc-b");
    assert!(!app.granted(&token, &q).await);
    q["server-id"] = json!("orthanc-a");
    assert!(app.granted(&token, &q).await);
    let open = spawn_app(&[]).await;
    q["server-id"] = json!("anything");
    let token = instant_link(&open, Some(U1), None).await;
    assert!(
        open.granted(&token, &q).await,
        "without SERVER_ID the server-id is not checked"
    );
}

#[test]
fn the_first_protocol_token_says_what_protocol_md_says_whatever_today_is() {
    use auth_service::domain::TokenType;
    use auth_service::share_token::ShareTokenCodec;
    let codec = ShareTokenCodec::new(&secrecy::SecretString::from(SECRET));
    let share = codec
        .decode(PROTOCOL_TOKEN_1)
        .expect("signed with my-secret-key");
    assert_eq!(share.id.as_deref(), Some("toto"));
    assert_eq!(share.token_type, Some(TokenType::StoneViewerPublication));
    assert!(share.grants(Some("1.2"), None) && !share.grants(Some("1.3"), None));
    // Expiry judged at fixed instants around its expiration-date, never at today's date.
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    assert!(!share.is_expired(at("2026-12-31T10:59:59Z")));
    assert!(share.is_expired(at("2026-12-31T11:00:00Z")));
    let other = ShareTokenCodec::new(&secrecy::SecretString::from("change-me-I-am-a-secret-key"));
    assert!(other.decode(PROTOCOL_TOKEN_1).is_err(), "other secret");
    let share = other
        .decode(PROTOCOL_TOKEN_2)
        .expect("signed with the other secret");
    assert_eq!(share.expiration_date, None, "never expires");
}

#[tokio::test]
async fn the_protocol_tokens_decode_and_validate_with_their_secrets() {
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/")]).await;
    // Its type whatever today is (the token expires on 2026-12-31: whether it is still valid
    // is pinned above at fixed instants).
    let decoded = app.decode(PROTOCOL_TOKEN_1).await;
    assert_eq!(decoded["token-type"], "stone-viewer-publication");
    assert!(
        !app.granted(PROTOCOL_TOKEN_1, &ask(Some("1.3"), None, "study"))
            .await
    );
    assert!(
        !app.granted(
            PROTOCOL_TOKEN_2,
            &ask(Some("1.2.276.0.37.1.322.201502.11033927"), None, "study")
        )
        .await,
        "other secret"
    );

    let app2 = spawn_app(&[("SECRET_KEY", "change-me-I-am-a-secret-key")]).await;
    assert!(
        app2.granted(
            PROTOCOL_TOKEN_2,
            &ask(Some("1.2.276.0.37.1.322.201502.11033927"), None, "study")
        )
        .await
    );
    assert!(
        !app2
            .granted(PROTOCOL_TOKEN_1, &ask(Some("1.2"), None, "study"))
            .await,
        "other secret"
    );
}

#[tokio::test]
async fn an_unknown_type_in_the_path_is_404_whatever_the_body_holds() {
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", "http://127.0.0.1:8042/")]).await;
    for body in [
        json!({"type": "no-such-type", "resources": [{"dicom-uid": "1.2", "level": "study"}]}),
        json!({"type": "no-such-type"}),
        json!([1, 2]),
        json!("not an object"),
    ] {
        let (status, answer) = app.create("no-such-type", &body).await;
        assert_eq!(
            (status, &answer["error"]),
            (404, &json!("unknown token type")),
            "{body}: {answer}"
        );
    }
    // Credentials still come first.
    let res = app
        .client
        .put(app.url("/tokens/no-such-type"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused() {
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/")]).await;
    let q = ask(Some(U1), None, "study");
    let good = forge(&hs256(), &good_payload(), SECRET);
    assert!(
        app.granted(&good, &q).await,
        "the forge helper itself makes acceptable tokens"
    );
    let with = |k: &str, v: Value| {
        let mut p = good_payload();
        p[k] = v;
        forge(&hs256(), &p, SECRET)
    };
    let without = |k: &str| {
        let mut p = good_payload();
        p.as_object_mut().unwrap().remove(k);
        forge(&hs256(), &p, SECRET)
    };
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good_payload().to_string())
    );
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).timestamp();
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).timestamp();
    let (head, _, sig) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    let mut tampered_payload = good_payload();
    tampered_payload["resources"][0]["dicom_uid"] = json!(U2);
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", unsigned, "invalid"),
        (
            "RS256 header, HMAC with the secret (key confusion)",
            forge(
                &json!({"alg": "RS256", "typ": "JWT"}),
                &good_payload(),
                SECRET,
            ),
            "invalid",
        ),
        (
            "HS512",
            forge(
                &json!({"alg": "HS512", "typ": "JWT"}),
                &good_payload(),
                SECRET,
            ),
            "invalid",
        ),
        (
            "other secret",
            forge(&hs256(), &good_payload(), "another-secret"),
            "invalid",
        ),
        (
            "tampered payload",
            format!(
                "{head}.{}.{sig}",
                URL_SAFE_NO_PAD.encode(tampered_payload.to_string())
            ),
            "invalid",
        ),
        ("truncated", good[..good.len() - 5].to_owned(), "invalid"),
        ("expired exp claim", with("exp", json!(past)), "invalid"),
        ("future nbf", with("nbf", json!(future)), "invalid"),
        ("any aud", with("aud", json!("account")), "invalid"),
        ("aud list", with("aud", json!(["x"])), "invalid"),
        ("no resources", without("resources"), "unknown"),
        (
            "unknown type",
            with("type", json!("teleport-link")),
            "unknown",
        ),
        (
            "unknown level",
            with("resources", json!([{"dicom_uid": U1, "level": "frame"}])),
            "unknown",
        ),
        (
            "naive expiration date",
            with("expiration_date", json!("2099-01-01T00:00:00")),
            "unknown",
        ),
        (
            "expired expiration date",
            with("expiration_date", json!("2000-01-01T00:00:00+00:00")),
            "expired",
        ),
        ("garbage", "not-a-jwt".to_owned(), "invalid"),
        ("three dots", "a.b.c".to_owned(), "invalid"),
        ("empty segments", "..".to_owned(), "invalid"),
        ("empty", String::new(), "invalid"),
    ];
    for (what, token, code) in cases {
        assert!(!app.granted(&token, &q).await, "{what} was granted");
        let decoded = app.decode(&token).await;
        assert_eq!(decoded["error-code"], code, "{what}: {decoded}");
        assert_eq!(decoded["redirect-url"], Value::Null, "{what}");
        assert_eq!(decoded["resources"], json!([]), "{what}");
    }
}

#[tokio::test]
async fn old_token_shapes_still_work() {
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/")]).await;
    let q = ask(Some(U1), None, "study");
    let mut legacy = good_payload();
    legacy.as_object_mut().unwrap().remove("validity_duration");
    let dashed = json!({"resources": [{"dicom-uid": U1, "level": "study"}], "type": "stone-viewer-publication",
                        "expiration-date": "2099-12-31T23:59:59+00:00", "extra": 1});
    let mut no_type = good_payload();
    no_type.as_object_mut().unwrap().remove("type");
    for (what, payload) in [
        ("no validity_duration", legacy),
        ("dashed keys, extra claim", dashed),
        ("no type", no_type),
    ] {
        assert!(
            app.granted(&forge(&hs256(), &payload, SECRET), &q).await,
            "{what}"
        );
    }
    let decoded = app
        .decode(&forge(
            &json!({"typ": "JWT", "alg": "HS256"}),
            &good_payload(),
            SECRET,
        ))
        .await;
    assert_eq!(
        decoded["error-code"],
        Value::Null,
        "header key order does not matter"
    );
}

#[tokio::test]
async fn decode_reports_instant_links_and_expiry_like_the_python_service() {
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/")]).await;
    let instant = instant_link(&app, Some(U1), Some(O1)).await;
    let d = app.decode(&instant).await;
    assert_eq!(
        (d["token-type"].as_str(), d["error-code"].as_str()),
        (Some("viewer-instant-link"), Some("unknown"))
    );
    let mut body = one_study(Some(U1), Some(O1));
    body["expiration-date"] = json!("2000-01-01T00:00:00Z");
    let expired = app.token("stone-viewer-publication", &body).await;
    let d = app.decode(&expired).await;
    assert_eq!(
        (d["token-type"].as_str(), d["error-code"].as_str()),
        (Some("stone-viewer-publication"), Some("expired"))
    );
    let mut body = one_study(Some(U1), Some(O1));
    body["validity-duration"] = json!(-1);
    body.as_object_mut().unwrap().remove("expiration-date");
    let short = app.token("stone-viewer-publication", &body).await;
    assert_eq!(app.decode(&short).await["error-code"], "expired");
    assert!(!app.granted(&short, &ask(Some(U1), None, "study")).await);
}

#[tokio::test]
async fn validity_duration_becomes_an_expiration_date_from_the_server_clock() {
    let app = spawn_app(&[]).await;
    let mut body = one_study(Some(U1), None);
    body.as_object_mut().unwrap().remove("expiration-date");
    body["validity-duration"] = json!(3600);
    let before = chrono::Utc::now();
    let (status, answer) = app.create("viewer-instant-link", &body).await;
    assert_eq!(status, 200);
    let echoed = answer["request"]["expiration-date"].as_str().unwrap();
    assert!(echoed.ends_with("+00:00"), "{echoed}");
    let at = chrono::DateTime::parse_from_rfc3339(echoed).unwrap();
    let delta = (at.with_timezone(&chrono::Utc) - before).num_seconds();
    assert!((3595..=3605).contains(&delta), "{delta}");
    assert_eq!(answer["request"]["validity-duration"], 3600);
    // The plugin's uninitialised number next to an explicit date: the date wins, the number is dropped.
    let plugin = json!({"expiration-date": "2030-12-31T11:00:00Z", "id": "share-1", "server-id": null,
        "resources": [{"dicom-uid": U1, "level": "study", "orthanc-id": O1}], "type": "viewer-instant-link",
        "validity-duration": 140326900184013_i64});
    let (status, answer) = app.create("viewer-instant-link", &plugin).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["request"]["expiration-date"], "2030-12-31T11:00:00Z");
    assert_eq!(answer["request"]["validity-duration"], Value::Null);
    // Alone, it is ignored too: no expiry rather than a 500.
    let mut alone = plugin.clone();
    alone.as_object_mut().unwrap().remove("expiration-date");
    let (status, answer) = app.create("viewer-instant-link", &alone).await;
    assert_eq!(
        (status, answer["request"]["expiration-date"].clone()),
        (200, Value::Null)
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_without_echoing_tokens() {
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/")]).await;
    let token = instant_link(&app, Some(U1), Some(O1)).await;
    let put = reqwest::Method::PUT;
    let post = reqwest::Method::POST;
    let mut mismatch = one_study(Some(U1), Some(O1));
    mismatch["type"] = json!("ohif-viewer-publication");
    let mut naive = one_study(Some(U1), Some(O1));
    naive["expiration-date"] = json!("2099-06-30T12:00:00");
    let cases: Vec<(reqwest::Method, &str, Value, u16, &str)> = vec![
        (
            put.clone(),
            "/tokens/stone-viewer-publication",
            mismatch,
            400,
            "type",
        ),
        (
            put.clone(),
            "/tokens/ohif-viewer-publication",
            one_study(Some(U1), None),
            404,
            "PUBLIC_OHIF_ROOT",
        ),
        (
            put.clone(),
            "/tokens/meddream-instant-link",
            one_study(Some(U1), None),
            404,
            "MEDDREAM_TOKEN_SERVICE_URL",
        ),
        (
            put.clone(),
            "/tokens/foo-viewer",
            share(json!([])),
            404,
            "known types",
        ),
        (
            put.clone(),
            "/tokens/validate",
            share(json!([])),
            405,
            "Method Not Allowed",
        ),
        (
            put.clone(),
            "/tokens/stone-viewer-publication",
            naive,
            400,
            "expiration-date",
        ),
        (
            put.clone(),
            "/tokens/stone-viewer-publication",
            one_study(None, Some(O1)),
            400,
            "resources[0].dicom-uid",
        ),
        (
            put.clone(),
            "/tokens/osimis-viewer-publication",
            share(json!([study(Some(U1), Some(O1)), study(Some(U2), None)])),
            400,
            "resources[1].orthanc-id",
        ),
        (
            put.clone(),
            "/tokens/stone-viewer-publication",
            json!({"id": "x"}),
            422,
            "resources",
        ),
        (
            put.clone(),
            "/tokens/stone-viewer-publication",
            json!({"resources": [{"dicom-uid": U1}]}),
            422,
            "level",
        ),
        (
            put.clone(),
            "/tokens/stone-viewer-publication",
            json!({"resources": [], "id": 42}),
            422,
            "id",
        ),
        (
            post.clone(),
            "/tokens/decode",
            json!({"token-key": "token"}),
            400,
            "token-value",
        ),
        (
            post.clone(),
            "/tokens/decode",
            json!({"token-value": null}),
            400,
            "token-value",
        ),
        (
            post.clone(),
            "/tokens/decode",
            json!({"token-value": 12}),
            422,
            "expected",
        ),
        (
            post.clone(),
            "/tokens/validate",
            json!({"dicom-uid": U1, "level": "study", "token-value": token}),
            422,
            "method",
        ),
        (
            post.clone(),
            "/tokens/validate",
            json!({"dicom-uid": U1, "method": "GET", "level": "study", "token-value": token}),
            422,
            "expected",
        ),
        (
            post.clone(),
            "/tokens/validate",
            json!([]),
            422,
            "JSON object",
        ),
    ];
    for (method, path, body, want, mentions) in cases {
        let (status, answer) = app.send(method, path, &body).await;
        assert_eq!(status, want, "{path} {body}: {answer}");
        assert!(
            answer.to_string().contains(mentions),
            "{path} {body}: {answer} should name {mentions}"
        );
        assert_no_token_in(status, &answer);
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_after_authentication_and_not_echoed() {
    let app = spawn_app(&[]).await;
    let token = instant_link(&app, Some(U1), Some(O1)).await;
    let secret_body = format!(
        r#"{{"dicom-uid": "{U1}", "level": "study", "method": "get", "token-value": "{token}""#
    );
    for (auth, content_type, want) in [
        (None, "application/json", 401),
        (Some(basic("share-user", "nope")), "application/json", 401),
        (
            Some(basic("share-user", "change-me")),
            "application/json",
            422,
        ),
        (Some(basic("share-user", "change-me")), "text/plain", 422),
    ] {
        let mut req = app
            .client
            .post(app.url("/tokens/validate"))
            .header("Content-Type", content_type)
            .body(secret_body.clone());
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let res = req.send().await.unwrap();
        if want == 401 {
            assert_eq!(res.headers()["www-authenticate"], "Basic");
        }
        let (status, answer) = status_json(res).await;
        assert_eq!(status, want, "{answer}");
        assert_no_token_in(status, &answer);
    }
}

#[tokio::test]
async fn every_route_but_health_needs_basic_credentials() {
    let app = spawn_app(&[]).await;
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    for (method, path) in [
        ("PUT", "/tokens/viewer-instant-link"),
        ("POST", "/tokens/validate"),
        ("POST", "/tokens/decode"),
    ] {
        for auth in [
            None,
            Some(basic("share-user", "wrong")),
            Some("Bearer change-me".to_owned()),
        ] {
            let mut req = app
                .client
                .request(method.parse().unwrap(), app.url(path))
                .json(&json!({}));
            if let Some(a) = &auth {
                req = req.header("Authorization", a);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path} {auth:?}");
            assert_eq!(res.headers()["www-authenticate"], "Basic");
        }
    }
}

#[tokio::test]
async fn unknown_routes_methods_and_trailing_slashes_answer_like_fastapi() {
    let app = spawn_app(&[]).await;
    let res = app
        .client
        .get(app.url("/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_json(res).await,
        (404, json!({"detail": "Not Found"}))
    );
    let res = app
        .client
        .get(app.url("/tokens/validate"))
        .header("Authorization", basic("share-user", "change-me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "POST");
    assert_eq!(
        status_json(res).await,
        (405, json!({"detail": "Method Not Allowed"}))
    );
    let res = app
        .client
        .post(app.url("/tokens/validate/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 307);
    assert_eq!(res.headers()["location"], "/tokens/validate");
}

#[tokio::test]
async fn the_trailing_slash_redirect_never_leaves_the_host() {
    let app = spawn_app(&[]).await;
    for path in [
        "//evil.example/",
        "//evil.example/x/",
        "/\\evil.example/",
        "///evil.example/",
        "///",
    ] {
        let (status, answer) = raw_get(&app, path, None).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert!(
            !answer.to_ascii_lowercase().contains("location:"),
            "{path}: {answer}"
        );
    }
    let (status, answer) = raw_get(&app, "/a//b/?q=1", None).await;
    assert_eq!(status, 307, "{answer}");
    assert!(answer.contains("location: /a//b?q=1\r\n"), "{answer}");
}
