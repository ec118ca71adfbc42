//! Confirm mode: a page with what is shared and a button (a form POST); nothing is asked of
//! auth-service, and so nothing of MedDream, until the button is pressed.
use meddream_bridge::double::MeddreamDouble;

use crate::helpers::*;

#[tokio::test]
async fn the_confirm_page_shows_the_share_and_asks_nothing_until_the_button_is_pressed() {
    let meddream = MeddreamDouble::start().await;
    let meddream_url = meddream.url().to_string();
    let auth = spawn_auth(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &meddream_url),
        ("PUBLIC_MEDDREAM_ROOT", "http://viewer.test/meddream/"),
    ])
    .await;
    let landing = spawn_landing(&auth.url, &[("LANDING_CONFIRM", "true")]).await;

    // A link scanner opening it: a page, no MedDream token minted.
    let page = landing.open(PROTOCOL_MEDDREAM).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .text()
        .contains("<h1 id=\"heading\">Images shared with you</h1>"));
    assert!(page.text().contains("1 study is shared."));
    assert!(page.text().contains("The link has no expiry date."));
    assert!(page
        .body
        .contains("<form method=\"post\" class=\"actions\">"));
    assert!(page
        .body
        .contains("<button type=\"submit\" class=\"button\">Open the viewer</button>"));
    assert!(!page.body.contains(PROTOCOL_MEDDREAM));
    assert!(!page.body.contains("<script"));
    assert!(
        meddream.calls().is_empty(),
        "the page minted a MedDream token"
    );

    // The button: one decode, one MedDream token, 303 to the viewer.
    let page = landing.press_open(PROTOCOL_MEDDREAM).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.header("location").starts_with(
        "http://viewer.test/meddream/?study=1.2.276.0.37.1.322.201502.11033927&token=mdt-"
    ));
    assert_eq!(meddream.calls().len(), 1);
}

#[tokio::test]
async fn confirm_mode_counts_studies_in_french_and_refuses_bad_links_at_once() {
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(
        &auth.url,
        &[
            ("LANDING_CONFIRM", "yes"),
            ("LANDING_DEFAULT_LANGUAGE", "fr"),
        ],
    )
    .await;
    let token = auth
        .stone(&["1.2", "1.3", "1.4"], Some("2099-03-03T11:00:00Z"))
        .await;
    let page = landing.open(&token).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("3 examens sont partagés."));
    assert!(page
        .text()
        .contains("Le lien fonctionne jusqu'au 3 mars 2099 à 11:00 UTC."));
    assert!(page.body.contains("Ouvrir la visionneuse"));
    let press = landing.press_open(&token).await;
    assert_eq!(press.status, 303);
    assert!(press.header("location").starts_with(ORTHANC_ROOT));

    let expired = auth.stone(&["1.2"], Some("2021-06-01T00:00:00Z")).await;
    assert_refusal(
        &landing.open(&expired).await,
        410,
        "Ce lien a expiré",
        &expired,
    );
    assert_refusal(
        &landing.open("garbage").await,
        400,
        "Ce lien n'est pas valide",
        "",
    );
    // A forged link gets a confirm page from its own claims, but the button checks it.
    let forged = PROTOCOL_STONE.replace("RlB9", "AAAA");
    assert_refusal(
        &landing.press_open(&forged).await,
        400,
        "Ce lien n'est pas valide",
        &forged,
    );
}

#[tokio::test]
async fn confirm_mode_shows_nothing_auth_service_did_not_confirm() {
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(&auth.url, &[("LANDING_CONFIRM", "true")]).await;
    // An empty claim set with any signature: not "0 studies", a link that is not valid.
    let page = landing.open("a.e30.b").await;
    assert_refusal(&page, 400, "This link is not valid", "");
    assert!(!page.text().contains("studies"), "{}", page.body);
    // A payload that chooses its own count and date, signed with another key: the same.
    let forged = forge(
        &serde_json::json!({
            "resources": [{"dicom_uid": "1.2", "level": "study"}, {"dicom_uid": "1.3", "level": "study"}],
            "type": "stone-viewer-publication",
            "expiration_date": "2031-01-01T00:00:00+00:00",
        }),
        "not-the-secret",
    );
    let page = landing.open(&forged).await;
    assert_refusal(&page, 400, "This link is not valid", &forged);
    assert!(!page.text().contains("2031"), "{}", page.body);
    // A forged "expired" claim is not believed either.
    let fake_expired = forge(
        &serde_json::json!({"resources": [], "type": "stone-viewer-publication", "expiration_date": "2001-01-01T00:00:00+00:00"}),
        "not-the-secret",
    );
    let page = landing.open(&fake_expired).await;
    assert_refusal(&page, 400, "This link is not valid", &fake_expired);
    assert!(!page.text().contains("2001"));
}

#[tokio::test]
async fn the_confirm_page_counts_no_use_and_says_at_once_when_a_link_is_used_up() {
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(&auth.url, &[("LANDING_CONFIRM", "true")]).await;
    let token = auth
        .token(
            "stone-viewer-publication",
            serde_json::json!({"resources": [{"dicom-uid": "1.2.3", "level": "study"}], "max-uses": 1}),
        )
        .await;
    for _ in 0..3 {
        let page = landing.open(&token).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.text().contains("1 study is shared."));
    }
    assert_eq!(landing.press_open(&token).await.status, 303);
    // The share counts as used up once an open past its limit was refused (the registry's
    // rule: the visitor of the last allowed open keeps viewing); from then on, at once.
    assert_refusal(
        &landing.press_open(&token).await,
        410,
        "This link has been used up",
        &token,
    );
    assert_refusal(
        &landing.open(&token).await,
        410,
        "This link has been used up",
        &token,
    );
}

/// A JWT with this payload, signed with `secret` (HS256).
fn forge(payload: &serde_json::Value, secret: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let input = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{}",
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}
