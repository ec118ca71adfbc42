//! Protected links through the landing page, over HTTP as a browser without JavaScript speaks
//! it: the password form (wrong, then right, then the viewer), forms refused without their
//! cookie or token, the locked page in both languages, the code forms through an SMTP stand-in,
//! the gate's `protected` reason, confirm mode, and logs that never hold a password, a code or
//! a token.
use serde_json::{json, Value};

use crate::helpers::*;
use crate::smtp::SmtpStandIn;

pub const LINK_PASSWORD: &str = "Visitor-pass-2468";
pub const LANDING_ROOT: &str = "http://landing.test/";

/// auth-service with protected links (and e-mailed codes through `smtp`, when given).
pub async fn protected_auth(smtp: Option<&SmtpStandIn>) -> Auth {
    protected_auth_with(smtp, &[]).await
}

/// As [`protected_auth`], with more of auth-service's settings.
async fn protected_auth_with(smtp: Option<&SmtpStandIn>, extra: &[(&str, &str)]) -> Auth {
    let port = smtp.map(|s| s.port.to_string());
    let templates = std::env::temp_dir();
    let templates = templates.to_str().unwrap();
    let mut env = vec![("PUBLIC_LANDING_ROOT", LANDING_ROOT)];
    if let Some(port) = &port {
        env.extend([
            ("ENABLE_EMAILS", "true"),
            ("EMAILS_TEMPLATES_ROOT", templates),
            ("EMAILS_SENDER_ADDRESS", "pacs@example.test"),
            ("EMAILS_SMTP_SERVER_HOSTNAME", "127.0.0.1"),
            ("EMAILS_SMTP_SERVER_PORT", port.as_str()),
        ]);
    }
    env.extend_from_slice(extra);
    spawn_auth(&env).await
}

impl Auth {
    /// A Stone publication of study 1.2.3 with this protection.
    pub async fn protected(&self, protection: Value) -> String {
        self.token(
            "stone-viewer-publication",
            json!({"resources": [{"dicom-uid": "1.2.3", "level": "study"}], "validity-duration": 3600, "protection": protection}),
        )
        .await
    }

    /// What auth-service's decode says of a token (attempts left, lock).
    pub async fn decode(&self, token: &str) -> Value {
        reqwest::Client::new()
            .post(format!("{}tokens/decode", self.url))
            .basic_auth(USER, Some(PASSWORD))
            .json(&json!({"token-key": "token", "token-value": token}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A browser without JavaScript: keeps the page's cookie, posts its forms.
pub struct Visitor<'a> {
    landing: &'a Landing,
    cookie: Option<String>,
    language: &'static str,
}

impl<'a> Visitor<'a> {
    pub fn new(landing: &'a Landing, language: &'static str) -> Self {
        Visitor {
            landing,
            cookie: None,
            language,
        }
    }

    fn keep_cookie(&mut self, page: &Page) {
        if let Some(set) = page.headers.get("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(pair);
        }
    }

    pub async fn open(&mut self, token: &str) -> Page {
        let mut req = self
            .landing
            .client
            .get(self.landing.link(token))
            .header("Accept-Language", self.language);
        if let Some(cookie) = &self.cookie {
            req = req.header("Cookie", cookie);
        }
        let page = page_of(req.send().await.unwrap()).await;
        self.keep_cookie(&page);
        page
    }

    /// Posts a form of `page` with `fields` (its CSRF token added).
    pub async fn post(&mut self, token: &str, page: &Page, fields: &[(&str, &str)]) -> Page {
        let form = form_token(page);
        let mut all = vec![("form", form.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(token, &all).await
    }

    pub async fn post_raw(&mut self, token: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = self
            .landing
            .client
            .post(self.landing.link(token))
            .header("Accept-Language", self.language)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = &self.cookie {
            req = req.header("Cookie", cookie);
        }
        let page = page_of(req.send().await.unwrap()).await;
        self.keep_cookie(&page);
        page
    }
}

async fn page_of(res: reqwest::Response) -> Page {
    Page {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

/// The CSRF token of a page's forms.
pub fn form_token(page: &Page) -> String {
    page.body
        .split("name=\"form\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no form token in {}", page.body))
        .to_owned()
}

fn heading(page: &Page) -> String {
    page.text()
        .split("<h1 id=\"heading\">")
        .nth(1)
        .and_then(|rest| rest.split("</h1>").next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_password_link_asks_refuses_a_wrong_password_and_opens_the_viewer_with_the_right_one() {
    let auth = protected_auth(None).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    let token = auth.protected(json!({"password": LINK_PASSWORD})).await;
    let mut visitor = Visitor::new(&landing, "en");
    let form = visitor.open(&token).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(heading(&form), "This link is protected");
    assert!(form
        .body
        .contains(r#"<input id="password" name="password" type="password""#));
    assert!(!form.body.contains(&token), "the page holds the link");
    assert!(!form.body.contains("<script"));
    let cookie = form.header("set-cookie");
    for attribute in [
        "landing-form=",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/",
    ] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    assert_eq!(
        form.header("content-security-policy"),
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    assert_eq!(form.header("cache-control"), "no-store");

    let wrong = visitor
        .post(
            &token,
            &form,
            &[("action", "unlock"), ("password", "not-it-at-all")],
        )
        .await;
    assert_eq!(wrong.status, 200);
    assert!(
        wrong.text().contains(
            "That password is not right. 4 attempts are left before the link locks for 15 minutes."
        ),
        "{}",
        wrong.body
    );
    assert!(
        !wrong.body.contains("not-it-at-all"),
        "the page shows what was typed"
    );

    let opened = visitor
        .post(
            &token,
            &wrong,
            &[("action", "unlock"), ("password", LINK_PASSWORD)],
        )
        .await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let location = opened.header("location");
    assert!(
        location.starts_with(&format!(
            "{ORTHANC_ROOT}stone-webviewer/index.html?study=1.2.3&selectedStudies=1.2.3&token="
        )),
        "{location}"
    );
    let session = location.split("token=").nth(1).unwrap();
    assert_ne!(
        session, token,
        "the viewer gets the session, not the link's token"
    );
    assert_eq!(opened.header("cache-control"), "no-store");
    assert_eq!(opened.header("referrer-policy"), "no-referrer");
    assert!(!opened.body.contains(LINK_PASSWORD));
}

#[tokio::test]
async fn forms_without_their_cookie_or_token_or_made_for_another_link_are_refused_and_count_nothing(
) {
    let auth = protected_auth(None).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    let token = auth.protected(json!({"password": LINK_PASSWORD})).await;
    let other = auth.protected(json!({"password": LINK_PASSWORD})).await;
    let mut visitor = Visitor::new(&landing, "en");
    let form = visitor.open(&token).await;
    let other_form = visitor.open(&other).await;

    // A cross-site post arrives without the page's cookie.
    let mut stranger = Visitor::new(&landing, "en");
    let refused = stranger
        .post(
            &token,
            &form,
            &[("action", "unlock"), ("password", LINK_PASSWORD)],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.text().contains("This form had expired"),
        "{}",
        refused.body
    );
    // The form of another link, this browser's cookie: refused too.
    let refused = visitor
        .post(
            &token,
            &other_form,
            &[("action", "unlock"), ("password", "guess-number-1")],
        )
        .await;
    assert_eq!(refused.status, 403);
    // No token at all, a forged one.
    for fields in [
        vec![("action", "unlock"), ("password", "guess-number-2")],
        vec![
            ("action", "unlock"),
            ("password", "guess-number-3"),
            ("form", "99999999999.00"),
        ],
    ] {
        assert_eq!(visitor.post_raw(&token, &fields).await.status, 403);
    }
    // An empty field asks again and counts nothing either; an unknown action is refused.
    let empty = visitor
        .post(&token, &form, &[("action", "unlock"), ("password", "  ")])
        .await;
    assert_eq!(empty.status, 200);
    assert!(empty.text().contains("Please type it in the field below."));
    assert_eq!(
        visitor
            .post(&token, &form, &[("action", "delete")])
            .await
            .status,
        400
    );
    assert_eq!(auth.decode(&token).await["protection"]["attempts-left"], 5);
    // The refused forms still carry a fresh token: the visitor goes on from there.
    let again = refused_page_again(&mut visitor, &token).await;
    let opened = visitor
        .post(
            &token,
            &again,
            &[("action", "unlock"), ("password", LINK_PASSWORD)],
        )
        .await;
    assert_eq!(opened.status, 303);
}

async fn refused_page_again(visitor: &mut Visitor<'_>, token: &str) -> Page {
    let page = visitor
        .post_raw(token, &[("action", "unlock"), ("password", "x")])
        .await;
    assert_eq!(page.status, 403);
    page
}

#[tokio::test]
async fn five_wrong_passwords_show_the_locked_page_until_when_in_both_languages() {
    let auth = protected_auth(None).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    let token = auth.protected(json!({"password": LINK_PASSWORD})).await;
    let mut visitor = Visitor::new(&landing, "fr-FR,fr");
    let mut page = visitor.open(&token).await;
    assert_eq!(heading(&page), "Ce lien est protégé");
    for left in (1..=4).rev() {
        page = visitor
            .post(
                &token,
                &page,
                &[("action", "unlock"), ("password", "mauvais-mot")],
            )
            .await;
        let expected = if left == 1 {
            "Il reste un essai".to_owned()
        } else {
            format!("Il reste {left} essais")
        };
        assert!(page.text().contains(&expected), "{}", page.body);
    }
    let locked = visitor
        .post(
            &token,
            &page,
            &[("action", "unlock"), ("password", "mauvais-mot")],
        )
        .await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert_eq!(heading(&locked), "Ce lien est bloqué pour le moment");
    assert!(
        locked.text().contains("Le lien est bloqué jusqu'au "),
        "{}",
        locked.body
    );
    let wait: u64 = locked.header("retry-after").parse().unwrap();
    assert!((890..=900).contains(&wait), "{wait}");
    // Opened again, in English: still locked, the page says until when.
    let mut english = Visitor::new(&landing, "en");
    let again = english.open(&token).await;
    assert_eq!(again.status, 429);
    assert_eq!(heading(&again), "This link is locked for now");
    assert!(
        again.text().contains("The link is locked until "),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn a_code_link_sends_a_code_to_the_address_picked_and_opens_with_it() {
    let smtp = SmtpStandIn::start().await;
    let auth = protected_auth(Some(&smtp)).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    let token = auth
        .protected(json!({"email-code": ["alice@example.test", "bob@example.test"]}))
        .await;
    let mut visitor = Visitor::new(&landing, "en");
    let page = visitor.open(&token).await;
    assert_eq!(page.status, 200);
    assert_eq!(heading(&page), "A code is needed to open this link");
    for address in ["a***@example.test", "b***@example.test"] {
        assert!(page.body.contains(address), "{}", page.body);
    }
    assert!(!page.body.contains("alice@"), "a full address on the page");
    let sent = visitor
        .post(&token, &page, &[("action", "send-code"), ("address", "1")])
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(
        sent.text()
            .contains("A code was sent to b***@example.test. It is valid until "),
        "{}",
        sent.body
    );
    let code = smtp.code_for("bob@example.test");
    assert!(!sent.body.contains(&code));
    let wrong = if code == "111111" { "222222" } else { "111111" };
    let page = visitor
        .post(&token, &sent, &[("action", "unlock"), ("code", wrong)])
        .await;
    assert!(
        page.text()
            .contains("That code is not right. 4 attempts are left"),
        "{}",
        page.body
    );
    let opened = visitor
        .post(&token, &page, &[("action", "unlock"), ("code", &code)])
        .await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    assert!(opened.header("location").starts_with(ORTHANC_ROOT));
    // The code was used: typing it again asks for a new one.
    let mut later = Visitor::new(&landing, "en");
    let form = later.open(&token).await;
    let again = later
        .post(&token, &form, &[("action", "unlock"), ("code", &code)])
        .await;
    assert!(
        again.text().contains("That code is not right"),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn the_gates_protected_reason_and_confirm_mode_lead_to_the_form() {
    let auth = protected_auth(None).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    let page = landing.get("/?reason=protected", Some("en")).await;
    assert_refusal(&page, 403, "This link needs a password or a code", "");
    let confirm = spawn_landing(&auth.url, &[("LANDING_CONFIRM", "true")]).await;
    let token = auth.protected(json!({"password": LINK_PASSWORD})).await;
    let mut visitor = Visitor::new(&confirm, "en");
    let form = visitor.open(&token).await;
    assert_eq!(heading(&form), "This link is protected", "{}", form.body);
    let opened = visitor
        .post(
            &token,
            &form,
            &[("action", "unlock"), ("password", LINK_PASSWORD)],
        )
        .await;
    assert_eq!(opened.status, 303);
    // Plain HTTP set-ups leave Secure out of the form cookie.
    let plain = spawn_landing(&auth.url, &[("LANDING_COOKIE_SECURE", "false")]).await;
    let page = Visitor::new(&plain, "en").open(&token).await;
    assert!(
        !page.header("set-cookie").contains("Secure"),
        "{}",
        page.header("set-cookie")
    );
}

#[tokio::test]
async fn a_link_that_opens_once_e_mailed_says_so_until_then_in_both_languages() {
    let smtp = SmtpStandIn::start().await;
    let auth = protected_auth_with(
        Some(&smtp),
        &[
            ("REQUIRE_LINK_PROTECTION", "true"),
            ("PROTECT_EMAILED_LINKS", "code"),
        ],
    )
    .await;
    let landing = spawn_landing(&auth.url, &[]).await;
    let token = auth.stone(&["1.2.3"], None).await;
    let page = Visitor::new(&landing, "en").open(&token).await;
    assert_refusal(&page, 403, "This link is not open yet", &token);
    assert!(
        page.text().contains("sent to you by e-mail"),
        "{}",
        page.body
    );
    let page = Visitor::new(&landing, "fr").open(&token).await;
    assert_eq!(page.status, 403);
    assert!(
        heading(&page).contains("pas encore ouvert"),
        "{}",
        page.body
    );
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn forms_that_no_page_of_ours_posts_get_a_clear_refusal_and_count_nothing() {
    let auth = protected_auth(None).await;
    let landing = spawn_landing(&auth.url, &[]).await;
    let token = auth.protected(json!({"password": LINK_PASSWORD})).await;
    let mut visitor = Visitor::new(&landing, "en");
    let form = visitor.open(&token).await;
    let odd: [&[(&str, &str)]; 6] = [
        &[("action", "unlock"), ("code", "123456")],
        &[("action", "unlock"), ("password", "guess-1"), ("code", "1")],
        &[("action", "send-code"), ("address", "0")],
        &[("action", "send-code"), ("address", "99999999999999999999")],
        &[("action", "send-code")],
        &[("password", "guess-2")],
    ];
    for fields in odd {
        let page = visitor.post(&token, &form, fields).await;
        assert!(
            [200, 400].contains(&page.status),
            "{fields:?}: {} {}",
            page.status,
            page.body
        );
        assert!(page.headers.get("location").is_none(), "{fields:?}");
        assert!(!page.body.contains(&token), "{fields:?}");
    }
    assert_eq!(auth.decode(&token).await["protection"]["attempts-left"], 5);
}
