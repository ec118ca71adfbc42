//! A message as it leaves: checked recipients, cleaned HTML, plain-text alternative.
use std::collections::HashSet;
use std::sync::LazyLock;

use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};

use super::text::html_to_text;

/// `destination-email` split on `,`, `;` and whitespace (as the Python service does), every
/// part a plain address ([`plain_address`]), duplicates dropped, at least one.
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
                plain_address(part).ok_or_else(|| BadAddress::Invalid(part.to_owned()))?;
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

/// An address of exactly the form the OpenAPI document states
/// (`auth_wire::openapi::EMAIL_ADDRESS_PATTERN`): an ASCII dot-atom local part, `@`, a host name
/// (labels of letters, digits and inner hyphens, at most 63 characters each). Quoted local
/// parts, address literals and non-ASCII addresses, which lettre would take, are refused: an
/// SMTP server without SMTPUTF8 refuses the last, and a hospital's recipients have none of them.
/// lettre's own length limits (64 and 254) are not applied: no regular expression can state
/// them for a dot-atom, and the SMTP server has the last word on lengths anyway. The form leaves
/// no character a header or an SMTP command could be broken with.
pub fn plain_address(text: &str) -> Option<Address> {
    let (local, domain) = text.split_once('@')?;
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let plain = local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
        && domain.split('.').all(label);
    plain.then(|| Address::new_dangerous(local, domain))
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
    // The envelope from the checked addresses themselves: lettre would read it back from the
    // To header, through its own length limits, and drop a recipient this service took.
    builder = builder.envelope(Envelope::new(
        Some(sender.email.clone()),
        recipients.addresses().to_vec(),
    )?);
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
    fn only_plain_ascii_addresses_are_taken() {
        for good in [
            "a@b",
            "first.last+tag@mail.example-hospital.org",
            "x!#$%&'*+/=?^_`{|}~-@a1.b2",
        ] {
            assert!(Recipients::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "\"quoted local\"@example.test",
            "a@[127.0.0.1]",
            "é@example.test",
            "a@exämple.test",
            ".a@example.test",
            "a..b@example.test",
            "a@-example.test",
            "a@example-.test",
            "a@example..test",
            "a@b@c",
        ] {
            assert!(Recipients::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// The address check and the pattern the OpenAPI document states take the same texts.
        #[test]
        fn the_address_check_is_the_documented_pattern(
            text in "[a-z.@!#'~\"é\\-]{0,12}|[a-z0-9.-]{1,6}@[a-z0-9.-]{1,8}"
        ) {
            let pattern = regex::Regex::new(auth_wire::openapi::EMAIL_ADDRESS_PATTERN).expect("a regex");
            proptest::prop_assert_eq!(plain_address(&text).is_some(), pattern.is_match(&text), "{}", text);
        }
    }

    #[test]
    fn every_documented_address_makes_a_message_to_it() {
        let sender: Mailbox = "pacs@example.test".parse().expect("a mailbox");
        let long = format!(
            "{}.{}@{}.example.test",
            "l".repeat(70),
            "m".repeat(40),
            "d".repeat(63)
        );
        for to in [long.as_str(), "x!#$%&'*+/=?^_`{|}~-@a1.b2", "a@b"] {
            let recipients = Recipients::parse(to).expect("a documented address");
            let message = compose(&sender, None, &recipients, "t", "<p>c</p>".into());
            let message = message.unwrap_or_else(|e| panic!("{to}: {e}"));
            let envelope: Vec<String> = message
                .envelope()
                .to()
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(envelope, [to]);
        }
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
