//! Orthanc's REST API as the gate needs it: which study (and patient) a resource belongs to.
//! One pooled client; every answer is size-capped; parents are cached (bounded, concurrent misses
//! for the same resource merged into one call). Orthanc ids are hashes of the DICOM ids above
//! them, so a resource's parents never change while it exists.
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moka::future::Cache;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use super::placement::{is_orthanc_id, Anchor, DicomPath};
use crate::domain::Level;
use crate::settings::OrthancSettings;

/// The largest answer read: a series of ~20,000 instances lists their ids in about 1 MiB.
const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;
const CACHE_ENTRIES: u64 = 100_000;
/// UID look-ups can change (a study deleted and sent again under another patient): kept briefly.
const CACHE_TTL: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("no such resource in Orthanc")]
    NotFound,
    #[error("several Orthanc resources carry this UID")]
    Ambiguous,
    #[error("the path's UIDs do not belong together")]
    Mismatch,
    #[error("Orthanc unavailable: {0}")]
    Unavailable(String),
}

/// One resource on the way from the requested one up to its patient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ancestor {
    pub level: Level,
    pub orthanc_id: String,
    pub dicom_uid: String,
}

#[derive(Debug)]
struct Node {
    dicom_uid: String,
    parent: Option<String>,
}

pub struct OrthancIndex {
    client: reqwest::Client,
    base: Url,
    credentials: Option<(String, SecretString)>,
    /// `"{collection}/{id}"` → its UID and parent.
    nodes: Cache<String, Arc<Node>>,
    /// `"{Level}:{uid}"` → the Orthanc id.
    uids: Cache<String, Arc<str>>,
}

impl OrthancIndex {
    pub fn new(settings: &OrthancSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("auth-service-gate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout.min(Duration::from_secs(2)))
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("Failed to build the Orthanc client")?;
        Ok(OrthancIndex {
            client,
            base: settings.url.clone(),
            credentials: settings.user.clone().zip(settings.password.clone()),
            nodes: bounded_cache(),
            uids: bounded_cache(),
        })
    }

    /// The resource an anchor names, then its parents up to the patient.
    pub async fn lineage(&self, anchor: &Anchor) -> Result<Vec<Ancestor>, LookupError> {
        match anchor {
            Anchor::Orthanc { level, id } => self.walk_up(*level, id.clone()).await,
            Anchor::Dicom(path) => self.dicom_lineage(path).await,
            // Nothing of Orthanc's hierarchy: no resource, so nothing a share could hold.
            Anchor::Server => Ok(Vec::new()),
        }
    }

    async fn dicom_lineage(&self, path: &DicomPath) -> Result<Vec<Ancestor>, LookupError> {
        let given = [
            (Level::Instance, &path.instance),
            (Level::Series, &path.series),
            (Level::Study, &path.study),
        ];
        let (level, uid) = given
            .iter()
            .find_map(|(level, uid)| uid.as_deref().map(|u| (*level, u)))
            .ok_or(LookupError::NotFound)?;
        let id = self.find_uid(level, uid).await?;
        let lineage = self.walk_up(level, id.to_string()).await?;
        // `/studies/A/series/B`: B must be a series of A, or the path is a lie.
        for (level, uid) in given {
            if let Some(uid) = uid {
                if !lineage
                    .iter()
                    .any(|a| a.level == level && &a.dicom_uid == uid)
                {
                    return Err(LookupError::Mismatch);
                }
            }
        }
        Ok(lineage)
    }

    async fn walk_up(&self, level: Level, id: String) -> Result<Vec<Ancestor>, LookupError> {
        let mut lineage = Vec::with_capacity(4);
        let mut next = Some((level, id));
        while let Some((level, id)) = next.take() {
            let node = self.node(level, &id).await?;
            next = match (parent_level(level), &node.parent) {
                (Some(up), Some(parent)) => Some((up, parent.clone())),
                _ => None,
            };
            lineage.push(Ancestor {
                level,
                orthanc_id: id,
                dicom_uid: node.dicom_uid.clone(),
            });
        }
        Ok(lineage)
    }

    async fn node(&self, level: Level, id: &str) -> Result<Arc<Node>, LookupError> {
        let path = format!("{}/{id}", collection(level));
        self.nodes
            .try_get_with_by_ref(&path, async {
                let answer: ResourceAnswer = self.get_json(&path).await?;
                answer.into_node(level).map(Arc::new)
            })
            .await
            .map_err(|e| (*e).clone())
    }

    async fn find_uid(&self, level: Level, uid: &str) -> Result<Arc<str>, LookupError> {
        let key = format!("{level:?}:{uid}");
        self.uids
            .try_get_with(key, async {
                let found: Vec<LookupAnswer> = self.post_json("tools/lookup", uid).await?;
                let mut ids = found
                    .into_iter()
                    .filter(|f| f.kind == type_name(level) && is_orthanc_id(&f.id));
                match (ids.next(), ids.next()) {
                    (Some(only), None) => Ok(Arc::from(only.id)),
                    (None, _) => Err(LookupError::NotFound),
                    (Some(_), Some(_)) => Err(LookupError::Ambiguous),
                }
            })
            .await
            .map_err(|e| (*e).clone())
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, LookupError> {
        self.send(self.client.get(self.url(path)?)).await
    }

    async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &str,
    ) -> Result<T, LookupError> {
        self.send(self.client.post(self.url(path)?).body(body.to_owned()))
            .await
    }

    fn url(&self, path: &str) -> Result<Url, LookupError> {
        self.base
            .join(path)
            .map_err(|e| LookupError::Unavailable(format!("bad Orthanc path: {e}")))
    }

    async fn send<T: DeserializeOwned>(
        &self,
        mut request: reqwest::RequestBuilder,
    ) -> Result<T, LookupError> {
        if let Some((user, password)) = &self.credentials {
            request = request.basic_auth(user, Some(password.expose_secret()));
        }
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            LookupError::Unavailable(format!("{what}: {e}"))
        };
        let mut response = request
            .send()
            .await
            .map_err(|e| unavailable("no answer", &without_url(e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(LookupError::NotFound);
        }
        if !status.is_success() {
            return Err(LookupError::Unavailable(format!(
                "Orthanc answered {status}"
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
        {
            return Err(LookupError::Unavailable("answer too large".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unavailable("answer cut short", &without_url(e)))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(LookupError::Unavailable("answer too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| unavailable("unexpected answer", &e))
    }
}

fn bounded_cache<V: Clone + Send + Sync + 'static>() -> Cache<String, V> {
    Cache::builder()
        .max_capacity(CACHE_ENTRIES)
        .time_to_live(CACHE_TTL)
        .build()
}

/// reqwest's errors name the URL; ours holds no secret, but ids are noise in a one-line reason.
fn without_url(e: reqwest::Error) -> reqwest::Error {
    e.without_url()
}

fn collection(level: Level) -> &'static str {
    match level {
        Level::Patient => "patients",
        Level::Study => "studies",
        Level::Series => "series",
        Level::Instance | Level::System => "instances",
    }
}

fn type_name(level: Level) -> &'static str {
    match level {
        Level::Patient => "Patient",
        Level::Study => "Study",
        Level::Series => "Series",
        Level::Instance | Level::System => "Instance",
    }
}

fn parent_level(level: Level) -> Option<Level> {
    match level {
        Level::Instance => Some(Level::Series),
        Level::Series => Some(Level::Study),
        Level::Study => Some(Level::Patient),
        Level::Patient | Level::System => None,
    }
}

/// The fields of `GET /{collection}/{id}` the gate reads.
#[derive(Deserialize)]
struct ResourceAnswer {
    #[serde(rename = "MainDicomTags", default)]
    tags: MainDicomTags,
    #[serde(rename = "ParentSeries")]
    parent_series: Option<String>,
    #[serde(rename = "ParentStudy")]
    parent_study: Option<String>,
    #[serde(rename = "ParentPatient")]
    parent_patient: Option<String>,
}

#[derive(Default, Deserialize)]
struct MainDicomTags {
    #[serde(rename = "SOPInstanceUID")]
    sop_instance_uid: Option<String>,
    #[serde(rename = "SeriesInstanceUID")]
    series_instance_uid: Option<String>,
    #[serde(rename = "StudyInstanceUID")]
    study_instance_uid: Option<String>,
    #[serde(rename = "PatientID")]
    patient_id: Option<String>,
}

impl ResourceAnswer {
    fn into_node(self, level: Level) -> Result<Node, LookupError> {
        let tags = self.tags;
        let (uid, parent) = match level {
            Level::Instance => (tags.sop_instance_uid, self.parent_series),
            Level::Series => (tags.series_instance_uid, self.parent_study),
            Level::Study => (tags.study_instance_uid, self.parent_patient),
            Level::Patient | Level::System => (tags.patient_id, None),
        };
        let unexpected = || LookupError::Unavailable("unexpected answer: no UID or parent".into());
        // PatientID may be empty in DICOM; an empty UID never matches a share (see `grants`).
        let dicom_uid = match (level, uid) {
            (Level::Patient, uid) => uid.unwrap_or_default(),
            (_, uid) => uid.filter(|u| !u.is_empty()).ok_or_else(unexpected)?,
        };
        if parent_level(level).is_some() && !parent.as_deref().is_some_and(is_orthanc_id) {
            return Err(unexpected());
        }
        Ok(Node { dicom_uid, parent })
    }
}

/// One entry of `POST /tools/lookup`.
#[derive(Deserialize)]
struct LookupAnswer {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Type")]
    kind: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIES: &str = "5b1dcb54-a49234ed-32c2500b-70beb3cc-ba0c8159";

    fn node(
        level: Level,
        answer: serde_json::Value,
    ) -> Result<(String, Option<String>), LookupError> {
        let answer: ResourceAnswer = serde_json::from_value(answer).expect("parses");
        answer.into_node(level).map(|n| (n.dicom_uid, n.parent))
    }

    #[test]
    fn orthanc_answers_give_the_uid_and_the_parent_of_their_level() {
        let instance = serde_json::json!({
            "ID": "335cf67c-c1de4b89-9ebbceb6-b58b80f5-64162532",
            "MainDicomTags": {"SOPInstanceUID": "1.2.3.4", "InstanceCreationDate": "20261201"},
            "ParentSeries": SERIES,
            "Type": "Instance"
        });
        assert_eq!(
            node(Level::Instance, instance),
            Ok(("1.2.3.4".into(), Some(SERIES.into())))
        );
        let patient = serde_json::json!({"MainDicomTags": {}, "Type": "Patient"});
        assert_eq!(node(Level::Patient, patient), Ok((String::new(), None)));
    }

    #[test]
    fn answers_without_uid_or_with_an_odd_parent_are_refused() {
        let odd = [
            serde_json::json!({"MainDicomTags": {"SOPInstanceUID": "1.2"}}),
            serde_json::json!({"MainDicomTags": {"SOPInstanceUID": "1.2"}, "ParentSeries": "../tools"}),
            serde_json::json!({"MainDicomTags": {}, "ParentSeries": SERIES}),
            serde_json::json!({"MainDicomTags": {"SOPInstanceUID": ""}, "ParentSeries": SERIES}),
        ];
        for answer in odd {
            assert!(
                matches!(
                    node(Level::Instance, answer.clone()),
                    Err(LookupError::Unavailable(_))
                ),
                "{answer}"
            );
        }
    }
}
