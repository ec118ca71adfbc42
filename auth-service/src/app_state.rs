//! What every handler shares, built once at start from the settings.
use chrono::Utc;

use crate::api::ValidateRequest;
use crate::settings::Settings;
use crate::share_token::{fingerprint, ShareTokenCodec};
use crate::viewer_links::ViewerLinks;

pub struct AppState {
    pub codec: ShareTokenCodec,
    pub links: ViewerLinks,
    pub server_id: Option<String>,
}

impl AppState {
    pub fn new(settings: &Settings) -> Self {
        AppState {
            codec: ShareTokenCodec::new(&settings.secret_key),
            links: ViewerLinks::new(settings),
            server_id: settings.server_id.clone(),
        }
    }

    /// The access decision for one plugin call. Every doubt is a denial.
    pub fn grants(&self, token: &str, request: &ValidateRequest<'_>) -> bool {
        let denied = |reason: &str| {
            if tracing::enabled!(tracing::Level::DEBUG) {
                tracing::debug!(token = %fingerprint(token), reason, "access denied");
            }
            false
        };
        let share = match self.codec.decode(token) {
            Ok(share) => share,
            Err(e) => return denied(&e.to_string()),
        };
        if share.is_expired(Utc::now()) {
            return denied("expired");
        }
        if let Some(expected) = &self.server_id {
            if request.server_id.as_deref() != Some(expected.as_str()) {
                return denied("server-id does not match SERVER_ID");
            }
        }
        if !share.grants(request.dicom_uid.as_deref(), request.orthanc_id.as_deref()) {
            return denied("resource not shared by this token");
        }
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(token = %fingerprint(token), "access granted");
        }
        true
    }
}
