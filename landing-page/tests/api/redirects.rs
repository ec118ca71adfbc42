//! The page sends visitors only to the viewers' origins the deployment gave it (or, given none,
//! to the host they reached the page on), whatever auth-service answers.
use auth_client::double::{
    AuthServiceDouble, Behaviour, PASSWORD as DOUBLE_PASSWORD, USER as DOUBLE_USER,
};
use auth_wire::DecodeResponse;

use crate::helpers::*;

fn redirect_to(url: &str) -> Behaviour {
    Behaviour::Answer(DecodeResponse {
        token_type: Some("stone-viewer-publication".into()),
        error_code: None,
        redirect_url: Some(url.into()),
        resources: vec![],
        protection: None,
    })
}

async fn landing_on(double: &AuthServiceDouble, env: &[(&str, &str)]) -> Landing {
    let mut all = vec![
        ("AUTH_SERVICE_USER", DOUBLE_USER),
        ("AUTH_SERVICE_PASSWORD", DOUBLE_PASSWORD),
    ];
    all.extend_from_slice(env);
    spawn_landing(double.url().as_str(), &all).await
}

#[tokio::test]
async fn a_stand_in_auth_service_cannot_send_visitors_off_site() {
    let double = AuthServiceDouble::start().await;
    let landing = landing_on(&double, &[]).await;
    for evil in [
        "https://evil.example/",
        "http:\\\\evil.example/",
        "https://viewer.test@evil.example/orthanc/",
        "https://viewer.test.evil.example/orthanc/",
        "//evil.example/",
        "javascript:alert(1)",
    ] {
        double.set_behaviour(redirect_to(evil));
        let page = landing.open("h.p.s").await;
        assert_refusal(&page, 503, "Temporarily unavailable", "h.p.s");
        assert_eq!(page.header("location"), "", "{evil}");
        assert!(!page.body.contains("evil"), "{evil}");
    }
    // The configured root's origin opens, as written.
    let viewer = format!("{ORTHANC_ROOT}stone-webviewer/index.html?study=1.2&token=h.p.s");
    double.set_behaviour(redirect_to(&viewer));
    let page = landing.open("h.p.s").await;
    assert_eq!(
        (page.status, page.header("location")),
        (302, viewer.as_str())
    );
}

#[tokio::test]
async fn without_configured_roots_only_the_pages_own_host_is_a_destination() {
    let double = AuthServiceDouble::start().await;
    // An empty value counts as unset: no viewer root told to the page.
    let landing = landing_on(&double, &[("PUBLIC_ORTHANC_ROOT", "")]).await;
    double.set_behaviour(redirect_to(
        "https://pacs.example.test/orthanc/x?token=h.p.s",
    ));
    let from = |host: &'static str| {
        let landing = &landing;
        async move {
            landing
                .client
                .get(landing.link("h.p.s"))
                .header("Host", host)
                .send()
                .await
                .unwrap()
        }
    };
    // Behind nginx, Host is the public one (proxy_set_header Host $http_host).
    let res = from("pacs.example.test").await;
    assert_eq!(res.status(), 302);
    assert_eq!(
        res.headers()["location"],
        "https://pacs.example.test/orthanc/x?token=h.p.s"
    );
    assert_eq!(from("other.example.test").await.status(), 503);
    double.set_behaviour(redirect_to("http:\\\\evil.example/"));
    assert_eq!(from("pacs.example.test").await.status(), 503);
}
