//! The pages' words: one TOML file per language under `locales/`, compiled in, read at start
//! (a file missing a string stops the service there), and the choice by Accept-Language.
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Deserialize;

/// The languages the pages speak. Adding one: a variant here and a `locales/CODE.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    English,
    French,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::English, Language::French];

    /// The BCP 47 primary subtag, as in the `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::French => "fr",
        }
    }

    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code))
    }

    pub fn codes() -> String {
        Language::ALL.map(Language::code).join(", ")
    }

    fn file(self) -> &'static str {
        match self {
            Language::English => include_str!("../locales/en.toml"),
            Language::French => include_str!("../locales/fr.toml"),
        }
    }

    /// The best of ours for an `Accept-Language` header (RFC 9110: quality values, the first
    /// listed wins a tie, `q=0` means "not this one"), else `default`.
    pub fn negotiate(header: Option<&str>, default: Language) -> Language {
        let Some(header) = header else {
            return default;
        };
        let mut best: Option<(Language, f32)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if !(q > 0.0 && q <= 1.0) {
                continue;
            }
            let primary = tag.split('-').next().unwrap_or("");
            let language = if primary == "*" {
                Some(default)
            } else {
                Language::from_code(primary)
            };
            if let Some(language) = language {
                if best.is_none_or(|(_, best_q)| q > best_q) {
                    best = Some((language, q));
                }
            }
        }
        best.map_or(default, |(l, _)| l)
    }
}

/// Title, what happened, what to do: the three lines of every outcome page.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeText {
    pub title: String,
    pub message: String,
    pub advice: String,
}

/// An outcome whose message names a date (expired on, locked until).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatedText {
    pub title: String,
    /// With `{date}`.
    pub message: String,
    /// When the date is not known (a denial passed on by the nginx gate).
    pub message_undated: String,
    pub advice: String,
}

/// A protected link's forms: a password, or a code sent by e-mail.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectedText {
    pub password_title: String,
    pub password_intro: String,
    pub password_label: String,
    pub code_title: String,
    pub code_intro: String,
    /// Above the list of (masked) addresses.
    pub send_label: String,
    pub send_button: String,
    /// Once a code was sent.
    pub send_again_button: String,
    pub code_label: String,
    pub code_hint: String,
    pub open_button: String,
    /// With `{address}` and `{date}`.
    pub code_sent: String,
    /// With `{count}`; `_one` when one attempt is left.
    pub wrong_password: String,
    pub wrong_password_one: String,
    pub wrong_code: String,
    pub wrong_code_one: String,
    pub code_expired: String,
    /// With `{minutes}`.
    pub too_many_codes: String,
    pub code_not_sent: String,
    pub form_expired: String,
    pub empty: String,
    pub note: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmText {
    pub title: String,
    pub intro: String,
    /// With `{count}`.
    pub studies_one: String,
    pub studies_many: String,
    pub items_one: String,
    pub items_many: String,
    /// With `{date}`.
    pub expires: String,
    pub never_expires: String,
    pub button: String,
    pub note: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcomes {
    pub no_link: OutcomeText,
    pub expired: DatedText,
    pub revoked: OutcomeText,
    pub used_up: OutcomeText,
    pub invalid: OutcomeText,
    pub cannot_open: OutcomeText,
    pub viewer_unavailable: OutcomeText,
    pub forbidden: OutcomeText,
    pub service_unavailable: OutcomeText,
    pub viewer_service_failed: OutcomeText,
    pub viewer_busy: OutcomeText,
    pub too_many_opens: OutcomeText,
    pub not_found: OutcomeText,
    pub locked: DatedText,
    pub protected: OutcomeText,
    pub awaiting_email: OutcomeText,
}

/// Every string of one language.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strings {
    /// Shown when `LANDING_SITE_NAME` is unset.
    pub default_site_name: String,
    pub retry: String,
    /// With `{day}`, `{month}`, `{year}`, `{time}` (24-hour `HH:MM`, UTC).
    pub date_format: String,
    pub months: [String; 12],
    pub outcomes: Outcomes,
    pub confirm: ConfirmText,
    pub protected: ProtectedText,
}

impl Strings {
    pub fn load(language: Language) -> anyhow::Result<Strings> {
        toml::from_str(language.file()).map_err(|e| {
            anyhow::anyhow!(
                "The language file locales/{}.toml is not valid: {e}",
                language.code()
            )
        })
    }

    /// "3 March 2027, 11:00 UTC" in this language.
    pub fn date(&self, when: DateTime<Utc>) -> String {
        let month = self
            .months
            .get(when.month0() as usize)
            .map_or("", String::as_str);
        self.date_format
            .replace("{day}", &when.day().to_string())
            .replace("{month}", month)
            .replace("{year}", &when.year().to_string())
            .replace(
                "{time}",
                &format!("{:02}:{:02}", when.hour(), when.minute()),
            )
    }
}

/// Both languages, loaded once at start.
pub struct Catalog {
    english: Strings,
    french: Strings,
}

impl Catalog {
    pub fn load() -> anyhow::Result<Catalog> {
        Ok(Catalog {
            english: Strings::load(Language::English)?,
            french: Strings::load(Language::French)?,
        })
    }

    pub fn get(&self, language: Language) -> &Strings {
        match language {
            Language::English => &self.english,
            Language::French => &self.french,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_language_file_holds_every_string() {
        for language in Language::ALL {
            let strings = Strings::load(language).unwrap();
            assert!(strings.outcomes.expired.message.contains("{date}"));
            assert!(strings.confirm.studies_many.contains("{count}"));
            assert!(strings.confirm.expires.contains("{date}"));
            assert!(strings.outcomes.locked.message.contains("{date}"));
            let p = &strings.protected;
            assert!(p.code_sent.contains("{address}") && p.code_sent.contains("{date}"));
            assert!(p.wrong_password.contains("{count}") && p.wrong_code.contains("{count}"));
            assert!(p.too_many_codes.contains("{minutes}"));
        }
    }

    #[test]
    fn accept_language_picks_by_quality_then_order() {
        let en = Language::English;
        let fr = Language::French;
        assert_eq!(Language::negotiate(None, fr), fr);
        assert_eq!(
            Language::negotiate(Some("fr-CH, fr;q=0.9, en;q=0.8"), en),
            fr
        );
        assert_eq!(Language::negotiate(Some("de, en;q=0.5, fr;q=0.7"), en), fr);
        assert_eq!(Language::negotiate(Some("en-GB,en;q=0.9"), fr), en);
        assert_eq!(Language::negotiate(Some("de-DE"), fr), fr);
        assert_eq!(Language::negotiate(Some("fr;q=0, en"), fr), en);
        assert_eq!(Language::negotiate(Some("*"), fr), fr);
        assert_eq!(Language::negotiate(Some("FR"), en), fr);
        assert_eq!(Language::negotiate(Some(";;;,,q=x"), en), en);
    }

    #[test]
    fn dates_read_naturally_in_each_language() {
        let when = DateTime::parse_from_rfc3339("2027-03-03T11:05:00+01:00")
            .unwrap()
            .with_timezone(&Utc);
        let en = Strings::load(Language::English).unwrap();
        let fr = Strings::load(Language::French).unwrap();
        assert_eq!(en.date(when), "3 March 2027, 10:05 UTC");
        assert_eq!(fr.date(when), "3 mars 2027 à 10:05 UTC");
    }
}
