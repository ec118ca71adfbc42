//! What every answer carries: strict headers, the embedded style sheet, health, unknown paths.
use crate::helpers::*;

#[tokio::test]
async fn pages_carry_a_strict_policy_and_the_style_sheet_is_served_from_the_binary() {
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(
        &auth.url,
        &[
            ("LANDING_SITE_NAME", "CHU Exemple"),
            ("LANDING_CONTACT", "Radiology desk: +33 1 23 45 67 89"),
        ],
    )
    .await;
    let page = landing.get("/?reason=expired", None).await;
    let csp = page.header("content-security-policy");
    assert_eq!(
        csp,
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    // No inline script or style anywhere: the CSP would block them.
    for forbidden in [
        "<script",
        "style=",
        "<style",
        "onclick",
        "onload",
        "javascript:",
    ] {
        assert!(
            !page.body.contains(forbidden),
            "{forbidden} in {}",
            page.body
        );
    }
    assert!(page
        .body
        .contains("<title>This link has expired · CHU Exemple</title>"));
    assert!(page.body.contains("Radiology desk: +33 1 23 45 67 89"));
    let href = page
        .body
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(href.starts_with("landing.css?v="), "{href}");
    let css = landing.get(&format!("/{href}"), None).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), "text/css; charset=utf-8");
    assert_eq!(css.header("cache-control"), "public, max-age=604800");
    assert!(css.body.contains(":focus-visible"));
}

#[tokio::test]
async fn health_unknown_paths_and_methods() {
    let landing = spawn_landing(&closed_port_url(), &[]).await;
    let health = landing.get("/health", None).await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );
    assert_refusal(&landing.get("/nope", None).await, 404, "Page not found", "");
    let res = landing
        .client
        .put(format!("{}/", landing.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn a_logo_from_another_origin_is_allowed_by_the_policy_and_shown() {
    let landing = spawn_landing(
        &closed_port_url(),
        &[("LANDING_LOGO_URL", "https://cdn.example.org/logo.svg")],
    )
    .await;
    let page = landing.get("/", Some("fr")).await;
    assert!(page
        .header("content-security-policy")
        .contains("img-src 'self' https://cdn.example.org;"));
    assert!(page
        .body
        .contains("<img class=\"logo\" src=\"https://cdn.example.org/logo.svg\" alt=\"\">"));
    assert!(page
        .text()
        .contains("<title>Aucun lien à ouvrir · Images médicales partagées</title>"));
}
