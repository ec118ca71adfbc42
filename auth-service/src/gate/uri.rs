//! The visitor's URI (`X-Original-URI`: nginx's `$request_uri`, raw as the browser sent it) read
//! the way Orthanc will read it, or refused where the two readings could differ. No I/O.
//!
//! What Orthanc does (its HTTP server, civetweb, and its REST and DICOMweb routers): the path is
//! percent-decoded before it is split (`%2F` is a separator to it), `\` becomes `/`, dot segments
//! are resolved, `//` collapsed, trailing dots stripped. The query string is decoded as a whole
//! (`%XX` and `+`) before it is split on `&` and the first `=`, so an encoded `&` or `=` in a value
//! makes new arguments, and an encoded key is a key to Orthanc. A GET carrying `_method=DELETE`
//! (or `PUT`) is executed as that method. Everything here that could be read two ways is refused.
use percent_encoding::percent_decode_str;

/// Why a URI was refused before matching; all of them deny (`forbidden`), the words go to the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Odd {
    #[error("outside GATE_PATH_PREFIX")]
    OutsidePrefix,
    #[error("empty path segment (//)")]
    EmptySegment,
    #[error("dot segment (. or ..)")]
    DotSegment,
    #[error("a character no Orthanc route uses (; \\ encoded / ...)")]
    Character,
    #[error("percent-encoding that is not UTF-8, or a % not followed by two hex digits")]
    Encoding,
    #[error("a query parameter given twice")]
    RepeatedParameter,
    #[error("a query key Orthanc could read otherwise (empty, or holding %, + or a character no route uses)")]
    QueryKey,
    #[error("a query value Orthanc would split otherwise (an encoded &, = or #, or a control character)")]
    QueryValue,
    #[error("a method override (_method): Orthanc would run another method than the one judged")]
    MethodOverride,
}

/// One query argument: the key exactly as sent (only plain characters are accepted, so Orthanc
/// reads the same key), the value as sent and as Orthanc decodes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Argument {
    pub key: String,
    pub raw: String,
    pub value: String,
}

/// A URI nginx asked about: its path split into decoded segments below the prefix, and its
/// query arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalUri {
    pub(super) segments: Vec<String>,
    pub(super) query: Vec<Argument>,
}

impl OriginalUri {
    /// Reads `raw` below `prefix` (which starts and ends with `/`). A trailing slash and
    /// percent-encoded plain characters in the path are normalised away, as Orthanc does; `..`,
    /// `.`, `//`, `;` parameters, backslashes and encoded slashes are refused, and so is any
    /// query that Orthanc could split or decode otherwise than here.
    pub fn parse(raw: &str, prefix: &str) -> Result<OriginalUri, Odd> {
        if raw.contains('#') {
            return Err(Odd::Character);
        }
        let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
        let rest = path.strip_prefix(prefix).ok_or(Odd::OutsidePrefix)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for raw_segment in rest.split('/') {
                segments.push(segment(raw_segment)?);
            }
        }
        let query = arguments(query)?;
        let mut keys: Vec<&str> = query.iter().map(|a| a.key.as_str()).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(Odd::RepeatedParameter);
        }
        Ok(OriginalUri { segments, query })
    }

    /// A query argument's decoded value (each key appears at most once: see [`Self::parse`]).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.argument(key).map(|a| a.value.as_str())
    }

    pub fn argument(&self, key: &str) -> Option<&Argument> {
        self.query.iter().find(|a| a.key == key)
    }

    pub fn arguments(&self) -> &[Argument] {
        &self.query
    }
}

fn segment(raw: &str) -> Result<String, Odd> {
    if raw.is_empty() {
        return Err(Odd::EmptySegment);
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Odd::Encoding)?;
    // Every segment of a route we place is an id, a UID, a word or a frame list.
    let plain = decoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._,".contains(&b));
    if !plain {
        return Err(Odd::Character);
    }
    if decoded == "." || decoded == ".." {
        return Err(Odd::DotSegment);
    }
    Ok(decoded.into_owned())
}

/// The query's arguments. Keys must be plain as sent: Orthanc decodes keys (`Study%49nstanceUID`
/// is `StudyInstanceUID` to it), and DICOMweb ignores keys it does not know, so a key read
/// differently here and there could drop a filter.
fn arguments(query: &str) -> Result<Vec<Argument>, Odd> {
    if query.is_empty() {
        return Ok(Vec::new());
    }
    query
        .split('&')
        .map(|piece| {
            let (key, raw) = piece.split_once('=').unwrap_or((piece, ""));
            let plain_key = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if !plain_key {
                return Err(Odd::QueryKey);
            }
            if key.eq_ignore_ascii_case("_method") {
                return Err(Odd::MethodOverride);
            }
            Ok(Argument {
                key: key.to_owned(),
                raw: raw.to_owned(),
                value: form_decoded(raw)?,
            })
        })
        .collect()
}

/// A value decoded once, as civetweb decodes the whole query (`+` is a space). A decoded `&`,
/// `=` or `#` would be a separator to Orthanc, a control character (NUL ends its C strings) is
/// never part of an argument a viewer sends.
fn form_decoded(raw: &str) -> Result<String, Odd> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(Odd::Encoding)?;
                let text = std::str::from_utf8(hex).map_err(|_| Odd::Encoding)?;
                let byte = u8::from_str_radix(text, 16).map_err(|_| Odd::Encoding)?;
                out.push(byte);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let value = String::from_utf8(out).map_err(|_| Odd::Encoding)?;
    if value
        .bytes()
        .any(|b| b"&=#".contains(&b) || b.is_ascii_control())
    {
        return Err(Odd::QueryValue);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "335cf67c-c1de4b89-9ebbceb6-b58b80f5-64162532";

    #[test]
    fn odd_paths_are_refused() {
        let odd = [
            ("/orthanc/instances/{ID}/../../tools/x", Odd::DotSegment),
            ("/orthanc/instances/{ID}/%2e%2e/x", Odd::DotSegment),
            ("/orthanc/instances/./{ID}", Odd::DotSegment),
            ("/orthanc/instances//{ID}/preview", Odd::EmptySegment),
            ("/orthanc//instances/{ID}", Odd::EmptySegment),
            ("/orthanc/instances/{ID}/preview//", Odd::EmptySegment),
            ("/orthanc/instances/{ID}%2Fpreview", Odd::Character),
            ("/orthanc/instances/{ID}%2fpreview", Odd::Character),
            ("/orthanc/instances/{ID};x=1/preview", Odd::Character),
            (
                "/orthanc/instances/{ID}/preview;jsessionid=1",
                Odd::Character,
            ),
            ("/orthanc/instances/{ID}\\preview", Odd::Character),
            ("/orthanc/instances/{ID}%5Cpreview", Odd::Character),
            ("/orthanc/instances/{ID}/pre%zzview", Odd::Character),
            ("/orthanc/instances/{ID}/pre+view", Odd::Character),
            ("/orthanc/instances/{ID}/%ff", Odd::Encoding),
            ("/orthanc/instances/{ID}#x", Odd::Character),
            ("/other/instances/{ID}", Odd::OutsidePrefix),
            ("/orthanc", Odd::OutsidePrefix),
            ("instances/{ID}", Odd::OutsidePrefix),
        ];
        for (raw, expected) in odd {
            let raw = raw.replace("{ID}", ID);
            assert_eq!(
                OriginalUri::parse(&raw, "/orthanc/"),
                Err(expected),
                "{raw}"
            );
        }
    }

    #[test]
    fn queries_orthanc_could_read_otherwise_are_refused() {
        let odd = [
            // Keys: Orthanc decodes them, we would not.
            ("?Study%49nstanceUID=1.2", Odd::QueryKey),
            ("?Study+InstanceUID=1.2", Odd::QueryKey),
            ("?=1.2", Odd::QueryKey),
            ("?a=1&&b=2", Odd::QueryKey),
            ("?a=1&", Odd::QueryKey),
            ("?a%00=1", Odd::QueryKey),
            // Values that decode to a separator make new arguments for Orthanc.
            ("?StudyInstanceUID=1.2%260020000D=", Odd::QueryValue),
            ("?a=1%3D2", Odd::QueryValue),
            ("?a=b=c", Odd::QueryValue),
            ("?a=%00", Odd::QueryValue),
            ("?a=%0a", Odd::QueryValue),
            ("?a=%zz", Odd::Encoding),
            ("?a=%2", Odd::Encoding),
            ("?a=%ff", Odd::Encoding),
            // The override, in every spelling a key can have here.
            ("?_method=DELETE", Odd::MethodOverride),
            ("?x=1&_METHOD=put", Odd::MethodOverride),
            ("?_Method=", Odd::MethodOverride),
            ("?%5Fmethod=DELETE", Odd::QueryKey),
            ("?_%6Dethod=DELETE", Odd::QueryKey),
            ("?x=1%26_method=DELETE", Odd::QueryValue),
            // One reading per key.
            ("?a=1&a=1", Odd::RepeatedParameter),
        ];
        for (query, expected) in odd {
            let raw = format!("/orthanc/instances/{ID}{query}");
            assert_eq!(
                OriginalUri::parse(&raw, "/orthanc/"),
                Err(expected),
                "{raw}"
            );
        }
    }

    #[test]
    fn values_are_decoded_as_orthanc_decodes_them() {
        let uri = OriginalUri::parse(
            "/orthanc/x?token=a%2Eb&includefield=0008103E%2C00080021&w=a+b&flag",
            "/orthanc/",
        )
        .expect("parses");
        assert_eq!(uri.param("token"), Some("a.b"));
        assert_eq!(uri.param("includefield"), Some("0008103E,00080021"));
        assert_eq!(uri.param("w"), Some("a b"));
        assert_eq!(uri.param("flag"), Some(""));
        assert_eq!(uri.param("absent"), None);
        assert_eq!(uri.argument("token").map(|a| a.raw.as_str()), Some("a%2Eb"));
    }

    proptest::proptest! {
        /// Whatever the URI, a parsed one never holds a dot segment, an empty segment or an
        /// encoded separator: the checks above cannot be bypassed by some other spelling.
        #[test]
        fn nothing_odd_is_ever_parsed(raw in "/orthanc/[a-z0-9./%;\\\\-]{0,60}") {
            if let Ok(uri) = OriginalUri::parse(&raw, "/orthanc/") {
                for s in &uri.segments {
                    proptest::prop_assert!(!s.is_empty() && s != "." && s != "..");
                    proptest::prop_assert!(!s.contains('/') && !s.contains(';') && !s.contains('\\'));
                }
            }
        }
    }
}
