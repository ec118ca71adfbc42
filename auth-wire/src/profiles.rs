//! `POST /user/get-profile`.
use serde::{Deserialize, Serialize};

use crate::Permission;

/// `POST /user/get-profile` answer (and the anonymous-profile file). Field order is the Python
/// service's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = json!({"authorized-labels": ["*"], "permissions": ["view", "download", "share", "send"], "name": "Doctor Who", "user-id": "5b8b8f4e-1f63-4c1e-9c8a-000000000002", "validity": 60, "groups": ["/doctors"]})))]
pub struct UserProfile {
    /// The labels of the studies the user may see (`*`: all).
    #[serde(rename = "authorized-labels", alias = "authorized_labels", default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub authorized_labels: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub permissions: Vec<Permission>,
    pub name: String,
    #[serde(rename = "user-id", alias = "user_id", default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub user_id: Option<String>,
    /// Seconds the plugin may cache this profile.
    pub validity: u32,
    /// The user's Keycloak groups.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
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

/// `POST /user/get-profile` body. No token: the anonymous profile.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = json!({"server-id": null, "token-key": "Authorization", "token-value": "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJlYWxtLWtleS0xIn0.eyJzdWIiOiJkb2N0b3IifQ.c2lnbmF0dXJl"})))]
pub struct ProfileRequest {
    /// `api-key` when token-value is a Keycloak user's api-key (ENABLE_KEYCLOAK_API_KEYS);
    /// otherwise the name of the header the token came in.
    #[serde(rename = "token-key", default)]
    pub token_key: Option<String>,
    /// A Keycloak access token (`Bearer ...`), or an api-key.
    #[serde(rename = "token-value", default)]
    pub token_value: Option<String>,
    /// Alone: the profile of this Keycloak user (by id).
    #[serde(rename = "user-id", default)]
    pub user_id: Option<String>,
    /// The plugin's WebServiceIdentifier (not read).
    #[serde(rename = "server-id", default)]
    pub server_id: Option<String>,
}
