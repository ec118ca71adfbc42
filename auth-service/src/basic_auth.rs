//! HTTP Basic authentication of callers (the Orthanc plugin, OE2, the landing page) against `USERS`.
use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderValue, AUTHORIZATION};
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::{DecodeSliceError, Engine};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::settings::Users;
use crate::throttle::LoginThrottle;

/// The accounts, kept as SHA-256 digests of `user:password` so every comparison takes the same
/// time whatever the lengths, and the passwords are not held in clear after start.
pub struct BasicCredentials {
    accounts: Vec<(Arc<str>, [u8; 32])>,
}

/// `user:password` pairs up to this size are decoded without allocating; longer ones still work.
const INLINE_PAIR_BYTES: usize = 256;

impl BasicCredentials {
    pub fn new(users: &Users) -> Self {
        let accounts = users
            .0
            .iter()
            .map(|(user, password)| {
                (
                    Arc::from(user.as_str()),
                    digest(&[user.as_bytes(), b":", password.expose_secret().as_bytes()]),
                )
            })
            .collect();
        BasicCredentials { accounts }
    }

    /// The Python service's answers: no header, another scheme, bad base64 or no colon is
    /// "Not authenticated"; a well-formed pair that matches no account is "Incorrect ...".
    pub fn check(&self, header: Option<&HeaderValue>) -> Result<Caller, Error> {
        let header = header
            .and_then(|h| h.to_str().ok())
            .ok_or(Error::NotAuthenticated)?;
        let (scheme, encoded) = header
            .trim()
            .split_once(' ')
            .ok_or(Error::NotAuthenticated)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Error::NotAuthenticated);
        }
        // Decoded on the stack: the plugin sends this header with every request.
        let encoded = encoded.trim().as_bytes();
        let mut inline = [0u8; INLINE_PAIR_BYTES];
        let on_heap;
        let pair = match STANDARD.decode_slice(encoded, &mut inline) {
            Ok(len) => &inline[..len],
            Err(DecodeSliceError::OutputSliceTooSmall) => {
                on_heap = STANDARD
                    .decode(encoded)
                    .map_err(|_| Error::NotAuthenticated)?;
                on_heap.as_slice()
            }
            Err(DecodeSliceError::DecodeError(_)) => return Err(Error::NotAuthenticated),
        };
        let pair = std::str::from_utf8(pair).map_err(|_| Error::NotAuthenticated)?;
        if !pair.contains(':') {
            return Err(Error::NotAuthenticated);
        }
        // The whole `user:password` text: the same bytes the accounts' digests were made of.
        let presented = digest(&[pair.as_bytes()]);
        let mut found: Option<&Arc<str>> = None;
        for (name, expected) in &self.accounts {
            // Look at every account: the time taken must not say which one matched.
            if bool::from(presented.ct_eq(expected)) {
                found = Some(name);
            }
        }
        found
            .map(|name| Caller { user: name.clone() })
            .ok_or(Error::BadCredentials)
    }
}

/// SHA-256 of the parts, in order: `user`, `:`, `password` at start; the presented pair whole.
fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// An authenticated caller. Taking it as the first handler argument makes authentication happen
/// before the body is read, so a stranger learns nothing about the body rules.
///
/// Extracting it runs two steps, in order: [`BasicCredentials::check`] (who is this?) then
/// [`LoginThrottle::judge`] (may this client address try now?), which counts failed logins and
/// may turn any answer into a 429. Every route taking a `Caller` is throttled so; the others
/// (`/health`, `/ready`) never count a login.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: Arc<str>,
}

impl FromRequest for Caller {
    type Error = Error;
    type Future = Ready<Result<Caller, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(credentials) = req.app_data::<web::Data<BasicCredentials>>() else {
            return ready(Err(Error::Unexpected(anyhow::anyhow!(
                "basic credentials are not configured"
            ))));
        };
        let checked = credentials.check(req.headers().get(AUTHORIZATION));
        ready(match req.app_data::<web::Data<LoginThrottle>>() {
            Some(throttle) => {
                throttle.judge(req.peer_addr().map(|a| a.ip()), req.headers(), checked)
            }
            None => checked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn creds() -> BasicCredentials {
        BasicCredentials::new(&Users(vec![
            ("share-user".into(), SecretString::from("change-me")),
            (
                "orthanc".into(),
                SecretString::from("p@ss:word with spaces"),
            ),
        ]))
    }
    fn check(h: &str) -> String {
        match creds().check(Some(
            &HeaderValue::from_str(h).unwrap_or(HeaderValue::from_static("x")),
        )) {
            Ok(c) => format!("ok {}", c.user),
            Err(e) => e.to_string(),
        }
    }
    fn basic(pair: &str) -> String {
        format!("Basic {}", STANDARD.encode(pair))
    }

    #[test]
    fn long_and_non_utf8_pairs_answer_as_short_ones() {
        let long = "p".repeat(3 * INLINE_PAIR_BYTES);
        let creds = BasicCredentials::new(&Users(vec![(
            "long-user".into(),
            SecretString::from(long.as_str()),
        )]));
        let check = |pair: &[u8]| {
            let header = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)));
            match creds.check(header.ok().as_ref()) {
                Ok(c) => format!("ok {}", c.user),
                Err(e) => e.to_string(),
            }
        };
        assert_eq!(
            check(format!("long-user:{long}").as_bytes()),
            "ok long-user"
        );
        assert_eq!(
            check(format!("long-user:{long}x").as_bytes()),
            "Incorrect username or password."
        );
        assert_eq!(check(b"long-user:\xff\xfe"), "Not authenticated");
        assert_eq!(check(&[b'x'; 2 * INLINE_PAIR_BYTES]), "Not authenticated");
    }

    #[test]
    fn answers_like_the_python_service() {
        assert_eq!(check(&basic("share-user:change-me")), "ok share-user");
        assert_eq!(check(&basic("orthanc:p@ss:word with spaces")), "ok orthanc");
        assert_eq!(
            check(&format!(
                "basic {}",
                STANDARD.encode("share-user:change-me")
            )),
            "ok share-user"
        );
        assert_eq!(
            check(&basic("share-user:nope")),
            "Incorrect username or password."
        );
        assert_eq!(
            check(&basic("SHARE-USER:change-me")),
            "Incorrect username or password."
        );
        assert_eq!(
            check(&basic("share-user:")),
            "Incorrect username or password."
        );
        assert_eq!(check(&basic("share-user")), "Not authenticated");
        assert_eq!(check("Basic !!!not-base64!!!"), "Not authenticated");
        assert_eq!(check("Bearer change-me"), "Not authenticated");
        assert_eq!(
            creds().check(None).err().map(|e| e.to_string()),
            Some("Not authenticated".into())
        );
    }
}
