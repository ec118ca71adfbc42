//! What every handler shares, built once at start from the settings.
use std::sync::Arc;

use anyhow::Context;
use meddream_bridge::{MeddreamClient, MeddreamError};

use crate::access::AccessPolicy;
use crate::domain::{Level, Resource, ShareId};
use crate::error::Error;
use crate::metrics::{DependencyCalls, Metrics};
use crate::protection::CodeKey;
use crate::settings::{LinkProtectionSettings, Settings};
use crate::share_token::ShareTokenCodec;
use crate::shares::ShareRegistry;
use crate::viewer_links::ViewerLinks;

pub struct AppState {
    /// The access decision (and the share-token codec it owns).
    pub access: AccessPolicy,
    pub links: ViewerLinks,
    /// Present when MEDDREAM_TOKEN_SERVICE_URL is set.
    pub meddream: Option<MeddreamClient>,
    /// The MedDream link last minted to open each publication, for MEDDREAM_LINK_REUSE_SECONDS
    /// (none when that is 0): a flood of opens of one link costs MedDream one token per period.
    meddream_links: Option<moka::future::Cache<ShareId, String>>,
    pub shares: Arc<ShareRegistry>,
    pub meddream_calls: DependencyCalls,
    pub metrics: Arc<Metrics>,
    pub protection: ProtectedLinks,
}

/// What protected links need besides the registry.
pub struct ProtectedLinks {
    pub settings: LinkProtectionSettings,
    /// The key of the codes' stored hashes (from `SECRET_KEY`).
    pub codes: CodeKey,
    /// Whether `ENABLE_EMAILS` is on (codes are sent by e-mail).
    pub emails: bool,
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
        let meddream_links = settings
            .meddream
            .as_ref()
            .map(|m| m.link_reuse)
            .filter(|reuse| !reuse.is_zero())
            .map(|reuse| {
                moka::future::Cache::builder()
                    .max_capacity(MEDDREAM_LINKS_KEPT)
                    .time_to_live(reuse)
                    .build()
            });
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
            meddream_links,
            shares,
            protection: ProtectedLinks {
                settings: settings.link_protection.clone(),
                codes: CodeKey::new(&settings.secret_key),
                emails: settings.emails.is_some(),
            },
        })
    }

    /// A fresh MedDream instant link for study-level resources: `(meddream token, url)`.
    pub async fn meddream_instant_link(
        &self,
        resources: &[Resource],
    ) -> Result<(String, String), Error> {
        let client = self.meddream.as_ref().ok_or_else(|| Error::NotFound {
            error: "token type not configured",
            detail: "MedDream links need MEDDREAM_TOKEN_SERVICE_URL to be set on auth-service"
                .into(),
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

    /// The MedDream link that opens a publication: the one minted for this share within
    /// MEDDREAM_LINK_REUSE_SECONDS, else a new one. Concurrent opens of one share wait for the
    /// same mint; a failed mint is not remembered.
    pub async fn meddream_publication_link(
        &self,
        id: &ShareId,
        resources: &[Resource],
    ) -> Result<String, Error> {
        let mint = async {
            self.meddream_instant_link(resources)
                .await
                .map(|(_, url)| url)
        };
        match &self.meddream_links {
            None => mint.await,
            Some(links) => links
                .try_get_with(*id, mint)
                .await
                .map_err(|shared| Arc::try_unwrap(shared).unwrap_or_else(|e| same_answer(&e))),
        }
    }

    pub fn codec(&self) -> &ShareTokenCodec {
        self.access.codec()
    }
}

/// A failed mint answers every open that waited for it: the same status and words.
fn same_answer(e: &Error) -> Error {
    match e {
        Error::BadRequest { error, detail } => Error::BadRequest {
            error,
            detail: detail.clone(),
        },
        Error::Unavailable { error, detail } => Error::Unavailable {
            error,
            detail: detail.clone(),
        },
        Error::BadGateway { error, detail } => Error::BadGateway {
            error,
            detail: detail.clone(),
        },
        // A mint fails with one of the above only; anything else is MedDream's fault too.
        _ => Error::BadGateway {
            error: "meddream token service failed",
            detail: None,
        },
    }
}

/// Publications whose MedDream link is remembered at most (a few hundred bytes each).
const MEDDREAM_LINKS_KEPT: u64 = 10_000;

fn meddream_error(e: MeddreamError) -> Error {
    tracing::warn!(error = %e, "MedDream token service call failed");
    match e {
        MeddreamError::NoStudy => Error::bad_request(
            "meddream needs studies",
            "resources: at least one study is required for MedDream links",
        ),
        MeddreamError::Busy => Error::Unavailable {
            error: "meddream token service busy",
            detail: Some(
                "too many MedDream links are being prepared at once; try again in a few seconds"
                    .into(),
            ),
        },
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
