//! Property tests: the codec round-trips anything and the decode path never panics or grants
//! on arbitrary input.
use auth_service::access::{AccessPolicy, Target};
use auth_service::domain::{Guard, Level, Resource, ShareId, ShareToken, TokenType};
use auth_service::share_token::ShareTokenCodec;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use secrecy::SecretString;

fn codec() -> ShareTokenCodec {
    ShareTokenCodec::new(&SecretString::from("property-secret"))
}

fn policy() -> AccessPolicy {
    AccessPolicy::new(
        codec(),
        None,
        std::sync::Arc::new(auth_service::shares::KnownShares::new()),
        false,
    )
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![
        Just(Level::Patient),
        Just(Level::Study),
        Just(Level::Series),
        Just(Level::Instance),
        Just(Level::System)
    ]
}

fn resource() -> impl Strategy<Value = Resource> {
    (
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        level(),
    )
        .prop_map(|(dicom_uid, orthanc_id, url, level)| Resource {
            dicom_uid,
            orthanc_id,
            url,
            level,
        })
}

/// Plain tokens mostly, and the claims of protected links and of their unlocked sessions.
fn guard() -> impl Strategy<Value = Guard> {
    prop_oneof![
        3 => Just(Guard::Open),
        1 => "[0-9a-f]{32}".prop_map(Guard::Protected),
        1 => any::<String>().prop_map(|t| Guard::Unlocked(ShareId::of_token(&t))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_then_decode_gives_back_the_share(
        id in proptest::option::of(any::<String>()),
        resources in proptest::collection::vec(resource(), 0..5),
        type_index in 0usize..8,
        duration in proptest::option::of(-1_000_000i64..1_000_000),
        guard in guard(),
    ) {
        let token_type = TokenType::ALL[type_index];
        let plain = guard == Guard::Open;
        let share = ShareToken { id, resources, token_type: Some(token_type), expiration_date: None, validity_duration: duration, guard };
        let token = codec().encode(&share, token_type);
        prop_assert_eq!(codec().decode(&token), Ok(share.clone()));
        // Byte layout: PyJWT header, ASCII-only compact payload with keys in the Python order.
        let mut parts = token.split('.');
        prop_assert_eq!(parts.next(), Some("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"));
        let payload = URL_SAFE_NO_PAD.decode(parts.next().unwrap_or("")).unwrap_or_default();
        prop_assert!(payload.is_ascii());
        let text = String::from_utf8(payload).unwrap_or_default();
        prop_assert!(text.starts_with("{\"id\":"), "{}", text);
        let order = ["\"resources\":", "\"type\":", "\"expiration_date\":", "\"validity_duration\":"];
        let positions: Vec<usize> = order.iter().map(|k| text.rfind(k).unwrap_or(0)).collect();
        prop_assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", text);
        // A plain token carries none of our protection claims: its bytes stay the Python
        // service's.
        prop_assert_eq!(plain, !text.contains("\"protected\":") && !text.contains("\"unlocked\":"), "{}", text);
    }

    #[test]
    fn arbitrary_text_never_panics_and_never_grants(token in any::<String>(), uid in any::<String>()) {
        let target = Target { dicom_uid: Some(&uid), ..Target::default() };
        prop_assert!(policy().decide(Some(&token), &target, chrono::Utc::now()).is_err());
    }

    #[test]
    fn arbitrary_jwt_shaped_input_never_grants(h in proptest::collection::vec(any::<u8>(), 0..64), p in proptest::collection::vec(any::<u8>(), 0..256), s in proptest::collection::vec(any::<u8>(), 0..40)) {
        let token = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(p), URL_SAFE_NO_PAD.encode(s));
        let target = Target { dicom_uid: Some("1.2"), orthanc_id: Some("x"), server_id: None, usage: None };
        prop_assert!(policy().decide(Some(&token), &target, chrono::Utc::now()).is_err());
        let _ = codec().decode(&token);
    }
}

/// One random validation: which token (valid, expired by a second, tampered, other secret, not a
/// token at all) and which ids it asks about.
#[derive(Debug, Clone)]
enum TokenKind {
    Valid,
    ExpiredBySecond,
    ExpiresInASecond,
    Tampered(usize),
    OtherSecret,
    Garbage(String),
}

fn token_kind() -> impl Strategy<Value = TokenKind> {
    prop_oneof![
        Just(TokenKind::Valid),
        Just(TokenKind::ExpiredBySecond),
        Just(TokenKind::ExpiresInASecond),
        any::<usize>().prop_map(TokenKind::Tampered),
        Just(TokenKind::OtherSecret),
        any::<String>().prop_map(TokenKind::Garbage),
    ]
}

fn make_token(kind: &TokenKind, uids: &[String], now: chrono::DateTime<chrono::Utc>) -> String {
    let expires = |seconds| auth_service::domain::ExpirationDate::after(now, seconds);
    let share = |expiration_date| ShareToken {
        id: None,
        resources: uids
            .iter()
            .map(|u| Resource {
                dicom_uid: Some(u.clone()),
                orthanc_id: Some(format!("o-{u}")),
                url: None,
                level: Level::Study,
            })
            .collect(),
        token_type: Some(TokenType::StoneViewerPublication),
        expiration_date,
        validity_duration: None,
        guard: Guard::Open,
    };
    let t = TokenType::StoneViewerPublication;
    match kind {
        TokenKind::Valid => codec().encode(&share(None), t),
        TokenKind::ExpiredBySecond => codec().encode(&share(expires(-1)), t),
        TokenKind::ExpiresInASecond => codec().encode(&share(expires(1)), t),
        TokenKind::Tampered(at) => {
            let mut bytes = codec().encode(&share(None), t).into_bytes();
            let at = at % bytes.len();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap_or_default()
        }
        TokenKind::OtherSecret => {
            ShareTokenCodec::new(&SecretString::from("another-secret")).encode(&share(None), t)
        }
        TokenKind::Garbage(text) => text.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The verified-share cache never changes an answer: the same sequence of requests, asked
    /// twice of a cached policy (misses, then hits) and once of an uncached one, at the same
    /// instants, gets the same decisions.
    #[test]
    fn the_verified_share_cache_never_changes_an_answer(
        requests in proptest::collection::vec(
            (token_kind(), proptest::collection::vec("[0-9.]{1,8}", 1..3), "[0-9.]{1,8}", any::<bool>(), 0i64..3),
            1..12,
        ),
    ) {
        let start = chrono::Utc::now();
        let cached = policy();
        let uncached = AccessPolicy::with_cache_bytes(codec(), None, Default::default(), false, 0);
        let cases: Vec<_> = requests
            .iter()
            .map(|(kind, uids, other, ask_shared, later)| {
                let token = make_token(kind, uids, start);
                let asked = if *ask_shared { uids[0].clone() } else { other.clone() };
                (token, asked, start + chrono::Duration::seconds(*later))
            })
            .collect();
        for round in 0..2 {
            for (token, asked, at) in &cases {
                let target = Target { dicom_uid: Some(asked), ..Target::default() };
                let a = cached.decide(Some(token), &target, *at).map(|s| (*s).clone());
                let b = uncached.decide(Some(token), &target, *at).map(|s| (*s).clone());
                prop_assert_eq!(a, b, "round {}", round);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever it shares and whatever is asked: a protected link's token never grants; a session
    /// unlocked from it answers as a plain token of the same share would, until its share is
    /// revoked, and then never grants again.
    #[test]
    fn protected_tokens_never_grant_and_sessions_follow_their_share(
        uids in proptest::collection::vec("[0-9.]{1,8}", 1..4),
        asked in proptest::collection::vec(("[0-9.]{1,8}", any::<bool>()), 1..6),
    ) {
        let known = std::sync::Arc::new(auth_service::shares::KnownShares::new());
        let policy = AccessPolicy::new(codec(), None, known.clone(), false);
        let share = |guard| ShareToken {
            id: None,
            resources: uids
                .iter()
                .map(|u| Resource { dicom_uid: Some(u.clone()), orthanc_id: None, url: None, level: Level::Study })
                .collect(),
            token_type: Some(TokenType::StoneViewerPublication),
            expiration_date: None,
            validity_duration: None,
            guard,
        };
        let t = TokenType::StoneViewerPublication;
        let protected = codec().encode(&share(Guard::Protected("0".repeat(32))), t);
        let parent = ShareId::of_token(&protected);
        let session = codec().encode(&share(Guard::Unlocked(parent)), t);
        let plain = codec().encode(&share(Guard::Open), t);
        let now = chrono::Utc::now();
        for (other, shared) in &asked {
            let uid = if *shared { &uids[0] } else { other };
            let target = Target { dicom_uid: Some(uid), ..Target::default() };
            prop_assert!(policy.decide(Some(&protected), &target, now).is_err());
            prop_assert_eq!(
                policy.decide(Some(&session), &target, now).is_ok(),
                policy.decide(Some(&plain), &target, now).is_ok()
            );
        }
        known.revoke(&parent);
        for (other, _) in &asked {
            for uid in [&uids[0], other] {
                let target = Target { dicom_uid: Some(uid), ..Target::default() };
                prop_assert!(policy.decide(Some(&session), &target, now).is_err());
            }
        }
    }
}
