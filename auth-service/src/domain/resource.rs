use serde::{Deserialize, Serialize};

use super::Level;

/// One shared resource. Serialised with the token's snake_case keys in this exact order
/// (dicom_uid, orthanc_id, url, level): the order is part of the token bytes.
/// Reading also accepts the dashed names, as older clients and the Python service do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(default, alias = "dicom-uid")]
    pub dicom_uid: Option<String>,
    #[serde(default, alias = "orthanc-id")]
    pub orthanc_id: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    pub level: Level,
}

/// The longest DICOM UID (PS3.5 §9.1) and PatientID (VR LO).
const MAX_DICOM_ID_CHARS: usize = 64;

impl Resource {
    /// Which id of a resource being shared is not one Orthanc or DICOM could hold, and what it
    /// should be: `(field, rule)`. Ids end up in viewer links and are compared with what the
    /// plugin and the gate ask about, so anything else could only open nothing, or something
    /// else than meant (`..`, or `%2C` and `%2F` that viewers decode). An empty id is no id, as
    /// the Python service reads it. Shares read back from tokens are not checked (tokens the
    /// Python service signed keep validating as before).
    pub fn id_problem(&self) -> Option<(&'static str, &'static str)> {
        if let Some(uid) = given(&self.dicom_uid) {
            // At patient level the plugin names a patient by its PatientID, not a UID.
            if self.level == Level::Patient {
                if !is_patient_id(uid) {
                    return Some((
                        "dicom-uid",
                        "not a PatientID (at most 64 characters, no control character or backslash)",
                    ));
                }
            } else if !is_dicom_uid(uid) {
                return Some((
                    "dicom-uid",
                    "not a DICOM UID (digits and dots, at most 64 characters)",
                ));
            }
        }
        if given(&self.orthanc_id).is_some_and(|id| !is_orthanc_id(id)) {
            return Some((
                "orthanc-id",
                "not an Orthanc id (five groups of 8 lower-case hex digits joined by '-')",
            ));
        }
        None
    }
}

fn given(id: &Option<String>) -> Option<&str> {
    id.as_deref().filter(|i| !i.is_empty())
}

/// Digits in dot-separated components, none empty, at most 64 characters.
pub fn is_dicom_uid(text: &str) -> bool {
    text.len() <= MAX_DICOM_ID_CHARS
        && text
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// Orthanc's resource id: a SHA-1 written as `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`.
pub fn is_orthanc_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 44
        && bytes.iter().enumerate().all(|(i, &b)| {
            if i % 9 == 8 {
                b == b'-'
            } else {
                b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
            }
        })
}

/// A DICOM LO value: at most 64 characters, no control character, no backslash (the value
/// separator).
fn is_patient_id(text: &str) -> bool {
    text.chars().count() <= MAX_DICOM_ID_CHARS && !text.chars().any(|c| c.is_control() || c == '\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(level: Level, uid: Option<&str>, oid: Option<&str>) -> Option<&'static str> {
        Resource {
            dicom_uid: uid.map(str::to_owned),
            orthanc_id: oid.map(str::to_owned),
            url: None,
            level,
        }
        .id_problem()
        .map(|(field, _)| field)
    }

    #[test]
    fn ids_are_dicom_uids_and_orthanc_ids() {
        let oid = "6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f";
        assert_eq!(
            problem(
                Level::Study,
                Some("1.2.840.113619.2.55.3.604688119.971.1"),
                Some(oid)
            ),
            None
        );
        let longest = "1.".repeat(31) + "12"; // 64 characters
        assert_eq!(problem(Level::Series, Some(&longest), None), None);
        assert_eq!(
            problem(Level::Study, Some(""), Some("")),
            None,
            "empty is no id"
        );
        assert_eq!(problem(Level::Study, None, None), None);
        for bad in [
            "..",
            "1..2",
            ".1",
            "1.",
            "1.2,3.4",
            "1.2/3",
            "\"><script>",
            "1\u{0}2",
            "a.b",
            " 1.2",
        ] {
            assert_eq!(
                problem(Level::Study, Some(bad), None),
                Some("dicom-uid"),
                "{bad:?}"
            );
        }
        let too_long = "1.".repeat(32) + "1";
        assert_eq!(
            problem(Level::Instance, Some(&too_long), None),
            Some("dicom-uid")
        );
        for bad in [
            "o000",
            "x",
            "..",
            "6B1F3E2A-0C5D7E88-1A2B3C4D-5E6F7A8B-9C0D1E2F",
            "6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2",
            "6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f0",
            "6b1f3e2a_0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f",
            "6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2g",
        ] {
            assert_eq!(
                problem(Level::Study, None, Some(bad)),
                Some("orthanc-id"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_patient_is_named_by_its_patient_id() {
        assert_eq!(problem(Level::Patient, Some("GATE-P1"), None), None);
        assert_eq!(problem(Level::Patient, Some("12345^ABC é"), None), None);
        assert_eq!(
            problem(Level::Patient, Some("a\\b"), None),
            Some("dicom-uid")
        );
        assert_eq!(
            problem(Level::Patient, Some("a\nb"), None),
            Some("dicom-uid")
        );
        assert_eq!(
            problem(Level::Patient, Some(&"x".repeat(65)), None),
            Some("dicom-uid")
        );
        assert_eq!(
            problem(Level::Study, Some("GATE-P1"), None),
            Some("dicom-uid")
        );
    }
}
