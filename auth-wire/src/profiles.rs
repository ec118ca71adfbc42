//! `POST /user/get-profile`.
use serde::{Deserialize, Serialize};

use crate::Permission;

/// `POST /user/get-profile` answer (and the anonymous-profile file). Field order is the Python
/// service's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    #[serde(rename = "authorized-labels", alias = "authorized_labels", default)]
    pub authorized_labels: Vec<String>,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    pub name: String,
    #[serde(rename = "user-id", alias = "user_id", default)]
    pub user_id: Option<String>,
    pub validity: u32,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl UserProfile {
    /// The Python service's own anonymous profile, used when no file is configured or found.
    pub fn built_in_anonymous() -> UserProfile {
        UserProfile {
            authorized_labels: vec![],
            permissions: vec![],
            name: "Anonymous".into(),
            user_id: None,
            validity: 60,
            groups: vec![],
        }
    }
}

/// `POST /user/get-profile` body.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProfileRequest {
    #[serde(rename = "token-key", default)]
    pub token_key: Option<String>,
    #[serde(rename = "token-value", default)]
    pub token_value: Option<String>,
    #[serde(rename = "user-id", default)]
    pub user_id: Option<String>,
    #[serde(rename = "server-id", default)]
    pub server_id: Option<String>,
}
