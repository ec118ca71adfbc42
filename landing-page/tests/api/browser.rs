//! In a real browser: Debian's Chromium driven through chromedriver (headless, JavaScript
//! disabled), a publication link clicked in a stand-in e-mail, the expiry page, confirm mode,
//! and a PNG screenshot of each page at phone and desktop width under target/landing-screenshots/.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 800);

/// chromedriver on a free loopback port (it picks one and says which); killed on drop.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    fn start(binary: &PathBuf) -> Chromedriver {
        let mut child = Command::new(binary)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let stdout = child.stdout.take().expect("chromedriver stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|p| p.trim_end_matches('.').parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromedriver says which port it listens on");
        Chromedriver { child, port }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session with JavaScript disabled and a fresh profile.
async fn browser(driver: &Chromedriver, profile: &tempfile::TempDir, language: &str) -> Client {
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            ],
            "prefs": {
                "profile.managed_default_content_settings.javascript": 2,
                "intl.accept_languages": language,
            },
        },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("landing-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The current page at phone and desktop width, as NAME-phone.png and NAME-desktop.png.
async fn screenshots(browser: &Client, name: &str) {
    let dir = screenshot_dir();
    for (width_name, (w, h)) in [("phone", PHONE), ("desktop", DESKTOP)] {
        browser.set_window_size(w, h).await.unwrap();
        let png = browser.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(dir.join(format!("{name}-{width_name}.png")), png).unwrap();
    }
    browser.set_window_size(DESKTOP.0, DESKTOP.1).await.unwrap();
}

async fn heading(browser: &Client) -> String {
    browser
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A stand-in viewer (whose script would retitle the page if JavaScript ran) and a stand-in
/// e-mail holding the link.
struct StandIn {
    url: String,
    mail: Arc<Mutex<String>>,
}

/// The landing page as the screenshots show it: with a contact line.
async fn branded_landing(auth_url: &str, orthanc_root: &str) -> Landing {
    spawn_landing(
        auth_url,
        &[
            (
                "LANDING_CONTACT",
                "Questions? Radiology desk, +33 1 23 45 67 89",
            ),
            ("PUBLIC_ORTHANC_ROOT", orthanc_root),
        ],
    )
    .await
}

async fn stand_in() -> StandIn {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    );
    let mail = Arc::new(Mutex::new(String::new()));
    let shared = web::Data::from(Arc::clone(&mail));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .route(
                "/orthanc/stone-webviewer/index.html",
                web::get().to(|| async {
                    HttpResponse::Ok().content_type("text/html").body(
                        "<!DOCTYPE html><title>js-off</title><h1>Stand-in viewer</h1>\
                         <script>document.title = 'js-on'</script>",
                    )
                }),
            )
            .route(
                "/mail",
                web::get().to(|mail: web::Data<Mutex<String>>| async move {
                    let link = mail.lock().unwrap().clone();
                    HttpResponse::Ok().content_type("text/html").body(format!(
                        "<!DOCTYPE html><title>mail</title><p>Your images: <a id=\"link\" href=\"{link}\">open</a></p>"
                    ))
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    StandIn { url, mail }
}

#[tokio::test]
async fn chromium_opens_links_shows_the_pages_and_works_without_javascript() {
    let (Some(_), Some(driver_bin)) = (
        tool(CHROMIUM, "chromium"),
        tool("/usr/bin/chromedriver", "chromium-driver"),
    ) else {
        return;
    };
    let viewer = stand_in().await;
    let orthanc_root = format!("{}orthanc/", viewer.url);
    let auth = spawn_auth(&[("PUBLIC_ORTHANC_ROOT", &orthanc_root)]).await;
    let landing = branded_landing(&auth.url, &orthanc_root).await;
    let confirm = spawn_landing(
        &auth.url,
        &[
            ("LANDING_CONFIRM", "true"),
            ("PUBLIC_ORTHANC_ROOT", &orthanc_root),
        ],
    )
    .await;
    let down = spawn_landing(&closed_port_url(), &[]).await;
    let strict = spawn_landing(
        &auth.url,
        &[
            ("LANDING_LINK_OPENS_PER_MINUTE", "1"),
            ("PUBLIC_ORTHANC_ROOT", &orthanc_root),
        ],
    )
    .await;
    let driver = Chromedriver::start(&driver_bin);
    let profile = tempfile::tempdir().unwrap();
    let b = browser(&driver, &profile, "en-GB,en").await;

    // A publication link clicked in an e-mail arrives at the viewer, JavaScript off.
    let token = auth.stone(&["1.2.3"], None).await;
    *viewer.mail.lock().unwrap() = landing.link(&token);
    b.goto(&format!("{}mail", viewer.url)).await.unwrap();
    b.find(Locator::Id("link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_url(&url::Url::parse(&format!("{orthanc_root}stone-webviewer/index.html?study=1.2.3&selectedStudies=1.2.3&token={token}")).unwrap())
        .await
        .unwrap();
    assert_eq!(heading(&b).await, "Stand-in viewer");
    assert_eq!(b.title().await.unwrap(), "js-off", "JavaScript ran");

    // The expiry page.
    let past = auth.stone(&["1.2.3"], Some("2025-03-03T11:00:00Z")).await;
    b.goto(&landing.link(&past)).await.unwrap();
    assert_eq!(heading(&b).await, "This link has expired");
    let text = b
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("This link expired on 3 March 2025, 11:00 UTC."),
        "{text}"
    );
    screenshots(&b, "expired").await;

    // Confirm mode: the button opens the viewer.
    let shared = auth
        .stone(&["1.2.3", "1.2.4"], Some("2099-03-03T11:00:00Z"))
        .await;
    b.goto(&confirm.link(&shared)).await.unwrap();
    assert_eq!(heading(&b).await, "Images shared with you");
    screenshots(&b, "confirm").await;
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::XPath("//h1[text()='Stand-in viewer']"))
        .await
        .unwrap();
    assert!(b
        .current_url()
        .await
        .unwrap()
        .as_str()
        .starts_with(&format!(
            "{orthanc_root}stone-webviewer/index.html?study=1.2.3,1.2.4"
        )));

    // The other pages, for the eye. The strict page's one open a minute is taken first.
    assert_eq!(strict.open(&token).await.status, 302);
    for (name, url, expected) in [
        (
            "invalid",
            landing.link("not-a-token"),
            "This link is not valid",
        ),
        (
            "no-link",
            format!("{}/", landing.address),
            "No link to open",
        ),
        (
            "revoked",
            format!("{}/?reason=revoked", landing.address),
            "This link was withdrawn",
        ),
        (
            "forbidden",
            format!("{}/?reason=forbidden", landing.address),
            "This link does not open these images",
        ),
        ("unavailable", down.link("a.b.c"), "Temporarily unavailable"),
        // Opened once already (below), so the second open waits.
        ("too-many-opens", strict.link(&token), "Opened too often"),
    ] {
        b.goto(&url).await.unwrap();
        assert_eq!(heading(&b).await, expected, "{name}");
        screenshots(&b, name).await;
    }
    b.close().await.unwrap();

    // In French, as the browser asks.
    let profile = tempfile::tempdir().unwrap();
    let fr = browser(&driver, &profile, "fr-FR,fr").await;
    fr.goto(&landing.link(&past)).await.unwrap();
    assert_eq!(heading(&fr).await, "Ce lien a expiré");
    screenshots(&fr, "expired-fr").await;
    fr.close().await.unwrap();
}

/// Waits for a page whose `h1` says `text`.
/// Waits for the page's notice of `tone` (`error`, `info`), then checks what the page says.
async fn wait_for_notice(browser: &Client, tone: &str, text: &str) {
    browser
        .wait()
        .for_element(Locator::Css(&format!("p.notice.{tone}")))
        .await
        .unwrap();
    let shown = main_text(browser).await;
    assert!(shown.contains(text), "{shown}");
}

async fn wait_for_heading(browser: &Client, text: &str) {
    browser
        .wait()
        .for_element(Locator::XPath(&format!("//h1[text()=\"{text}\"]")))
        .await
        .unwrap_or_else(|e| panic!("no heading {text:?}: {e}"));
}

async fn type_and_submit(browser: &Client, field: &str, text: &str) {
    let input = browser.find(Locator::Css(field)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
    let form = browser
        .find(Locator::XPath(&format!(
            "//input[@id='{}']/ancestor::form",
            field.trim_start_matches('#')
        )))
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn main_text(browser: &Client) -> String {
    browser
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn chromium_opens_protected_links_with_a_password_or_an_e_mailed_code() {
    let (Some(_), Some(driver_bin)) = (
        tool(CHROMIUM, "chromium"),
        tool("/usr/bin/chromedriver", "chromium-driver"),
    ) else {
        return;
    };
    let viewer = stand_in().await;
    let orthanc_root = format!("{}orthanc/", viewer.url);
    let smtp = crate::smtp::SmtpStandIn::start().await;
    let smtp_port = smtp.port.to_string();
    let templates = tempfile::tempdir().unwrap();
    let auth = spawn_auth(&[
        ("PUBLIC_ORTHANC_ROOT", &orthanc_root),
        ("PUBLIC_LANDING_ROOT", "http://landing.test/"),
        ("ENABLE_EMAILS", "true"),
        ("EMAILS_TEMPLATES_ROOT", templates.path().to_str().unwrap()),
        ("EMAILS_SENDER_ADDRESS", "pacs@example.test"),
        ("EMAILS_SMTP_SERVER_HOSTNAME", "127.0.0.1"),
        ("EMAILS_SMTP_SERVER_PORT", &smtp_port),
    ])
    .await;
    let landing = branded_landing(&auth.url, &orthanc_root).await;
    let driver = Chromedriver::start(&driver_bin);
    let profile = tempfile::tempdir().unwrap();
    let b = browser(&driver, &profile, "en-GB,en").await;
    let viewer_prefix = format!(
        "{orthanc_root}stone-webviewer/index.html?study=1.2.3&selectedStudies=1.2.3&token="
    );

    // A password link clicked in an e-mail: the form, a wrong password, the right one, the viewer.
    let password_link = auth
        .protected(json!({"password": crate::protected::LINK_PASSWORD}))
        .await;
    *viewer.mail.lock().unwrap() = landing.link(&password_link);
    b.goto(&format!("{}mail", viewer.url)).await.unwrap();
    b.find(Locator::Id("link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_heading(&b, "This link is protected").await;
    screenshots(&b, "password").await;
    type_and_submit(&b, "#password", "not-the-password").await;
    wait_for_notice(
        &b,
        "error",
        "That password is not right. 4 attempts are left",
    )
    .await;
    screenshots(&b, "password-wrong").await;
    type_and_submit(&b, "#password", crate::protected::LINK_PASSWORD).await;
    wait_for_heading(&b, "Stand-in viewer").await;
    let url = b.current_url().await.unwrap().to_string();
    assert!(url.starts_with(&viewer_prefix), "{url}");
    assert!(
        !url.ends_with(&password_link),
        "the viewer got the session, not the link"
    );
    assert_eq!(b.title().await.unwrap(), "js-off", "JavaScript ran");

    // A code link: ask for the code, read it from the e-mail, type it, the viewer.
    let code_link = auth
        .protected(json!({"email-code": ["alice@example.test", "bob@example.test"]}))
        .await;
    b.goto(&landing.link(&code_link)).await.unwrap();
    wait_for_heading(&b, "A code is needed to open this link").await;
    screenshots(&b, "code").await;
    b.find(Locator::XPath("//button[text()='Send me a code']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_notice(&b, "info", "A code was sent to a***@example.test.").await;
    screenshots(&b, "code-sent").await;
    let code = smtp.code_for("alice@example.test");
    type_and_submit(&b, "#code", &code).await;
    wait_for_heading(&b, "Stand-in viewer").await;
    let url = b.current_url().await.unwrap().to_string();
    assert!(url.starts_with(&viewer_prefix), "{url}");

    // A link locked by five wrong passwords says until when.
    let locked = auth
        .protected(json!({"password": crate::protected::LINK_PASSWORD}))
        .await;
    b.goto(&landing.link(&locked)).await.unwrap();
    for left in (1..=4).rev() {
        type_and_submit(&b, "#password", "guess-guess").await;
        let said = if left == 1 {
            "One attempt is left".to_owned()
        } else {
            format!("{left} attempts are left")
        };
        b.wait()
            .for_element(Locator::XPath(&format!(
                "//p[contains(@class, 'notice') and contains(text(), '{said}')]"
            )))
            .await
            .unwrap();
    }
    type_and_submit(&b, "#password", "guess-guess").await;
    wait_for_heading(&b, "This link is locked for now").await;
    screenshots(&b, "locked").await;
    b.close().await.unwrap();

    // In French.
    let profile = tempfile::tempdir().unwrap();
    let fr = browser(&driver, &profile, "fr-FR,fr").await;
    fr.goto(&landing.link(&password_link)).await.unwrap();
    wait_for_heading(&fr, "Ce lien est protégé").await;
    screenshots(&fr, "password-fr").await;
    fr.goto(&landing.link(&code_link)).await.unwrap();
    wait_for_heading(&fr, "Un code est nécessaire pour ouvrir ce lien").await;
    screenshots(&fr, "code-fr").await;
    fr.close().await.unwrap();
}
