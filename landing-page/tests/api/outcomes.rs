//! Each outcome of opening a link, through the real auth-service: the redirect, and a page with
//! a fitting status for everything else. No page shows the token.
use auth_client::double::{
    AuthServiceDouble, Behaviour, PASSWORD as DOUBLE_PASSWORD, USER as DOUBLE_USER,
};
use auth_wire::{DecodeErrorCode, DecodeResponse};
use meddream_bridge::double::{Behaviour as MeddreamBehaviour, MeddreamDouble};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_valid_publication_redirects_to_the_viewer_uncached_and_without_referrer() {
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    let token = auth.stone(&["1.2.3", "4.5.6"], None).await;
    let page = landing.open(&token).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(
        page.header("location"),
        format!(
            "{ORTHANC_ROOT}stone-webviewer/index.html?study=1.2.3,4.5.6&selectedStudies=1.2.3,4.5.6&token={token}"
        )
    );
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert!(!page.body.contains(&token));
}

#[tokio::test]
async fn an_expired_link_says_when_in_the_visitors_language() {
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    let token = auth
        .stone(&["1.2.3"], Some("2020-01-01T09:30:00+01:00"))
        .await;
    let page = landing
        .get(&format!("/?token={token}"), Some("en-GB,en;q=0.8"))
        .await;
    assert_refusal(&page, 410, "This link has expired", &token);
    assert!(page
        .text()
        .contains("This link expired on 1 January 2020, 08:30 UTC."));
    assert!(page
        .text()
        .contains("Ask the person who sent it for a new one."));
    assert!(page.body.contains("<html lang=\"en\">"));
    let page = landing
        .get(&format!("/?token={token}"), Some("fr-CA,fr;q=0.9,en;q=0.5"))
        .await;
    assert_refusal(&page, 410, "Ce lien a expiré", &token);
    assert!(page
        .text()
        .contains("Ce lien a expiré le 1 janvier 2020 à 08:30 UTC."));
    assert!(page.body.contains("<html lang=\"fr\">"));
    assert_eq!(page.header("vary"), "Accept-Language");
}

#[tokio::test]
async fn the_protocol_tokens_open_or_are_refused_as_their_key_and_services_decide() {
    // The first token's key is not this auth-service's: its signature does not verify.
    let meddream = MeddreamDouble::start().await;
    let meddream_url = meddream.url().to_string();
    let auth = spawn_auth(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &meddream_url),
        ("PUBLIC_MEDDREAM_ROOT", "http://viewer.test/meddream/"),
        ("PUBLIC_LANDING_ROOT", "http://landing.test/share/"),
        ("MEDDREAM_TIMEOUT_SECONDS", "0.5"),
        // Each open asks MedDream, so its failure below shows.
        ("MEDDREAM_LINK_REUSE_SECONDS", "0"),
    ])
    .await;
    let landing = spawn_landing(&auth.url, &[]).await;
    assert_refusal(
        &landing.open(PROTOCOL_STONE).await,
        400,
        "This link is not valid",
        PROTOCOL_STONE,
    );

    // The second opens MedDream with a token minted now, for its study.
    let page = landing.open(PROTOCOL_MEDDREAM).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let uid = "1.2.276.0.37.1.322.201502.11033927";
    assert_eq!(
        page.header("location"),
        format!(
            "http://viewer.test/meddream/?study={uid}&token={}",
            MeddreamDouble::token_for(&[uid])
        )
    );
    assert_eq!(meddream.calls().len(), 1);

    // MedDream failing: its own page, 502, with retry advice.
    meddream.set_behaviour(MeddreamBehaviour::Status(500));
    let page = landing.open(PROTOCOL_MEDDREAM).await;
    assert_refusal(
        &page,
        502,
        "The viewer could not be prepared",
        PROTOCOL_MEDDREAM,
    );
    assert!(page
        .body
        .contains("<a class=\"button\" href=\"\">Try again</a>"));
    assert_eq!(page.header("retry-after"), "60");
}

#[tokio::test]
async fn a_publication_whose_viewer_is_not_configured_says_so() {
    // The MedDream publication, on an auth-service without MedDream.
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    assert_refusal(
        &landing.open(PROTOCOL_MEDDREAM).await,
        404,
        "The viewer is not available",
        PROTOCOL_MEDDREAM,
    );
    // An OHIF share made where OHIF is configured, opened where it is not.
    let with_ohif = spawn_auth(&[("PUBLIC_OHIF_ROOT", "http://ohif.test/")]).await;
    let token = with_ohif
        .token(
            "ohif-viewer-publication",
            json!({"resources": [{"dicom-uid": "1.2", "level": "study"}]}),
        )
        .await;
    assert_refusal(
        &landing.open(&token).await,
        404,
        "The viewer is not available",
        &token,
    );
}

#[tokio::test]
async fn invalid_links_and_instant_links_are_refused_with_400() {
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    for garbage in ["not-a-token", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        assert_refusal(
            &landing.open(garbage).await,
            400,
            "This link is not valid",
            "",
        );
    }
    let oversized = "x".repeat(20_000);
    assert_refusal(
        &landing.open(&oversized).await,
        400,
        "This link is not valid",
        "",
    );
    let instant = auth
        .token(
            "viewer-instant-link",
            json!({"resources": [{"dicom-uid": "1.2", "level": "study"}]}),
        )
        .await;
    assert_refusal(
        &landing.open(&instant).await,
        400,
        "This link cannot be opened here",
        &instant,
    );
}

#[tokio::test]
async fn no_token_is_404_and_the_gate_reasons_render_the_same_pages() {
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    assert_refusal(&landing.get("/", None).await, 404, "No link to open", "");
    assert_refusal(
        &landing.get("/?token=", None).await,
        404,
        "No link to open",
        "",
    );
    let cases = [
        ("missing", 404, "No link to open"),
        ("invalid", 400, "This link is not valid"),
        ("expired", 410, "This link has expired"),
        ("revoked", 410, "This link was withdrawn"),
        ("used-up", 410, "This link has been used up"),
        ("forbidden", 403, "This link does not open these images"),
        ("<script>", 400, "This link is not valid"),
    ];
    for (reason, status, heading) in cases {
        let page = landing.get(&format!("/?reason={reason}"), None).await;
        assert_refusal(&page, status, heading, "");
        assert!(!page.body.contains("<script>"));
    }
    let page = landing.get("/?reason=expired", None).await;
    assert!(page.text().contains("This link is past its expiry date."));
}

#[tokio::test]
async fn revoked_and_used_up_answers_have_their_pages() {
    let double = AuthServiceDouble::start().await;
    let landing = spawn_landing(
        double.url().as_str(),
        &[
            ("AUTH_SERVICE_USER", DOUBLE_USER),
            ("AUTH_SERVICE_PASSWORD", DOUBLE_PASSWORD),
        ],
    )
    .await;
    for (code, status, heading) in [
        (DecodeErrorCode::Revoked, 410, "This link was withdrawn"),
        (DecodeErrorCode::UsedUp, 410, "This link has been used up"),
    ] {
        double.set_behaviour(Behaviour::Answer(DecodeResponse {
            token_type: Some("stone-viewer-publication".into()),
            error_code: Some(code),
            redirect_url: None,
            resources: vec![],
            protection: None,
        }));
        assert_refusal(&landing.open("h.p.s").await, status, heading, "h.p.s");
    }
    assert_eq!(double.decoded(), vec!["h.p.s", "h.p.s"]);
}

#[tokio::test]
async fn auth_service_down_failing_or_refusing_our_credentials_is_503_with_retry_advice() {
    let closed = closed_port_url();
    let landing = spawn_landing(&closed, &[]).await;
    let page = landing.open("h.p.s").await;
    assert_refusal(&page, 503, "Temporarily unavailable", "h.p.s");
    assert_eq!(page.header("retry-after"), "60");
    assert!(page.text().contains("Try again"));

    let auth = spawn_auth(&[]).await;
    let wrong = spawn_landing(&auth.url, &[("AUTH_SERVICE_PASSWORD", "wrong")]).await;
    assert_refusal(
        &wrong.open("h.p.s").await,
        503,
        "Temporarily unavailable",
        "h.p.s",
    );

    let double = AuthServiceDouble::start().await;
    let landing = spawn_landing(
        double.url().as_str(),
        &[
            ("AUTH_SERVICE_USER", DOUBLE_USER),
            ("AUTH_SERVICE_PASSWORD", DOUBLE_PASSWORD),
            ("AUTH_SERVICE_TIMEOUT_SECONDS", "0.3"),
        ],
    )
    .await;
    for behaviour in [
        Behaviour::Status(500),
        Behaviour::Garbage,
        Behaviour::Oversized,
        Behaviour::Hang,
    ] {
        double.set_behaviour(behaviour.clone());
        let page = landing.open("h.p.s").await;
        assert_refusal(&page, 503, "Temporarily unavailable", "h.p.s");
    }
    // A redirect that is not a web address never leaves the page.
    double.set_behaviour(Behaviour::Answer(DecodeResponse {
        token_type: Some("stone-viewer-publication".into()),
        error_code: None,
        redirect_url: Some("javascript:alert(1)".into()),
        resources: vec![],
        protection: None,
    }));
    assert_refusal(
        &landing.open("h.p.s").await,
        503,
        "Temporarily unavailable",
        "h.p.s",
    );
}
