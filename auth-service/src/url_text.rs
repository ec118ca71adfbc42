//! Text put into URLs: ids and tokens percent-encoded (`percent-encoding`) wherever they are not
//! plain, so they can add neither a path segment nor a query parameter.
use std::borrow::Cow;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte but RFC 3986's unreserved ones (letters, digits, `-._~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` with every byte that is not unreserved percent-encoded (unchanged, not copied, when
/// plain: DICOM UIDs, Orthanc ids and our JWTs always are).
pub fn encode(text: &str) -> Cow<'_, str> {
    // The common case, a plain text, checked through a table: percent-encoding's per-byte set
    // test over a whole token showed in the create profile.
    if text.bytes().all(|b| UNRESERVED[usize::from(b)]) {
        return Cow::Borrowed(text);
    }
    utf8_percent_encode(text, NOT_UNRESERVED).into()
}

/// The same bytes as the complement of [`NOT_UNRESERVED`], as a table.
static UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn only_unreserved_bytes_stay() {
        assert!(matches!(
            encode("1.2.840-x_y~z"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(encode("a b&c=d/é?#%"), "a%20b%26c%3Dd%2F%C3%A9%3F%23%25");
    }

    #[test]
    fn the_table_agrees_with_the_encode_set() {
        for b in 0..=255u8 {
            // percent-encoding leaves a byte alone exactly when it is ASCII and not in the set.
            let plain = b.is_ascii() && {
                let text = char::from(b).to_string();
                super::utf8_percent_encode(&text, super::NOT_UNRESERVED).to_string() == text
            };
            assert_eq!(super::UNRESERVED[usize::from(b)], plain, "byte {b}");
        }
    }
}
