//! The creation answer's JSON. serde_json checks every byte of every string for characters to
//! escape; the answer carries the token twice (alone and in the link), and that check was the
//! largest single cost of a creation after SHA-256. Here a string with nothing to escape (our
//! tokens never have any, links seldom) is checked a block of bytes at a time and copied whole;
//! anything else goes through serde_json. The bytes are those serde_json writes for
//! [`CreateTokenResponse`] (a test holds them to it).
use super::CreateTokenResponse;

pub fn create_answer_json(answer: &CreateTokenResponse) -> Vec<u8> {
    let url_len = answer.url.as_ref().map_or(4, String::len);
    let mut out = Vec::with_capacity(256 + answer.token.len() + url_len);
    out.extend_from_slice(br#"{"request":"#);
    // Into a Vec, serialising our plain structs cannot fail.
    let _ = serde_json::to_writer(&mut out, &answer.request);
    out.extend_from_slice(br#","token":"#);
    push_json_string(&mut out, &answer.token);
    out.extend_from_slice(br#","url":"#);
    match &answer.url {
        Some(url) => push_json_string(&mut out, url),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    out
}

fn push_json_string(out: &mut Vec<u8>, text: &str) {
    if nothing_to_escape(text.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

/// No control character, quote or backslash: what serde_json escapes (it writes other text,
/// non-ASCII included, as it is). Blocks of 16 bytes without early exit, so the compiler can
/// check a block in a few vector instructions.
fn nothing_to_escape(bytes: &[u8]) -> bool {
    let plain = |b: u8| (b >= 0x20) & (b != b'"') & (b != b'\\');
    let mut blocks = bytes.chunks_exact(16);
    blocks.all(|block| block.iter().fold(true, |ok, &b| ok & plain(b)))
        && blocks.remainder().iter().all(|&b| plain(b))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::api::{CreateTokenEcho, ResourceDto};
    use crate::domain::{Level, TokenType};

    fn answer(token: String, url: Option<String>, max_uses: Option<u64>) -> CreateTokenResponse {
        CreateTokenResponse {
            request: CreateTokenEcho {
                id: Some("share \"1\"".into()),
                resources: vec![ResourceDto {
                    dicom_uid: Some("1.2.3".into()),
                    orthanc_id: None,
                    url: None,
                    level: Level::Study,
                }],
                token_type: TokenType::StoneViewerPublication,
                expiration_date: Some("2030-01-01T00:00:00Z".into()),
                validity_duration: None,
                max_uses,
                protection: None,
            },
            token,
            url,
        }
    }

    fn as_serde_writes_it(a: &CreateTokenResponse) -> Vec<u8> {
        serde_json::to_vec(a).unwrap_or_default()
    }

    #[test]
    fn plain_and_escaped_strings_come_out_as_serde_writes_them() {
        for (token, url) in [
            ("eyJhbGciOiJIUzI1NiJ9.e30.sig-_", None),
            ("a.b.c", Some("https://pacs.example.org/viewer?token=a.b.c")),
            ("", Some("")),
            ("0123456789abcdef", Some("0123456789abcdef\"")),
            ("quote\"d", Some("back\\slash and \u{1f} and é and 😀")),
            ("back\\slash", Some("back\\slash alone")),
            ("x\u{7f}y", Some("tab\there, 16 bytes at last\n")),
        ] {
            for max_uses in [None, Some(3)] {
                let a = answer(token.into(), url.map(String::from), max_uses);
                assert_eq!(
                    String::from_utf8_lossy(&create_answer_json(&a)),
                    String::from_utf8_lossy(&as_serde_writes_it(&a)),
                );
            }
        }
    }

    proptest! {
        #[test]
        fn any_token_and_link_come_out_as_serde_writes_them(
            token in ".{0,70}",
            url in proptest::option::of("[ -~\u{0}-\u{1f}é😀]{0,70}"),
        ) {
            let a = answer(token, url, None);
            prop_assert_eq!(create_answer_json(&a), as_serde_writes_it(&a));
        }
    }
}
