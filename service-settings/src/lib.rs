//! Raw settings as an operator writes them: environment variables, each overridable by a file of
//! the same name in the secrets folder (`/run/secrets`, Docker secrets; `SECRETS_DIR` moves it).
//!
//! There is no list of names here: whatever name a service reads through [`Source::get`] is looked
//! up in the secrets folder too, so a setting cannot lose its secrets-file support by being
//! forgotten in a second list. Only the names a service asks for are ever read from that folder.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use url::Url;

mod proxies;

pub use proxies::TrustedProxies;

pub const DEFAULT_SECRETS_DIR: &str = "/run/secrets";

/// A setting that cannot be used, named, with what to fix. Never holds the value itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name}: {reason}")]
pub struct SettingsError {
    pub name: &'static str,
    pub reason: String,
}

/// Builds a [`SettingsError`].
pub fn invalid(name: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        name,
        reason: reason.into(),
    }
}

/// Raw values: the environment overlaid with the secrets folder.
pub struct Source {
    env: HashMap<String, String>,
    secrets_dir: PathBuf,
    /// One slot per name asked for: the file is read once, on the first `get`.
    files: HashMap<String, OnceLock<Option<String>>>,
}

impl Source {
    /// `env` overlaid with the files of `secrets_dir` (file wins, trimmed). Files are read
    /// lazily, and only under the names a service asks for, so an unrelated secret in that
    /// folder is never read.
    pub fn new(env: HashMap<String, String>, secrets_dir: &Path) -> Self {
        // The folder's entry names (not their contents) tell which names have a file.
        let files = std::fs::read_dir(secrets_dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .map(|name| (name, OnceLock::new()))
                    .collect()
            })
            .unwrap_or_default();
        Source {
            env,
            secrets_dir: secrets_dir.to_owned(),
            files,
        }
    }

    /// The process environment, with `SECRETS_DIR` (default `/run/secrets`) as the folder.
    pub fn from_process() -> Self {
        let env: HashMap<String, String> = std::env::vars().collect();
        let dir = env
            .get("SECRETS_DIR")
            .cloned()
            .unwrap_or_else(|| DEFAULT_SECRETS_DIR.to_owned());
        Source::new(env, Path::new(&dir))
    }

    /// A value, with an empty string counting as unset (compose files often write `VAR=`).
    pub fn get(&self, name: &str) -> Option<&str> {
        let from_file = self.files.get(name).and_then(|slot| {
            slot.get_or_init(|| {
                std::fs::read_to_string(self.secrets_dir.join(name))
                    .ok()
                    .map(|text| text.trim().to_owned())
            })
            .as_deref()
        });
        from_file
            .or_else(|| self.env.get(name).map(String::as_str))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// Sets a value, over the environment and any file (dev mode fills defaults this way).
    pub fn set(&mut self, name: &str, value: String) {
        self.files.remove(name);
        self.env.insert(name.to_owned(), value);
    }

    /// A value parsed as a boolean: `true/false`, `1/0`, `yes/no`, `on/off`; unset is false.
    pub fn flag(&self, name: &'static str) -> Result<bool, SettingsError> {
        self.flag_or(name, false)
    }

    /// A boolean as [`Source::flag`] reads it, or `default` when unset.
    pub fn flag_or(&self, name: &'static str, default: bool) -> Result<bool, SettingsError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("false") | Some("0") | Some("no") | Some("off") => Ok(false),
            Some("true") | Some("1") | Some("yes") | Some("on") => Ok(true),
            Some(_) => Err(invalid(name, "must be true or false")),
        }
    }

    /// A time limit: a number of seconds in (0, 3600], or `default` when unset. Zero is refused:
    /// a limit of nothing would fail every call it bounds.
    pub fn seconds(&self, name: &'static str, default: f64) -> Result<Duration, SettingsError> {
        let Some(text) = self.get(name) else {
            return Ok(Duration::from_secs_f64(default));
        };
        match text.parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
            _ => Err(invalid(
                name,
                "must be a number of seconds between 0 and 3600",
            )),
        }
    }

    /// A number of seconds from `min` to `max` (both included), or `default` when unset: for a
    /// period where 0 has a meaning (no cache, no grace) or where the floor is higher.
    pub fn seconds_between(
        &self,
        name: &'static str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Result<Duration, SettingsError> {
        let Some(text) = self.get(name) else {
            return Ok(Duration::from_secs_f64(default));
        };
        match text.parse::<f64>() {
            Ok(s) if s.is_finite() && (min..=max).contains(&s) => Ok(Duration::from_secs_f64(s)),
            _ => Err(invalid(
                name,
                format!("must be a number of seconds from {min} to {max}"),
            )),
        }
    }
}

/// An absolute `http://` or `https://` URL, or an error naming the setting.
pub fn http_url(name: &'static str, text: &str) -> Result<Url, SettingsError> {
    let url = Url::parse(text).map_err(|e| invalid(name, format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(invalid(name, "must be an absolute http:// or https:// URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn any_name_asked_for_reads_its_file_which_wins_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("A_NAME_NO_LIST_KNOWS"), "  from-file\n").unwrap();
        std::fs::write(dir.path().join("EMPTY"), "\n").unwrap();
        let src = Source::new(
            env(&[("A_NAME_NO_LIST_KNOWS", "from-env"), ("OTHER", " x ")]),
            dir.path(),
        );
        assert_eq!(src.get("A_NAME_NO_LIST_KNOWS"), Some("from-file"));
        assert_eq!(src.get("OTHER"), Some("x"));
        assert_eq!(src.get("EMPTY"), None);
        assert_eq!(src.get("ABSENT"), None);
    }

    #[test]
    fn flags_keep_their_default_when_unset_and_refuse_other_words() {
        let src = Source::new(
            env(&[("ON", "Yes"), ("OFF", "0"), ("BAD", "maybe")]),
            Path::new("/nonexistent-secrets"),
        );
        assert_eq!(src.flag_or("ON", false), Ok(true));
        assert_eq!(src.flag_or("OFF", true), Ok(false));
        assert_eq!(src.flag_or("UNSET", true), Ok(true));
        assert_eq!(src.flag("UNSET"), Ok(false));
        assert_eq!(src.flag_or("BAD", true).unwrap_err().name, "BAD");
    }

    #[test]
    fn seconds_between_takes_its_bounds_and_names_them_when_refusing() {
        let src = Source::new(
            env(&[
                ("ZERO", "0"),
                ("HALF", "0.5"),
                ("BIG", "3601"),
                ("NAN", "NaN"),
            ]),
            Path::new("/nonexistent-secrets"),
        );
        assert_eq!(
            src.seconds_between("ZERO", 5.0, 0.0, 3600.0),
            Ok(Duration::ZERO)
        );
        assert_eq!(
            src.seconds_between("UNSET", 5.0, 0.0, 3600.0),
            Ok(Duration::from_secs(5))
        );
        let refused = src.seconds_between("HALF", 5.0, 1.0, 3600.0).unwrap_err();
        assert_eq!(refused.reason, "must be a number of seconds from 1 to 3600");
        assert!(src.seconds_between("BIG", 5.0, 0.0, 3600.0).is_err());
        assert!(src.seconds_between("NAN", 5.0, 0.0, 3600.0).is_err());
        // The time-limit reader refuses 0, which seconds_between may allow.
        assert!(src.seconds("ZERO", 5.0).is_err());
    }

    #[test]
    fn set_overrides_environment_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("BIND_ADDRESS"), "0.0.0.0:1").unwrap();
        let mut src = Source::new(env(&[]), dir.path());
        src.set("BIND_ADDRESS", "127.0.0.1:2".into());
        assert_eq!(src.get("BIND_ADDRESS"), Some("127.0.0.1:2"));
    }

    #[test]
    fn a_missing_secrets_folder_is_just_the_environment() {
        let src = Source::new(env(&[("X", "1")]), Path::new("/nonexistent-secrets"));
        assert_eq!(src.get("X"), Some("1"));
    }

    #[test]
    fn typed_readers_name_the_setting() {
        let src = Source::new(
            env(&[("F", "maybe"), ("S", "-1"), ("T", "YES"), ("D", "2.5")]),
            Path::new("/nonexistent-secrets"),
        );
        assert_eq!(src.flag("F").err().map(|e| e.name), Some("F"));
        assert_eq!(src.flag("T"), Ok(true));
        assert_eq!(src.flag("UNSET"), Ok(false));
        assert_eq!(src.seconds("S", 1.0).err().map(|e| e.name), Some("S"));
        assert_eq!(src.seconds("D", 1.0), Ok(Duration::from_millis(2500)));
        assert_eq!(src.seconds("UNSET", 1.0), Ok(Duration::from_secs(1)));
        assert!(http_url("U", "ftp://x/").is_err());
        assert!(http_url("U", "http://x/").is_ok());
    }
}
