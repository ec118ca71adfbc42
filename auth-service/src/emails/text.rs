//! The plain-text alternative of an HTML body: text kept, blocks on their own lines, link
//! targets written after their text. Tolerant of any input (layouts are written by hand).

/// Elements whose content is not text a reader should see.
const HIDDEN: &[&str] = &["script", "style", "head", "title", "template"];
/// Elements that start and end on their own line.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "blockquote",
    "body",
    "div",
    "dl",
    "dt",
    "dd",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tr",
    "ul",
];

pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    // Where the text of the open <a> starts in `out`, and its target.
    let mut link: Option<(usize, String)> = None;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_text(&mut out, &rest[..lt]);
        rest = &rest[lt..];
        let opens_tag = rest[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        if !opens_tag {
            // `a < b`: the `<` is text.
            push_text(&mut out, "<");
            rest = &rest[1..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            push_text(&mut out, rest);
            rest = "";
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            // `<!DOCTYPE html>`, `<?xml ...?>`: nothing to show.
            continue;
        }
        if HIDDEN.contains(&name.as_str()) && !closing && !tag.ends_with('/') {
            rest = skip_to_close(rest, &name);
            continue;
        }
        match name.as_str() {
            "br" => out.push('\n'),
            "li" if !closing => out.push_str("\n- "),
            "td" | "th" if closing => out.push(' '),
            "a" if !closing => link = Some((out.len(), attribute(tag, "href").unwrap_or_default())),
            "a" => {
                if let Some((start, href)) = link.take() {
                    let shown = out[start..].trim().to_owned();
                    let target = href.strip_prefix("mailto:").unwrap_or(&href);
                    if !target.is_empty() && !target.starts_with('#') && shown != target {
                        out.push_str(" (");
                        out.push_str(target);
                        out.push(')');
                    }
                }
            }
            n if BLOCKS.contains(&n) => out.push_str("\n\n"),
            _ => {}
        }
    }
    push_text(&mut out, rest);
    tidy(&out)
}

/// Text with entities decoded and HTML whitespace collapsed to single spaces.
fn push_text(out: &mut String, text: &str) {
    let decoded = decode_entities(text);
    for c in decoded.chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !out.ends_with([' ', '\n']) && !out.is_empty() {
                out.push(' ');
            }
        } else if c == '\u{a0}' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
}

fn skip_to_close<'a>(rest: &'a str, name: &str) -> &'a str {
    let lower = rest.to_ascii_lowercase();
    let needle = format!("</{name}");
    match lower.find(&needle) {
        Some(i) => match rest[i..].find('>') {
            Some(gt) => &rest[i + gt + 1..],
            None => "",
        },
        None => "",
    }
}

/// The value of one attribute of a tag's text, quoted or not.
fn attribute(tag: &str, wanted: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(wanted) {
        let at = from + i;
        from = at + wanted.len();
        let before_ok = lower[..at].ends_with(|c: char| c.is_whitespace());
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - after.len() + 1;
        let value = tag[value_start..].trim_start();
        let raw = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or(""),
        };
        return Some(decode_entities(raw));
    }
    None
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity = rest[1..]
            .find(';')
            .filter(|&end| end <= 10)
            .map(|end| (&rest[1..=end], end + 2));
        let decoded = entity.and_then(|(name, len)| Some((named_or_numeric(name)?, len)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_or_numeric(name: &str) -> Option<char> {
    let numeric = |digits: &str, radix| {
        u32::from_str_radix(digits, radix)
            .ok()
            .and_then(char::from_u32)
    };
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => match name.strip_prefix('#') {
            Some(hex) if hex.starts_with(['x', 'X']) => numeric(&hex[1..], 16),
            Some(dec) => numeric(dec, 10),
            None => None,
        },
    }
}

/// Lines trimmed, at most one blank line in a row, none at the ends.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn blocks_break_lines_and_links_show_their_target() {
        let html = r#"<html><head><title>T</title><style>p { color: red }</style></head>
<body><h1>PACS</h1><div><p>A study was shared with you:
   <a href="https://pacs.test/s?t=1&amp;u=2">open it</a>.</p><p>Line one<br>line&nbsp;two &amp; &#233;&#x4e2d;</p>
<ul><li>first</li><li>second</li></ul></div><!-- note --><p>-- sent by <a href="mailto:x@y.test">x@y.test</a></p></body></html>"#;
        assert_eq!(
            html_to_text(html),
            "PACS\n\nA study was shared with you: open it (https://pacs.test/s?t=1&u=2).\n\nLine one\nline two & é中\n\n- first\n- second\n\n-- sent by x@y.test"
        );
    }

    #[test]
    fn odd_input_stays_text() {
        assert_eq!(html_to_text("a < b and c > d"), "a < b and c > d");
        assert_eq!(html_to_text("x &unknown; y & z <b"), "x &unknown; y & z <b");
        assert_eq!(html_to_text("<script>alert(1)"), "");
    }
}
