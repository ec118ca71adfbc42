use super::{ExpirationDate, Resource, ShareId, TokenType};

/// What a token says of link protection (claims of ours; tokens without them are plain, as the
/// Python service's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Guard {
    /// A plain share token.
    #[default]
    Open,
    /// The token of a protected link, with its nonce: it opens the landing page's password or
    /// code form, never data.
    Protected(String),
    /// A visitor's session on a protected share they unlocked: the share's registry id.
    Unlocked(ShareId),
}

/// What a share token says, once its signature and claims have been checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareToken {
    pub id: Option<String>,
    pub resources: Vec<Resource>,
    /// None for old tokens without a type: they still validate (the Python service grants them),
    /// but the landing page cannot open them.
    pub token_type: Option<TokenType>,
    pub expiration_date: Option<ExpirationDate>,
    pub validity_duration: Option<i64>,
    pub guard: Guard,
}

impl ShareToken {
    /// The Python service's rule: a requested id counts only when every shared resource carries
    /// that kind of id; each such id must be among them; and at least one id must have been checked.
    pub fn grants(&self, dicom_uid: Option<&str>, orthanc_id: Option<&str>) -> bool {
        let mut checked = false;
        if let Some(uid) = dicom_uid.filter(|u| !u.is_empty()) {
            if self
                .resources
                .iter()
                .all(|r| r.dicom_uid.as_deref().is_some_and(|u| !u.is_empty()))
            {
                if !self
                    .resources
                    .iter()
                    .any(|r| r.dicom_uid.as_deref() == Some(uid))
                {
                    return false;
                }
                checked = true;
            }
        }
        if let Some(oid) = orthanc_id.filter(|o| !o.is_empty()) {
            if self
                .resources
                .iter()
                .all(|r| r.orthanc_id.as_deref().is_some_and(|o| !o.is_empty()))
            {
                if !self
                    .resources
                    .iter()
                    .any(|r| r.orthanc_id.as_deref() == Some(oid))
                {
                    return false;
                }
                checked = true;
            }
        }
        checked
    }

    /// Whether the share holds this very resource of Orthanc's hierarchy: one of its resources
    /// of the same `level` whose every id (non-empty) equals the resource's. The gate asks it
    /// for the requested resource and each parent, so a share opens its resource and what lies
    /// below it, and never a resource of another level whose id or UID merely equals its own.
    pub fn holds(&self, level: super::Level, dicom_uid: &str, orthanc_id: &str) -> bool {
        self.resources.iter().any(|r| {
            let uid = r.dicom_uid.as_deref().filter(|u| !u.is_empty());
            let oid = r.orthanc_id.as_deref().filter(|o| !o.is_empty());
            r.level == level
                && (uid.is_some() || oid.is_some())
                && uid.is_none_or(|u| u == dicom_uid)
                && oid.is_none_or(|o| o == orthanc_id)
        })
    }

    /// Heap bytes held, roughly: what a cache of shares weighs them by.
    pub fn approximate_size(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        std::mem::size_of::<Self>()
            + text(&self.id)
            + self
                .resources
                .iter()
                .map(|r| {
                    std::mem::size_of::<super::Resource>()
                        + text(&r.dicom_uid)
                        + text(&r.orthanc_id)
                        + text(&r.url)
                })
                .sum::<usize>()
    }

    pub fn is_expired(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.expiration_date.is_some_and(|d| d.is_past(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Level;

    fn res(uid: Option<&str>, oid: Option<&str>) -> Resource {
        Resource {
            dicom_uid: uid.map(str::to_owned),
            orthanc_id: oid.map(str::to_owned),
            url: None,
            level: Level::Study,
        }
    }
    fn share(resources: Vec<Resource>) -> ShareToken {
        ShareToken {
            id: None,
            resources,
            token_type: None,
            expiration_date: None,
            validity_duration: None,
            guard: Guard::Open,
        }
    }

    #[test]
    fn id_matching_follows_the_python_table() {
        let both = share(vec![res(Some("U1"), Some("O1"))]);
        assert!(both.grants(Some("U1"), None));
        assert!(both.grants(None, Some("O1")));
        assert!(!both.grants(Some("U1"), Some("O2")));
        assert!(!both.grants(Some("U2"), Some("O1")));
        assert!(!both.grants(None, None));
        let uid_only = share(vec![res(Some("U1"), None)]);
        assert!(!uid_only.grants(None, Some("O1")));
        assert!(uid_only.grants(Some("U1"), Some("O2")));
        let two = share(vec![
            res(Some("U1"), Some("O1")),
            res(Some("U2"), Some("O2")),
        ]);
        assert!(two.grants(Some("U1"), Some("O2")));
        let mixed = share(vec![res(Some("U1"), None), res(None, Some("O2"))]);
        assert!(!mixed.grants(Some("U1"), Some("O2")));
        let empty = share(vec![]);
        assert!(!empty.grants(Some("U1"), Some("O1")));
        assert!(!both.grants(Some(""), None));
    }

    #[test]
    fn holding_a_resource_takes_its_level_and_every_id_it_carries() {
        let at = |level, uid: Option<&str>, oid: Option<&str>| Resource {
            level,
            ..res(uid, oid)
        };
        let study = share(vec![at(Level::Study, Some("1.2"), Some("O1"))]);
        assert!(study.holds(Level::Study, "1.2", "O1"));
        assert!(
            !study.holds(Level::Study, "1.2", "O2"),
            "both ids must match"
        );
        assert!(!study.holds(Level::Study, "1.3", "O1"));
        assert!(
            !study.holds(Level::Patient, "1.2", "O1"),
            "a patient whose PatientID equals the study's UID"
        );
        assert!(!study.holds(Level::Series, "1.2", "O1"));
        let uid_only = share(vec![at(Level::Study, Some("1.2"), None)]);
        assert!(uid_only.holds(Level::Study, "1.2", "any"));
        assert!(!uid_only.holds(Level::Patient, "1.2", "any"));
        assert!(!uid_only.holds(Level::Study, "", "any"));
        let empty_ids = share(vec![at(Level::Study, Some(""), None)]);
        assert!(
            !empty_ids.holds(Level::Study, "", ""),
            "no id, nothing held"
        );
        let series = share(vec![at(Level::Series, None, Some("S1"))]);
        assert!(series.holds(Level::Series, "9.9", "S1"));
        assert!(!series.holds(Level::Study, "9.9", "S1"));
    }
}
