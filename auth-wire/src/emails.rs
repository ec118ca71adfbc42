//! `POST /emails/send`.
use serde::{Deserialize, Serialize};

/// `POST /emails/send` body. The fields are optional here so that a missing one gets the
/// `{"success": false, ...}` 400 answer of the Python service rather than a 422 (the OpenAPI
/// schema says which are required).
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = json!({"destination-email": "dr.house@example.org", "email-title": "A study shared with you", "email-content": "<p>Open the study: <a href=\"https://pacs.example.org/share/?token=PROTOCOL.md-token-1\">link</a></p>", "layout-template": null})))]
pub struct SendEmailRequest {
    /// One or more addresses, separated by commas, semicolons or spaces: `local@domain` with an
    /// ASCII dot-atom local part and a host name (labels of letters, digits and inner hyphens,
    /// at most 63 characters each).
    #[serde(rename = "destination-email", default)]
    #[cfg_attr(feature = "openapi", schema(required = true, schema_with = crate::openapi::email_list))]
    pub destination_email: Option<String>,
    #[serde(rename = "email-title", default)]
    #[cfg_attr(feature = "openapi", schema(required = true, nullable = false))]
    pub email_title: Option<String>,
    /// HTML: cleaned of anything active, then put in the layout's `{email-content}`. At most
    /// 65536 characters.
    #[serde(rename = "email-content", default)]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, nullable = false, max_length = 65536)
    )]
    pub email_content: Option<String>,
    /// A template of `GET /emails/templates`; absent, null or empty: the content alone.
    #[serde(rename = "layout-template", default)]
    pub layout_template: Option<String>,
}

/// `POST /emails/send` answer, on success and on failure.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = json!({"success": true, "details": null})))]
pub struct SendEmailResponse {
    pub success: bool,
    /// Why nothing was sent; null on success.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub details: Option<String>,
}
