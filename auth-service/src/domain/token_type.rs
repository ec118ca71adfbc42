use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The eight kinds of share token of orthanc-auth-service, with their wire names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    pub const ALL: [TokenType; 8] = [
        TokenType::OsimisViewerPublication,
        TokenType::StoneViewerPublication,
        TokenType::OhifViewerPublication,
        TokenType::VolviewViewerPublication,
        TokenType::MeddreamViewerPublication,
        TokenType::MeddreamInstantLink,
        TokenType::ViewerInstantLink,
        TokenType::DownloadInstantLink,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::OsimisViewerPublication => "osimis-viewer-publication",
            TokenType::StoneViewerPublication => "stone-viewer-publication",
            TokenType::OhifViewerPublication => "ohif-viewer-publication",
            TokenType::VolviewViewerPublication => "volview-viewer-publication",
            TokenType::MeddreamViewerPublication => "meddream-viewer-publication",
            TokenType::MeddreamInstantLink => "meddream-instant-link",
            TokenType::ViewerInstantLink => "viewer-instant-link",
            TokenType::DownloadInstantLink => "download-instant-link",
        }
    }

    /// Exact, case-sensitive match on the wire name (the Python service's enum is case-sensitive too).
    pub fn parse(name: &str) -> Option<TokenType> {
        TokenType::ALL.into_iter().find(|t| t.as_str() == name)
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

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TokenType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TokenType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        TokenType::parse(&name).ok_or_else(|| serde::de::Error::custom("unknown token type"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_wire_name() {
        for t in TokenType::ALL {
            assert_eq!(TokenType::parse(t.as_str()), Some(t));
        }
        assert_eq!(TokenType::parse("VIEWER-INSTANT-LINK"), None);
        assert_eq!(TokenType::parse("invalid"), None);
    }
}
