//! What every handler shares, built once at start from the settings.
use std::sync::Arc;

use anyhow::Context;
use meddream_bridge::{MeddreamClient, MeddreamError};

use crate::access::AccessPolicy;
use crate::domain::{Level, Resource};
use crate::error::Error;
use crate::metrics::{DependencyCalls, Metrics};
use crate::settings::Settings;
use crate::share_token::ShareTokenCodec;
use crate::shares::ShareRegistry;
use crate::viewer_links::ViewerLinks;

pub struct AppState {
    /// The access decision (and the share-token codec it owns).
    pub access: AccessPolicy,
    pub links: ViewerLinks,
    /// Present when MEDDREAM_TOKEN_SERVICE_URL is set.
    pub meddream: Option<MeddreamClient>,
    pub shares: Arc<ShareRegistry>,
    pub meddream_calls: DependencyCalls,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(settings: &Settings, shares: Arc<ShareRegistry>) -> anyhow::Result<Self> {
        let meddream = match &settings.meddream {
            None => None,
            Some(m) => Some(
                MeddreamClient::new(m.token_service_url.clone(), m.connect_timeout, m.timeout)
                    .context("Failed to build the MedDream token service client")?,
            ),
        };
        let metrics = Metrics::new(settings.operations.metrics_enabled)?;
        let meddream_calls = DependencyCalls::new("meddream")?;
        metrics.register(&meddream_calls)?;
        Ok(AppState {
            meddream_calls,
            metrics: Arc::new(metrics),
            access: AccessPolicy::new(
                ShareTokenCodec::new(&settings.secret_key),
                settings.server_id.clone(),
                shares.known().clone(),
                shares.require_registered(),
            )
            .sighting(shares.clone()),
            links: ViewerLinks::new(settings),
            meddream,
            shares,
        })
    }

    /// A fresh MedDream instant link for study-level resources: `(meddream token, url)`.
    pub async fn meddream_instant_link(
        &self,
        resources: &[Resource],
    ) -> Result<(String, String), Error> {
        let client = self.meddream.as_ref().ok_or_else(|| {
            Error::bad_request(
                "token type not configured",
                "MedDream links need MEDDREAM_TOKEN_SERVICE_URL to be set on auth-service",
            )
        })?;
        if let Some(index) = resources.iter().position(|r| r.level != Level::Study) {
            return Err(Error::bad_request(
                "meddream needs studies",
                format!("resources[{index}].level must be study for MedDream links"),
            ));
        }
        let uids: Vec<String> = resources
            .iter()
            .filter_map(|r| r.dicom_uid.clone())
            .collect();
        let token = self
            .meddream_calls
            .time(client.instant_token(&uids))
            .await
            .map_err(meddream_error)?;
        let url = self
            .links
            .meddream_url(resources, &token)
            .map_err(|e| e.into_error(crate::domain::TokenType::MeddreamInstantLink))?;
        Ok((token, url))
    }

    pub fn codec(&self) -> &ShareTokenCodec {
        self.access.codec()
    }
}

fn meddream_error(e: MeddreamError) -> Error {
    tracing::warn!(error = %e, "MedDream token service call failed");
    match e {
        MeddreamError::NoStudy => Error::bad_request(
            "meddream needs studies",
            "resources: at least one study is required for MedDream links",
        ),
        MeddreamError::Unreachable(_) => Error::BadGateway {
            error: "meddream token service unreachable",
            detail: None,
        },
        MeddreamError::Status(_) => Error::BadGateway {
            error: "meddream token service failed",
            detail: e.status_detail(),
        },
        other => Error::BadGateway {
            error: "meddream token service failed",
            detail: Some(other.to_string()),
        },
    }
}
