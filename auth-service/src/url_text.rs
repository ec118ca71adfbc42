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
    utf8_percent_encode(text, NOT_UNRESERVED).into()
}

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
}
