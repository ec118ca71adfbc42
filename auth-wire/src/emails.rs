//! `POST /emails/send`.
use serde::{Deserialize, Serialize};

/// `POST /emails/send` body. The fields are optional here so that a missing one gets the
/// `{"success": false, ...}` 400 answer of the Python service rather than a 422.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SendEmailRequest {
    #[serde(rename = "destination-email", default)]
    pub destination_email: Option<String>,
    #[serde(rename = "email-title", default)]
    pub email_title: Option<String>,
    #[serde(rename = "email-content", default)]
    pub email_content: Option<String>,
    #[serde(rename = "layout-template", default)]
    pub layout_template: Option<String>,
}

/// `POST /emails/send` answer, on success and on failure.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendEmailResponse {
    pub success: bool,
    pub details: Option<String>,
}
