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
