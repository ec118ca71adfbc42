//! The links a share token travels in: direct viewer links and landing-page links.
use std::borrow::Cow;
use std::fmt;

use crate::domain::{Level, Resource, TokenType};
use crate::error::Error;
use crate::settings::{OhifDataSource, PublicRoot, Settings};

/// Why a link cannot be made.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The viewer's public root (or another setting it needs) is not configured.
    NotConfigured(&'static str),
    /// A resource lacks the id this viewer addresses studies by.
    MissingId {
        index: usize,
        id: &'static str,
    },
    /// MedDream opens studies only.
    NotStudy {
        index: usize,
    },
    NoStudy,
}

impl LinkError {
    /// A type whose settings are missing is a feature that is off here: 404, as the other
    /// routes of a feature that is off. The rest are the caller's to fix: 400.
    pub fn into_error(self, token_type: TokenType) -> Error {
        match self {
            LinkError::NotConfigured(name) => Error::NotFound {
                error: "token type not configured",
                detail: format!("{token_type} links need {name} to be set on auth-service"),
            },
            LinkError::MissingId { index, id } => Error::bad_request(
                "missing resource id",
                format!("resources[{index}].{id} is required for {token_type}"),
            ),
            LinkError::NotStudy { index } => Error::bad_request(
                "meddream needs studies",
                format!("resources[{index}].level must be study for MedDream links"),
            ),
            LinkError::NoStudy => Error::bad_request(
                "meddream needs studies",
                "resources: at least one study is required for MedDream links",
            ),
        }
    }
}

pub struct ViewerLinks {
    orthanc: Option<PublicRoot>,
    landing: Option<PublicRoot>,
    ohif: Option<PublicRoot>,
    ohif_source: OhifDataSource,
    meddream_root: Option<PublicRoot>,
    meddream_service: bool,
    /// Each viewer's page under its root, joined once (a URL parse per link showed in the
    /// create profile).
    stone_page: Option<String>,
    osimis_page: Option<String>,
    volview_page: Option<String>,
    ohif_page: Option<String>,
}

impl ViewerLinks {
    pub fn new(s: &Settings) -> Self {
        ViewerLinks {
            orthanc: s.public_orthanc_root.clone(),
            landing: s.public_landing_root.clone(),
            ohif: s.public_ohif_root.clone(),
            ohif_source: s.ohif_data_source,
            meddream_root: s.public_meddream_root.clone(),
            meddream_service: s.meddream.is_some(),
            stone_page: page(&s.public_orthanc_root, "stone-webviewer/index.html"),
            osimis_page: page(&s.public_orthanc_root, "osimis-viewer/app/index.html"),
            volview_page: page(&s.public_orthanc_root, "volview/index.html"),
            ohif_page: page(&s.public_ohif_root, "viewer"),
        }
    }

    /// Checks that a token of this type can be handed out with a working link.
    pub fn check(&self, t: TokenType, resources: &[Resource]) -> Result<(), LinkError> {
        if let Some(setting) = self.missing_setting(t) {
            return Err(LinkError::NotConfigured(setting));
        }
        let needs = self.needs(t);
        if let Some(id) = needs.id {
            every(resources, id)?;
        }
        if needs.studies_only {
            // MedDream opens studies only: a publication of anything else could never open.
            if let Some(index) = resources.iter().position(|r| r.level != Level::Study) {
                return Err(LinkError::NotStudy { index });
            }
            if resources.is_empty() {
                return Err(LinkError::NoStudy);
            }
        }
        Ok(())
    }

    /// The setting a link of this type needs that is not set, if any.
    pub fn missing_setting(&self, t: TokenType) -> Option<&'static str> {
        use TokenType::*;
        let missing = |root: &Option<PublicRoot>, name| root.is_none().then_some(name);
        match t {
            StoneViewerPublication | OsimisViewerPublication | VolviewViewerPublication => {
                missing(&self.orthanc, "PUBLIC_ORTHANC_ROOT")
            }
            OhifViewerPublication => missing(&self.ohif, "PUBLIC_OHIF_ROOT"),
            MeddreamInstantLink => self.check_meddream().err(),
            MeddreamViewerPublication => missing(&self.landing, "PUBLIC_LANDING_ROOT")
                .or_else(|| self.check_meddream().err()),
            ViewerInstantLink | DownloadInstantLink => None,
        }
    }

    /// What every resource of a share of this type must be for its link to open, here (OHIF's
    /// depends on OHIF_DATA_SOURCE).
    pub fn needs(&self, t: TokenType) -> Needs {
        use TokenType::*;
        let id = match t {
            StoneViewerPublication | MeddreamInstantLink | MeddreamViewerPublication => {
                Some(Id::DicomUid)
            }
            OsimisViewerPublication | VolviewViewerPublication => Some(Id::OrthancId),
            OhifViewerPublication => Some(match self.ohif_source {
                OhifDataSource::DicomWeb => Id::DicomUid,
                OhifDataSource::DicomJson => Id::OrthancId,
            }),
            ViewerInstantLink | DownloadInstantLink => None,
        };
        Needs {
            id,
            studies_only: matches!(t, MeddreamInstantLink | MeddreamViewerPublication),
        }
    }

    fn check_meddream(&self) -> Result<(), &'static str> {
        if !self.meddream_service {
            return Err("MEDDREAM_TOKEN_SERVICE_URL");
        }
        if self.meddream_root.is_none() {
            return Err("PUBLIC_MEDDREAM_ROOT");
        }
        Ok(())
    }

    /// Whether links of this type go through the landing page (which redirects to the viewer).
    pub fn through_landing(&self, t: TokenType) -> bool {
        self.landing.is_some() && t.is_publication()
    }

    /// The link handed out at creation: the landing page when configured, else the viewer.
    /// MedDream instant links are made by the caller (they need a MedDream token).
    pub fn share_url(
        &self,
        t: TokenType,
        resources: &[Resource],
        token: &str,
    ) -> Result<Option<String>, LinkError> {
        match (&self.landing, t.is_publication()) {
            (Some(landing), true) => Ok(Some(format!("{}?token={token}", landing.text))),
            (None, true) if t == TokenType::MeddreamViewerPublication => {
                Err(LinkError::NotConfigured("PUBLIC_LANDING_ROOT"))
            }
            _ => self.viewer_url(t, resources, token),
        }
    }

    /// The direct viewer link for a publication (what the landing page redirects to).
    /// None for types without a viewer link of their own.
    pub fn viewer_url(
        &self,
        t: TokenType,
        resources: &[Resource],
        token: &str,
    ) -> Result<Option<String>, LinkError> {
        use TokenType::*;
        self.check(t, resources)?;
        let uids = Ids(resources, Id::DicomUid);
        let oids = Ids(resources, Id::OrthancId);
        let token = query_value(token);
        let url = match t {
            StoneViewerPublication => with_query(
                &self.stone_page,
                format_args!("study={uids}&selectedStudies={uids}&token={token}"),
            ),
            OsimisViewerPublication => with_query(
                &self.osimis_page,
                format_args!("pickableStudyIds={oids}&selectedStudyIds={oids}&token={token}"),
            ),
            VolviewViewerPublication => {
                let urls: Vec<String> = id_iter(resources, Id::OrthancId)
                    .map(|i| format!("../studies/{i}/archive"))
                    .collect();
                with_query(
                    &self.volview_page,
                    format_args!("names=[archive.zip]&urls={}&token={token}", urls.join(",")),
                )
            }
            OhifViewerPublication => match self.ohif_source {
                OhifDataSource::DicomWeb => with_query(
                    &self.ohif_page,
                    format_args!("StudyInstanceUIDs={uids}&token={token}"),
                ),
                OhifDataSource::DicomJson => {
                    // OHIF's dicom-json source opens one study per URL: the first one.
                    let first = id_iter(resources, Id::OrthancId).next().unwrap_or_default();
                    with_query(
                        &self.ohif_page,
                        format_args!("url=../studies/{first}/ohif-dicom-json&token={token}"),
                    )
                }
            },
            MeddreamViewerPublication
            | MeddreamInstantLink
            | ViewerInstantLink
            | DownloadInstantLink => None,
        };
        Ok(url)
    }

    /// `{PUBLIC_MEDDREAM_ROOT}?study=U1,U2&token=T` for a MedDream token.
    pub fn meddream_url(
        &self,
        resources: &[Resource],
        meddream_token: &str,
    ) -> Result<String, LinkError> {
        let root = self
            .meddream_root
            .as_ref()
            .ok_or(LinkError::NotConfigured("PUBLIC_MEDDREAM_ROOT"))?;
        every(resources, Id::DicomUid)?;
        Ok(format!(
            "{}?study={}&token={}",
            root.text,
            Ids(resources, Id::DicomUid),
            query_value(meddream_token)
        ))
    }
}

/// An id a resource carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Id {
    DicomUid,
    OrthancId,
}

/// What every resource of a share must be for its link to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// The id its viewer addresses it by.
    pub id: Option<Id>,
    /// Study level, and at least one (MedDream).
    pub studies_only: bool,
}

fn id_of(r: &Resource, id: Id) -> Option<&str> {
    match id {
        Id::DicomUid => r.dicom_uid.as_deref(),
        Id::OrthancId => r.orthanc_id.as_deref(),
    }
    .filter(|v| !v.is_empty())
}

fn every(resources: &[Resource], id: Id) -> Result<(), LinkError> {
    match resources.iter().position(|r| id_of(r, id).is_none()) {
        None => Ok(()),
        Some(index) => Err(LinkError::MissingId {
            index,
            id: match id {
                Id::DicomUid => "dicom-uid",
                Id::OrthancId => "orthanc-id",
            },
        }),
    }
}

fn id_iter(resources: &[Resource], id: Id) -> impl Iterator<Item = Cow<'_, str>> + '_ {
    resources
        .iter()
        .filter_map(move |r| id_of(r, id))
        .map(query_value)
}

/// The resources' ids of one kind, comma-separated, written straight into the link.
struct Ids<'a>(&'a [Resource], Id);

impl fmt::Display for Ids<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in id_iter(self.0, self.1).enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(&id)?;
        }
        Ok(())
    }
}

/// URL-join like Python's `urljoin(root, path)` (a root without trailing `/` loses its last
/// segment, as with the Python service).
fn page(root: &Option<PublicRoot>, path: &str) -> Option<String> {
    Some(root.as_ref()?.url.join(path).ok()?.to_string())
}

/// A viewer page (see [`page`]) with the query written after it, in one buffer (sized for a
/// token and a few ids).
fn with_query(page: &Option<String>, query: fmt::Arguments) -> Option<String> {
    let page = page.as_ref()?;
    let mut url = String::with_capacity(page.len() + 512);
    url.push_str(page);
    url.push('?');
    // Writing into a String cannot fail.
    let _ = fmt::Write::write_fmt(&mut url, query);
    Some(url)
}

/// Ids and tokens go into query strings unchanged when they are plain (DICOM UIDs, Orthanc ids,
/// JWTs always are); anything else is percent-encoded so it cannot add parameters.
fn query_value(v: &str) -> Cow<'_, str> {
    crate::url_text::encode(v)
}
