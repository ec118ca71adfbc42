//! Which Orthanc resource a request reaches, from an allowlist: the routes a viewer reads, each
//! with the path tails and query keys it takes. Everything else (parents such as
//! `/studies/{id}/patient`, attachments, metadata, labels, modify, anonymize, tools, listings
//! without a study, unknown keys) is refused here, before any token work or Orthanc look-up.
//! The book's token gate chapter (docs/src/gate.md) lists the same table for operators. No I/O.
use crate::access::RouteKind;
use crate::domain::Level;

pub use super::uri::{Odd, OriginalUri};

/// The Orthanc resource a request reaches, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub route: RouteKind,
    pub anchor: Anchor,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// Orthanc's REST API: `/{patients|studies|series|instances}/{id}/...`.
    Orthanc { level: Level, id: String },
    /// DICOMweb and WADO-URI: UIDs from the top down; the deepest one given is looked up.
    Dicom(DicomPath),
    /// `GET /system`: Orthanc's own description, no patient data; Stone asks it at start.
    Server,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DicomPath {
    pub study: Option<String>,
    pub series: Option<String>,
    pub instance: Option<String>,
}

/// A well-formed URI that no share reaches; the words go to the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unplaced {
    #[error("not a route a share token reaches")]
    Route,
    #[error("query key {0:?} is not one this route takes")]
    Key(String),
    #[error("query key {0:?} needs a plain DICOM UID")]
    Uid(&'static str),
    #[error("query value of {0:?} is not a plain value")]
    Value(String),
    #[error("the listing names no single study (StudyInstanceUID or 0020000D, once)")]
    NoStudy,
}

/// Query keys each route takes besides `token` (which any route takes, once).
mod keys {
    pub const NONE: &[&str] = &[];
    /// A resource's JSON and its children's lists.
    pub const RESOURCE: &[&str] = &["expand", "full", "short", "requestedTags"];
    pub const TAGS: &[&str] = &["simplify", "short", "full", "ignore-length", "whole"];
    pub const IMAGE: &[&str] = &[
        "quality",
        "width",
        "height",
        "smooth",
        "window-center",
        "window-width",
        "returnUnsupportedImage",
    ];
    pub const ARCHIVE: &[&str] = &["transcode", "filename"];
    pub const FILE: &[&str] = &["transcode"];
    /// DICOMweb's QIDO-RS options; its attribute filters are never taken, but the UIDs below.
    pub const QIDO: &[&str] = &["includefield", "limit", "offset", "fuzzymatching"];
    pub const RENDERED: &[&str] = &["viewport", "window", "quality"];
    pub const WADO_URI: &[&str] = &[
        "requestType",
        "contentType",
        "transferSyntax",
        "frameNumber",
    ];
    /// The spellings of a UID filter that Stone (tags) and OHIF (keywords) send. DICOMweb reads
    /// both as the same filter, the last one winning: so one of them, once.
    pub const STUDY_UID: &[&str] = &["StudyInstanceUID", "0020000D"];
    pub const SERIES_UID: &[&str] = &["SeriesInstanceUID", "0020000E"];
    pub const SOP_UID: &[&str] = &["SOPInstanceUID", "00080018"];
    pub const WADO_STUDY: &[&str] = &["studyUID"];
    pub const WADO_SERIES: &[&str] = &["seriesUID"];
    pub const WADO_OBJECT: &[&str] = &["objectUID"];
}

/// Images of an instance (and of each of its frames).
const IMAGE_ROUTES: &[&str] = &[
    "preview",
    "rendered",
    "image-uint8",
    "image-uint16",
    "image-int16",
];

impl OriginalUri {
    /// The resource this URI reaches, once its route, tail and query keys are all allowed.
    pub fn place(&self) -> Result<Placement, Unplaced> {
        let segments: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        let mut uids = Vec::new();
        let (placement, allowed) = match segments.as_slice() {
            ["system"] => (view(Anchor::Server), keys::NONE),
            [collection, id, tail @ ..] if level_of(collection).is_some() => {
                let level = level_of(collection).ok_or(Unplaced::Route)?;
                if !is_orthanc_id(id) {
                    return Err(Unplaced::Route);
                }
                let (route, allowed) = rest_tail(level, tail).ok_or(Unplaced::Route)?;
                let anchor = Anchor::Orthanc {
                    level,
                    id: (*id).to_owned(),
                };
                (Placement { route, anchor }, allowed)
            }
            ["dicom-web", rest @ ..] => self.dicom_web(rest, &mut uids)?,
            ["wado"] => self.wado(&mut uids)?,
            _ => return Err(Unplaced::Route),
        };
        self.only(allowed, &uids)?;
        Ok(placement)
    }

    /// DICOMweb: the QIDO listings that name one study, and the study's own routes.
    fn dicom_web(
        &self,
        rest: &[&str],
        uids: &mut Vec<&'static str>,
    ) -> Result<(Placement, &'static [&'static str]), Unplaced> {
        let mut path = DicomPath::default();
        let allowed = match rest {
            ["studies"] | ["series"] | ["instances"] => {
                path.study = self.uid_filter(keys::STUDY_UID, uids)?;
                if path.study.is_none() {
                    return Err(Unplaced::NoStudy);
                }
                if rest != ["studies"] {
                    path.series = self.uid_filter(keys::SERIES_UID, uids)?;
                }
                if rest == ["instances"] {
                    path.instance = self.uid_filter(keys::SOP_UID, uids)?;
                }
                keys::QIDO
            }
            ["studies", study, tail @ ..] => {
                path.study = Some(plain_uid(study)?);
                match tail {
                    ["series", series, tail @ ..] => {
                        path.series = Some(plain_uid(series)?);
                        match tail {
                            ["instances", instance, tail @ ..] => {
                                path.instance = Some(plain_uid(instance)?);
                                instance_tail(tail)?
                            }
                            _ => study_or_series_tail(tail)?,
                        }
                    }
                    _ => study_or_series_tail(tail)?,
                }
            }
            _ => return Err(Unplaced::Route),
        };
        Ok((view(Anchor::Dicom(path)), allowed))
    }

    /// WADO-URI: `/wado?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..`; Orthanc serves
    /// the object by `objectUID`, the other two, when given, must be its parents.
    fn wado(
        &self,
        uids: &mut Vec<&'static str>,
    ) -> Result<(Placement, &'static [&'static str]), Unplaced> {
        let path = DicomPath {
            study: self.uid_filter(keys::WADO_STUDY, uids)?,
            series: self.uid_filter(keys::WADO_SERIES, uids)?,
            instance: Some(
                self.uid_filter(keys::WADO_OBJECT, uids)?
                    .ok_or(Unplaced::Uid("objectUID"))?,
            ),
        };
        Ok((view(Anchor::Dicom(path)), keys::WADO_URI))
    }

    /// The UID of a filter given under one of its spellings, at most once; a plain UID.
    fn uid_filter(
        &self,
        spellings: &'static [&'static str],
        taken: &mut Vec<&'static str>,
    ) -> Result<Option<String>, Unplaced> {
        let mut found = spellings
            .iter()
            .filter_map(|key| self.argument(key).map(|a| (*key, a)));
        let Some((key, argument)) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err(Unplaced::Uid(key));
        }
        taken.push(key);
        // Plain as sent: DICOMweb would read an encoded comma (`%2C`) as a second value.
        if !is_uid(&argument.raw) {
            return Err(Unplaced::Uid(key));
        }
        Ok(Some(argument.raw.clone()))
    }

    /// Every query key is `token`, a UID filter already read, or one of `allowed`, with a
    /// plain value.
    fn only(&self, allowed: &[&str], uids: &[&str]) -> Result<(), Unplaced> {
        for argument in self.arguments() {
            let key = argument.key.as_str();
            if key == "token" || uids.contains(&key) {
                continue;
            }
            if !allowed.contains(&key) {
                return Err(Unplaced::Key(argument.key.clone()));
            }
            if !is_plain_value(&argument.value) {
                return Err(Unplaced::Value(argument.key.clone()));
            }
        }
        Ok(())
    }
}

fn view(anchor: Anchor) -> Placement {
    Placement {
        route: RouteKind::View,
        anchor,
    }
}

/// The REST routes of a resource that a viewer reads: its JSON, its images and files, its
/// children; never its parents, attachments, metadata, labels or any write.
fn rest_tail(level: Level, tail: &[&str]) -> Option<(RouteKind, &'static [&'static str])> {
    use Level::{Instance, Patient, Series, Study};
    use RouteKind::{Download, View};
    let is_frame = |n: &str| !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit());
    Some(match (level, tail) {
        (Instance | Series | Study | Patient, []) => (View, keys::RESOURCE),
        (Series | Study | Patient, ["archive" | "media"]) => (Download, keys::ARCHIVE),
        (Patient, ["studies"]) | (Study | Patient, ["series"]) => (View, keys::RESOURCE),
        (Series | Study | Patient, ["instances"]) => (View, keys::RESOURCE),
        (Series | Study | Patient, ["shared-tags"]) => (View, keys::TAGS),
        (Instance | Series | Study | Patient, ["module"]) => (View, keys::TAGS),
        (Study, ["module-patient"]) => (View, keys::TAGS),
        (Study, ["ohif-dicom-json"]) | (Series, ["ordered-slices"]) => (View, keys::NONE),
        (Instance, ["file"]) => (Download, keys::FILE),
        (Instance, ["tags" | "simplified-tags" | "header"]) => (View, keys::TAGS),
        (Instance, ["pdf" | "frames"]) => (View, keys::NONE),
        (Instance, [image]) if IMAGE_ROUTES.contains(image) => (View, keys::IMAGE),
        (Instance, ["frames", n]) if is_frame(n) => (View, keys::NONE),
        (Instance, ["frames", n, image])
            if is_frame(n) && (IMAGE_ROUTES.contains(image) || *image == "raw") =>
        {
            (View, keys::IMAGE)
        }
        _ => return None,
    })
}

/// After `/dicom-web/studies/{uid}` or `.../series/{uid}`: retrieve, metadata, rendered,
/// thumbnail, and the QIDO listings of their children.
fn study_or_series_tail(tail: &[&str]) -> Result<&'static [&'static str], Unplaced> {
    Ok(match tail {
        [] | ["metadata"] => keys::NONE,
        ["rendered" | "thumbnail"] => keys::RENDERED,
        ["series" | "instances"] => keys::QIDO,
        _ => return Err(Unplaced::Route),
    })
}

/// After `/dicom-web/studies/{uid}/series/{uid}/instances/{uid}`.
fn instance_tail(tail: &[&str]) -> Result<&'static [&'static str], Unplaced> {
    let is_frames = |f: &str| {
        f.split(',')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    // Bulk data URIs: tags (8 hex digits) and item numbers.
    let is_bulk = |s: &&str| {
        (s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            || (s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit()))
    };
    Ok(match tail {
        [] | ["metadata"] => keys::NONE,
        ["rendered" | "thumbnail"] => keys::RENDERED,
        ["frames", frames] if is_frames(frames) => keys::NONE,
        ["frames", frames, "rendered" | "thumbnail"] if is_frames(frames) => keys::RENDERED,
        ["bulk", rest @ ..] if !rest.is_empty() && rest.iter().all(is_bulk) => keys::NONE,
        _ => return Err(Unplaced::Route),
    })
}

fn level_of(collection: &str) -> Option<Level> {
    Some(match collection {
        "patients" => Level::Patient,
        "studies" => Level::Study,
        "series" => Level::Series,
        "instances" => Level::Instance,
        _ => return None,
    })
}

/// Orthanc's ids: five groups of eight lowercase hex digits (a SHA-1 of the DICOM ids).
pub fn is_orthanc_id(id: &str) -> bool {
    id.len() == 44
        && id.split('-').count() == 5
        && id.split('-').all(|g| {
            g.len() == 8
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// A DICOM UID: digits and dots, at most 64 characters, no empty component.
pub fn is_uid(uid: &str) -> bool {
    (1..=64).contains(&uid.len())
        && uid.split('.').all(|c| !c.is_empty())
        && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn plain_uid(uid: &str) -> Result<String, Unplaced> {
    if is_uid(uid) {
        Ok(uid.to_owned())
    } else {
        Err(Unplaced::Route)
    }
}

/// The values viewers send: numbers, flags, tag lists, viewports, windows, content types.
fn is_plain_value(value: &str) -> bool {
    value.len() <= 512
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" ,;._:/+-".contains(&b))
}

#[cfg(test)]
mod tests;
