//! What a user may do in Orthanc Explorer 2 and through the authorization plugin.
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One word of the permissions vocabulary (PROTOCOL.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    All,
    View,
    Download,
    Delete,
    Send,
    Modify,
    Anonymize,
    Upload,
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
    pub const ALL: [Permission; 16] = [
        Permission::All,
        Permission::View,
        Permission::Download,
        Permission::Delete,
        Permission::Send,
        Permission::Modify,
        Permission::Anonymize,
        Permission::Upload,
        Permission::QRRemoteModalities,
        Permission::Settings,
        Permission::ApiView,
        Permission::EditLabels,
        Permission::AdminPermissions,
        Permission::AuditLogs,
        Permission::Worklists,
        Permission::Share,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::All => "all",
            Permission::View => "view",
            Permission::Download => "download",
            Permission::Delete => "delete",
            Permission::Send => "send",
            Permission::Modify => "modify",
            Permission::Anonymize => "anonymize",
            Permission::Upload => "upload",
            Permission::QRRemoteModalities => "q-r-remote-modalities",
            Permission::Settings => "settings",
            Permission::ApiView => "api-view",
            Permission::EditLabels => "edit-labels",
            Permission::AdminPermissions => "admin-permissions",
            Permission::AuditLogs => "audit-logs",
            Permission::Worklists => "worklists",
            Permission::Share => "share",
        }
    }

    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == name)
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

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Permission::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown permission \"{name}\" (known: {})",
                Permission::ALL.map(Permission::as_str).join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        assert_eq!(Permission::parse("View"), None);
        assert_eq!(
            Permission::parse_all(&["view".into(), "fly".into(), "swim".into()]),
            Err(vec!["fly".to_owned(), "swim".to_owned()])
        );
    }
}
