//! The plain-text alternative of an HTML body, by `html2text` (the html5ever parser ammonia
//! uses): text kept, blocks on their own lines, links numbered with their targets listed below.
//! Tolerant of any input (layouts are written by hand); linear in the input.

/// Lines are wrapped at this width, as plain-text e-mail usually is; links are never cut.
const WIDTH: usize = 78;

pub fn html_to_text(html: &str) -> String {
    let text = html2text::config::plain_no_decorate()
        .link_footnotes(true)
        .no_link_wrapping()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), WIDTH);
    match text {
        Ok(text) => text.trim_end().to_owned(),
        Err(e) => {
            // The HTML part still carries the message; the text part is a courtesy.
            tracing::warn!(error = %e, "could not turn the e-mail into plain text");
            String::new()
        }
    }
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
            "# PACS\n\nA study was shared with you: [open it][1].\n\nLine one\nline\u{a0}two & é中\n* first\n* second\n\n-- sent by [x@y.test][2]\n\n[1]: https://pacs.test/s?t=1&u=2\n[2]: mailto:x@y.test"
        );
    }

    #[test]
    fn odd_input_stays_text() {
        assert_eq!(html_to_text("a < b and c > d"), "a < b and c > d");
        assert_eq!(html_to_text("x &unknown; y & z <b"), "x &unknown; y & z");
        assert_eq!(html_to_text("<script>alert(1)"), "");
    }

    #[test]
    fn a_content_of_ampersands_converts_whole() {
        let html = format!("<p>{}</p>", "&".repeat(64 * 1024));
        assert_eq!(html_to_text(&html).matches('&').count(), 64 * 1024);
    }
}
