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
