//! What a protected link's forms post, and their CSRF defence. Each form carries a token that
//! binds it to the link (its SHA-256) and to this browser (a random value in an HttpOnly,
//! SameSite=Lax cookie), valid an hour: a form posted from another site arrives without the
//! cookie, and a token taken from one link's page opens no other. The key is derived from
//! `AUTH_SERVICE_PASSWORD`, so every replica of the page checks every other's forms without a
//! setting of its own.
use std::time::Duration;

use actix_web::http::header;
use actix_web::HttpRequest;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie naming this browser.
pub const COOKIE_NAME: &str = "landing-form";
/// How long a form's token is accepted.
pub const FORM_VALIDITY: Duration = Duration::from_secs(3600);

pub struct FormGuard {
    key: Hmac<Sha256>,
    /// `LANDING_COOKIE_SECURE`: the cookie goes over HTTPS only.
    secure: bool,
}

impl FormGuard {
    pub fn new(password: &SecretString, secure: bool) -> FormGuard {
        #[allow(clippy::expect_used)] // HMAC accepts keys of any length
        let mut derive = Hmac::<Sha256>::new_from_slice(password.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        derive.update(b"landing-page form tokens v1");
        #[allow(clippy::expect_used)] // HMAC accepts keys of any length
        let key = Hmac::<Sha256>::new_from_slice(&derive.finalize().into_bytes())
            .expect("HMAC takes any key length");
        FormGuard { key, secure }
    }

    /// This browser's id from its cookie, when it holds one of ours.
    pub fn browser(req: &HttpRequest) -> Option<String> {
        let cookies = req.headers().get(header::COOKIE)?.to_str().ok()?;
        cookies
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE_NAME)
            .map(|(_, value)| value.to_owned())
            .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// A new browser id (128 random bits).
    pub fn new_browser() -> String {
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        hex::encode(id)
    }

    /// The `Set-Cookie` value naming this browser.
    pub fn cookie(&self, browser: &str) -> String {
        format!(
            "{COOKIE_NAME}={browser}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
            FORM_VALIDITY.as_secs() * 24,
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The token of a form for `link` shown to `browser`, valid until `now + FORM_VALIDITY`
    /// (Unix seconds).
    pub fn token(&self, browser: &str, link: &str, now: i64) -> String {
        let expires = now + i64::try_from(FORM_VALIDITY.as_secs()).unwrap_or(3600);
        format!("{expires}.{}", self.mac(browser, link, expires))
    }

    /// Whether `token` was made here for `link` and `browser`, and is still valid.
    pub fn check(&self, browser: &str, link: &str, token: &str, now: i64) -> bool {
        let Some((expires, mac)) = token.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<i64>() else {
            return false;
        };
        let expected = self.mac(browser, link, expires);
        let same: bool = expected.as_bytes().ct_eq(mac.as_bytes()).into();
        same && expires > now
    }

    fn mac(&self, browser: &str, link: &str, expires: i64) -> String {
        let mut mac = self.key.clone();
        mac.update(browser.as_bytes());
        mac.update(b"\0");
        mac.update(&Sha256::digest(link.as_bytes()));
        mac.update(&expires.to_be_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// What a form posted: the action and its fields, each field once (the first), never logged.
#[derive(Default)]
pub struct Posted {
    pub action: Option<String>,
    pub form: Option<String>,
    pub password: Option<SecretString>,
    pub code: Option<SecretString>,
    pub address: Option<usize>,
}

impl Posted {
    /// A form body (`application/x-www-form-urlencoded`); the confirm button's is empty.
    pub fn parse(body: &[u8]) -> Posted {
        let mut posted = Posted::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            match key.as_ref() {
                "action" if posted.action.is_none() => posted.action = Some(value.into_owned()),
                "form" if posted.form.is_none() => posted.form = Some(value.into_owned()),
                "password" if posted.password.is_none() => {
                    posted.password = Some(SecretString::from(value.into_owned()))
                }
                "code" if posted.code.is_none() => {
                    posted.code = Some(SecretString::from(value.into_owned()))
                }
                "address" if posted.address.is_none() => posted.address = value.parse().ok(),
                _ => {}
            }
        }
        posted
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_form_token_holds_for_its_link_browser_and_hour_only() {
        let guard = FormGuard::new(&SecretString::from("pw"), true);
        let other_key = FormGuard::new(&SecretString::from("other"), true);
        let token = guard.token("b1", "link-a", 1_000);
        assert!(guard.check("b1", "link-a", &token, 1_000));
        assert!(guard.check("b1", "link-a", &token, 4_599));
        assert!(!guard.check("b1", "link-a", &token, 4_600), "an hour");
        assert!(
            !guard.check("b2", "link-a", &token, 1_000),
            "another browser"
        );
        assert!(!guard.check("b1", "link-b", &token, 1_000), "another link");
        assert!(
            !other_key.check("b1", "link-a", &token, 1_000),
            "another key"
        );
        let (_, mac) = token.split_once('.').unwrap();
        assert!(
            !guard.check("b1", "link-a", &format!("99999.{mac}"), 1_000),
            "a moved expiry"
        );
        for bad in ["", ".", "x.y", "1000"] {
            assert!(!guard.check("b1", "link-a", bad, 1_000), "{bad}");
        }
        let cookie = guard.cookie("abc");
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Lax")
                && cookie.ends_with("; Secure")
        );
        assert!(!FormGuard::new(&SecretString::from("pw"), false)
            .cookie("abc")
            .contains("Secure"));
        assert_eq!(FormGuard::new_browser().len(), 32);
    }

    #[test]
    fn a_posted_form_reads_its_fields_once_each() {
        let p = Posted::parse(
            b"action=unlock&password=a%26b+c&password=second&form=t.m&address=2&code=12+34",
        );
        assert_eq!(p.action.as_deref(), Some("unlock"));
        assert_eq!(
            p.password.as_ref().map(|s| s.expose_secret().to_owned()),
            Some("a&b c".into())
        );
        assert_eq!(
            p.code.as_ref().map(|s| s.expose_secret().to_owned()),
            Some("12 34".into())
        );
        assert_eq!(p.address, Some(2));
        assert_eq!(p.form.as_deref(), Some("t.m"));
        assert!(Posted::parse(b"").action.is_none());
        assert_eq!(Posted::parse(b"address=-1").address, None);
    }
}
