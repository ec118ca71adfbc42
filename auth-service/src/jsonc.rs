//! JSON with comments, as deployments write their roles and anonymous-profile files: `//` and
//! `/* */` comments outside strings, and trailing commas, are removed before serde reads the text.
//! Comments become spaces (newlines kept) so serde's line and column still point into the file.
//! (`json-strip-comments` blanks the newlines of block comments too, so its errors would point
//! at the wrong line: kept by hand.)

/// The text with comments and trailing commas blanked out.
pub fn strip(text: &str) -> String {
    let uncommented = strip_comments(text);
    strip_trailing_commas(&uncommented)
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some(escaped) = chars.next() {
                        out.push(escaped);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                chars.next();
                out.push_str("  ");
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                    out.push(' ');
                }
            }
            ('/', Some('*')) => {
                chars.next();
                out.push_str("  ");
                let mut previous = ' ';
                for c in chars.by_ref() {
                    out.push(if c == '\n' { '\n' } else { ' ' });
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn strip_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(&escaped) = chars.get(i + 1) {
                    out.push(escaped);
                    i += 1;
                }
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            out.push(if matches!(next, Some('}') | Some(']')) {
                ' '
            } else {
                ','
            });
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Reads a JSON-with-comments text into `T`.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    serde_json::from_str(&strip(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn parse(text: &str) -> Value {
        from_str(text).unwrap_or(Value::String("unparsable".into()))
    }

    #[test]
    fn comments_outside_strings_go_and_strings_stay_whole() {
        let text = r#"// header
{
  /* block
     over lines */ "url": "http://x//y", // after
  "glob": "/* not a comment */",
  "quote": "a \"// b\" c", "list": [1, 2, ], /**/ "n": 1,
}
// trailing"#;
        assert_eq!(
            parse(text),
            json!({"url": "http://x//y", "glob": "/* not a comment */", "quote": "a \"// b\" c", "list": [1, 2], "n": 1})
        );
    }

    #[test]
    fn errors_point_at_the_original_line() {
        let text = "// one\n/* two\nthree */\n{\"a\": nope}";
        let e = from_str::<Value>(text).err().map(|e| e.line());
        assert_eq!(e, Some(4));
    }

    #[test]
    fn the_shipped_fixtures_load() {
        // The repository's own copies: always there, so this test cannot pass by not looking.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fixtures");
        for name in ["permissions.jsonc", "anonymous-profile.jsonc"] {
            let text = std::fs::read_to_string(dir.join(name)).expect("fixture read");
            assert!(text.contains("//"), "{name} has comments to strip");
            let value = from_str::<Value>(&text);
            assert!(
                value.as_ref().is_ok_and(Value::is_object),
                "{name}: {value:?}"
            );
        }
    }

    #[test]
    fn a_comment_left_open_runs_to_the_end() {
        assert!(from_str::<Value>("{\"a\": 1} /* never closed").is_ok_and(|v| v["a"] == 1));
        assert!(from_str::<Value>("{\"a\": 1 /* never closed").is_err());
    }

    proptest! {
        #[test]
        fn plain_json_is_unchanged(v in any::<Vec<(String, i32)>>()) {
            let map: serde_json::Map<String, Value> =
                v.into_iter().map(|(k, n)| (k, json!(n))).collect();
            let text = serde_json::to_string_pretty(&Value::Object(map.clone())).unwrap_or_default();
            prop_assert_eq!(strip(&text), text.clone());
            prop_assert_eq!(from_str::<Value>(&text).ok(), Some(Value::Object(map)));
        }
    }
}
