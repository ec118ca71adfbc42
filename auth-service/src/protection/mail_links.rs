//! Share tokens in an e-mail's content (PROTECT_EMAILED_LINKS): every run that looks like a JWT
//! (`eyJ` + base64url, three non-empty parts). Whether it is one of ours is the codec's call.

/// The JWT-shaped runs of `text`, each once, in order.
pub fn tokens_in(text: &str) -> Vec<&str> {
    let is_token_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    let bytes = text.as_bytes();
    let mut found: Vec<&str> = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("eyJ").map(|i| from + i) {
        // Only a run that starts here: `xeyJ...` is part of something else.
        let starts_run = at == 0 || !is_token_byte(bytes[at - 1]);
        let end = bytes[at..]
            .iter()
            .position(|b| !is_token_byte(*b))
            .map_or(bytes.len(), |n| at + n);
        let run = &text[at..end];
        let parts: Vec<&str> = run.split('.').collect();
        if starts_run
            && parts.len() == 3
            && parts.iter().all(|p| !p.is_empty())
            && !found.contains(&run)
        {
            found.push(run);
        }
        from = end.max(at + 3);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_links_text_and_markup() {
        let html = r#"<p>Open <a href="https://pacs.test/share/?token=eyJhbGciOi.eyJpZCI6.sig_-1">the study</a> (https://pacs.test/share/?token=eyJhbGciOi.eyJpZCI6.sig_-1&amp;x=1) or eyJa.eyJb.c</p>"#;
        assert_eq!(
            tokens_in(html),
            ["eyJhbGciOi.eyJpZCI6.sig_-1", "eyJa.eyJb.c"]
        );
        for none in ["", "eyJ", "eyJa.b", "eyJa.b.c.d", "xeyJa.b.c", "eyJa..c"] {
            assert!(tokens_in(none).is_empty(), "{none}");
        }
    }
}
