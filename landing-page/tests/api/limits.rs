//! How often links open: per link and per visitor address, a 429 page with `Retry-After`, in
//! the visitor's language. Visitors are told apart by the `X-Forwarded-For` of a trusted proxy
//! (loopback is one by default, as the private networks are).
use crate::helpers::*;

async fn open_from(landing: &Landing, token: &str, client: &str, language: &str) -> Page {
    let res = landing
        .client
        .get(landing.link(token))
        .header("X-Forwarded-For", client)
        .header("Accept-Language", language)
        .send()
        .await
        .unwrap();
    Page {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

#[tokio::test]
async fn a_link_opened_too_often_gets_a_429_page_with_retry_after_in_both_languages() {
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(&auth.url, &[("LANDING_LINK_OPENS_PER_MINUTE", "3")]).await;
    let token = auth.stone(&["1.2.3"], None).await;
    // Three visitors open it: fine. A fourth, from yet another address, waits.
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(open_from(&landing, &token, client, "en").await.status, 302);
    }
    let page = open_from(&landing, &token, "198.51.100.4", "en").await;
    assert_refusal(&page, 429, "Opened too often", &token);
    let wait: u64 = page.header("retry-after").parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    assert!(page
        .text()
        .contains("Please wait a minute, then open the link again."));
    assert!(page.body.contains("Try again"));
    let page = open_from(&landing, &token, "198.51.100.5", "fr-FR,fr").await;
    assert_refusal(&page, 429, "Ouvert trop souvent", &token);
    assert!(page
        .text()
        .contains("Veuillez patienter une minute, puis rouvrir le lien."));
    assert!(!page.header("retry-after").is_empty());
    // Another link is not held back.
    let other = auth.stone(&["1.2.4"], None).await;
    assert_eq!(
        open_from(&landing, &other, "198.51.100.4", "en")
            .await
            .status,
        302
    );
}

#[tokio::test]
async fn one_visitor_opening_many_links_is_held_back_alone() {
    let auth = spawn_auth(&[]).await;
    let landing = spawn_landing(&auth.url, &[("LANDING_CLIENT_OPENS_PER_MINUTE", "2")]).await;
    let tokens = [
        auth.stone(&["1.2.1"], None).await,
        auth.stone(&["1.2.2"], None).await,
        auth.stone(&["1.2.3"], None).await,
    ];
    assert_eq!(
        open_from(&landing, &tokens[0], "203.0.113.7", "en")
            .await
            .status,
        302
    );
    assert_eq!(
        open_from(&landing, &tokens[1], "203.0.113.7", "en")
            .await
            .status,
        302
    );
    let page = open_from(&landing, &tokens[2], "203.0.113.7", "en").await;
    assert_refusal(&page, 429, "Opened too often", &tokens[2]);
    assert_eq!(page.header("retry-after"), "30");
    // Another visitor opens the same link.
    assert_eq!(
        open_from(&landing, &tokens[2], "203.0.113.8", "en")
            .await
            .status,
        302
    );
    // A client's own X-Forwarded-For proves nothing when it is not a trusted proxy.
    let untrusting = spawn_landing(
        &auth.url,
        &[
            ("LANDING_CLIENT_OPENS_PER_MINUTE", "1"),
            ("TRUSTED_PROXIES", "10.9.9.9"),
        ],
    )
    .await;
    assert_eq!(
        open_from(&untrusting, &tokens[0], "203.0.113.1", "en")
            .await
            .status,
        302
    );
    let page = open_from(&untrusting, &tokens[0], "203.0.113.2", "en").await;
    assert_eq!(
        page.status, 429,
        "a new address written by the client was believed"
    );
}
