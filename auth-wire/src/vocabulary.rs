//! The words of the contract: token types, resource levels, permissions. Their wire names come
//! from strum, so a name is written once, on its variant.
use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strum::{EnumString, IntoStaticStr, VariantArray};

/// The eight kinds of share token of orthanc-auth-service, with their wire names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumString, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum TokenType {
    OsimisViewerPublication,
    StoneViewerPublication,
    OhifViewerPublication,
    VolviewViewerPublication,
    MeddreamViewerPublication,
    MeddreamInstantLink,
    ViewerInstantLink,
    DownloadInstantLink,
}

impl TokenType {
    pub const ALL: &'static [TokenType] = TokenType::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Exact, case-sensitive match on the wire name (the Python service's enum is case-sensitive too).
    pub fn parse(name: &str) -> Option<TokenType> {
        name.parse().ok()
    }

    /// Every wire name, comma-separated, for error details.
    pub fn known_names() -> String {
        names(Self::ALL.iter().map(|t| t.as_str()))
    }

    /// Publications are opened later from a link (through the landing page); instant links are
    /// handed to a viewer right away and have no landing-page form.
    pub fn is_publication(self) -> bool {
        matches!(
            self,
            TokenType::OsimisViewerPublication
                | TokenType::StoneViewerPublication
                | TokenType::OhifViewerPublication
                | TokenType::VolviewViewerPublication
                | TokenType::MeddreamViewerPublication
        )
    }
}

/// Orthanc resource levels as the authorization plugin names them.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Level {
    Patient,
    Study,
    Series,
    Instance,
    System,
}

impl Level {
    pub const ALL: &'static [Level] = Level::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(name: &str) -> Option<Level> {
        name.parse().ok()
    }
}

/// One word of the permissions vocabulary (PROTOCOL.md).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Permission {
    All,
    View,
    Download,
    Delete,
    Send,
    Modify,
    Anonymize,
    Upload,
    #[strum(serialize = "q-r-remote-modalities")]
    QRRemoteModalities,
    Settings,
    ApiView,
    EditLabels,
    AdminPermissions,
    AuditLogs,
    Worklists,
    Share,
}

impl Permission {
    pub const ALL: &'static [Permission] = Permission::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(name: &str) -> Option<Permission> {
        name.parse().ok()
    }

    /// Every wire name, comma-separated, for error details.
    pub fn known_names() -> String {
        names(Self::ALL.iter().map(|p| p.as_str()))
    }

    /// Parses every name; the error lists the names that are not permissions.
    pub fn parse_all(names: &[String]) -> Result<Vec<Permission>, Vec<String>> {
        let mut unknown = Vec::new();
        let mut known = Vec::with_capacity(names.len());
        for name in names {
            match Permission::parse(name) {
                Some(p) => known.push(p),
                None => unknown.push(name.clone()),
            }
        }
        if unknown.is_empty() {
            Ok(known)
        } else {
            Err(unknown)
        }
    }
}

fn names<'a>(all: impl Iterator<Item = &'a str>) -> String {
    all.collect::<Vec<_>>().join(", ")
}

macro_rules! display_and_serde_by_name {
    ($t:ty, $unknown:expr) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = Cow::<'de, str>::deserialize(d)?;
                <$t>::parse(&name).ok_or_else(|| serde::de::Error::custom($unknown(&name)))
            }
        }
    };
}

// Error texts as before the move: a token type's never echoes the name (it may be a token
// pasted in the wrong field); a permission's names it, for the roles file's author.
display_and_serde_by_name!(TokenType, |_: &str| "unknown token type".to_owned());
display_and_serde_by_name!(Permission, |name: &str| format!(
    "unknown permission \"{name}\" (known: {})",
    Permission::known_names()
));

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn token_types_have_the_protocol_names() {
        let names: Vec<_> = TokenType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "osimis-viewer-publication",
                "stone-viewer-publication",
                "ohif-viewer-publication",
                "volview-viewer-publication",
                "meddream-viewer-publication",
                "meddream-instant-link",
                "viewer-instant-link",
                "download-instant-link"
            ]
        );
        for t in TokenType::ALL {
            assert_eq!(TokenType::parse(t.as_str()), Some(*t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(TokenType::parse("VIEWER-INSTANT-LINK"), None);
        assert_eq!(TokenType::parse("invalid"), None);
    }

    #[test]
    fn permissions_have_the_protocol_names() {
        assert_eq!(
            Permission::known_names(),
            "all, view, download, delete, send, modify, anonymize, upload, q-r-remote-modalities, \
             settings, api-view, edit-labels, admin-permissions, audit-logs, worklists, share"
        );
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
        }
        assert_eq!(Permission::parse("View"), None);
        assert_eq!(
            Permission::parse_all(&["view".into(), "fly".into(), "swim".into()]),
            Err(vec!["fly".to_owned(), "swim".to_owned()])
        );
    }

    #[test]
    fn levels_have_the_plugin_names() {
        let names: Vec<_> = Level::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(names, ["patient", "study", "series", "instance", "system"]);
        assert_eq!(
            serde_json::to_string(&Level::Series).ok().as_deref(),
            Some("\"series\"")
        );
        assert_eq!(Level::parse("Study"), None);
    }

    #[test]
    fn serde_uses_the_wire_names_and_unknown_type_errors_do_not_echo() {
        let t: TokenType = serde_json::from_str("\"ohif-viewer-publication\"").unwrap();
        assert_eq!(t, TokenType::OhifViewerPublication);
        let e = serde_json::from_str::<TokenType>("\"eyJsecret\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("unknown token type"), "{e}");
        let e = serde_json::from_str::<Permission>("\"fly\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("\"fly\"") && e.contains("worklists"), "{e}");
        assert_eq!(
            serde_json::to_string(&Permission::QRRemoteModalities).ok(),
            Some("\"q-r-remote-modalities\"".to_owned())
        );
    }
}
