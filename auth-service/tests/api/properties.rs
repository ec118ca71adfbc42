//! Property tests: the codec round-trips anything and the decode path never panics or grants
//! on arbitrary input.
use auth_service::access::{AccessPolicy, Target};
use auth_service::domain::{Level, Resource, ShareToken, TokenType};
use auth_service::share_token::ShareTokenCodec;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use secrecy::SecretString;

fn codec() -> ShareTokenCodec {
    ShareTokenCodec::new(&SecretString::from("property-secret"))
}

fn policy() -> AccessPolicy {
    AccessPolicy::new(codec(), None)
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_then_decode_gives_back_the_share(
        id in proptest::option::of(any::<String>()),
        resources in proptest::collection::vec(resource(), 0..5),
        type_index in 0usize..8,
        duration in proptest::option::of(-1_000_000i64..1_000_000),
    ) {
        let token_type = TokenType::ALL[type_index];
        let share = ShareToken { id, resources, token_type: Some(token_type), expiration_date: None, validity_duration: duration };
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
    }

    #[test]
    fn arbitrary_text_never_panics_and_never_grants(token in any::<String>(), uid in any::<String>()) {
        let target = Target { dicom_uid: Some(&uid), ..Target::default() };
        prop_assert!(policy().decide(Some(&token), &target, chrono::Utc::now()).is_err());
    }

    #[test]
    fn arbitrary_jwt_shaped_input_never_grants(h in proptest::collection::vec(any::<u8>(), 0..64), p in proptest::collection::vec(any::<u8>(), 0..256), s in proptest::collection::vec(any::<u8>(), 0..40)) {
        let token = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(p), URL_SAFE_NO_PAD.encode(s));
        let target = Target { dicom_uid: Some("1.2"), orthanc_id: Some("x"), server_id: None };
        prop_assert!(policy().decide(Some(&token), &target, chrono::Utc::now()).is_err());
        let _ = codec().decode(&token);
    }
}
