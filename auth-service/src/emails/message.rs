//! A message as it leaves: checked recipients, cleaned HTML, plain-text alternative.
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::LazyLock;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};

use super::text::html_to_text;

/// `destination-email` split on `,`, `;` and whitespace (as the Python service does), every
/// part a valid address, duplicates dropped, at least one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipients(Vec<Address>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadAddress {
    #[error("destination-email: no address given")]
    Empty,
    #[error("destination-email: not an e-mail address: {0}")]
    Invalid(String),
}

impl Recipients {
    pub fn parse(text: &str) -> Result<Recipients, BadAddress> {
        let mut seen = HashSet::new();
        let mut addresses = Vec::new();
        for part in text
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|p| !p.is_empty())
        {
            let address =
                Address::from_str(part).map_err(|_| BadAddress::Invalid(part.to_owned()))?;
            if seen.insert(address.to_string().to_ascii_lowercase()) {
                addresses.push(address);
            }
        }
        if addresses.is_empty() {
            return Err(BadAddress::Empty);
        }
        Ok(Recipients(addresses))
    }

    pub fn addresses(&self) -> &[Address] {
        &self.0
    }
}

/// The HTML cleaner: ammonia's safe defaults (no script, style element, event handler or
/// `javascript:` URL) plus the `style` and `align` attributes that e-mail formatting relies on.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .add_generic_attributes(["style", "align"])
        // Links keep the markup they came with: there is no `target` to guard against.
        .link_rel(None);
    builder
});

/// Content from OE2's share dialog, with formatting kept and anything active removed.
pub fn clean_html(html: &str) -> String {
    CLEANER.clean(html).to_string()
}

pub(super) fn compose(
    sender: &Mailbox,
    reply_to: Option<&Mailbox>,
    recipients: &Recipients,
    subject: &str,
    html: String,
) -> Result<Message, lettre::error::Error> {
    let mut builder = Message::builder().from(sender.clone()).subject(subject);
    if let Some(reply_to) = reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    for address in recipients.addresses() {
        builder = builder.to(Mailbox::new(None, address.clone()));
    }
    let text = html_to_text(&html);
    builder.multipart(
        MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html),
            ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_split_on_commas_semicolons_and_spaces() {
        let r = Recipients::parse(
            " a@example.test; b@example.test,c@example.test \n d@example.test,, ",
        )
        .expect("valid");
        let names: Vec<String> = r.addresses().iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "a@example.test",
                "b@example.test",
                "c@example.test",
                "d@example.test"
            ]
        );
    }

    #[test]
    fn a_bad_address_is_named_and_an_empty_list_refused() {
        assert_eq!(
            Recipients::parse("a@example.test, not-an-address"),
            Err(BadAddress::Invalid("not-an-address".into()))
        );
        assert_eq!(Recipients::parse(" ;, "), Err(BadAddress::Empty));
        assert_eq!(
            Recipients::parse("a@example.test A@example.test").map(|r| r.addresses().len()),
            Ok(1)
        );
    }

    #[test]
    fn cleaning_keeps_formatting_and_drops_scripts_and_handlers() {
        let html = clean_html(
            r#"<p style="color:red" onclick="steal()">Hi <b>there</b><script>alert(1)</script> <a href="https://x.test/a?b=1&amp;c=2" onmouseover="x()">open</a> <a href="javascript:alert(1)">bad</a></p><img src=x onerror=alert(1)>"#,
        );
        assert!(html.contains(r#"<p style="color:red">"#), "{html}");
        assert!(html.contains("<b>there</b>"), "{html}");
        assert!(
            html.contains(r#"<a href="https://x.test/a?b=1&amp;c=2">open</a>"#),
            "{html}"
        );
        for bad in [
            "script",
            "alert",
            "onclick",
            "onmouseover",
            "onerror",
            "javascript",
        ] {
            assert!(!html.contains(bad), "{bad} left in {html}");
        }
    }
}
