//! Where a request nginx asks about lands in Orthanc. The visitor's URI (`X-Original-URI`: nginx's
//! `$request_uri`, raw as the browser sent it) is normalised, then matched against the routes a
//! share may reach. Anything odd or unknown is refused here, before any look-up. No I/O.
use percent_encoding::percent_decode_str;

use crate::access::RouteKind;
use crate::domain::Level;

/// Why a URI was refused before matching; all of them deny (`forbidden`), the words go to the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Odd {
    #[error("outside GATE_PATH_PREFIX")]
    OutsidePrefix,
    #[error("empty path segment (//)")]
    EmptySegment,
    #[error("dot segment (. or ..)")]
    DotSegment,
    #[error("a character no Orthanc route uses (; \\ encoded / ...)")]
    Character,
    #[error("percent-encoding that is not UTF-8")]
    Encoding,
    #[error("a query parameter given twice")]
    RepeatedParameter,
}

/// A URI nginx asked about, its path split into decoded segments below the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalUri {
    segments: Vec<String>,
    query: Vec<(String, String)>,
}

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
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DicomPath {
    pub study: Option<String>,
    pub series: Option<String>,
    pub instance: Option<String>,
}

/// A well-formed URI that is no route a share token reaches: tools, system, listings, plugins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a route a share token reaches")]
pub struct Unplaced;

impl OriginalUri {
    /// Normalises `raw` below `prefix` (which starts and ends with `/`). A trailing slash and
    /// percent-encoded plain characters are normalised away, as Orthanc does; `..`, `.`, `//`,
    /// `;` parameters, backslashes and encoded slashes are refused, since Orthanc and nginx may
    /// read them differently from us.
    pub fn parse(raw: &str, prefix: &str) -> Result<OriginalUri, Odd> {
        if raw.contains('#') {
            return Err(Odd::Character);
        }
        let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
        let rest = path.strip_prefix(prefix).ok_or(Odd::OutsidePrefix)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for raw_segment in rest.split('/') {
                segments.push(segment(raw_segment)?);
            }
        }
        let query = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok(OriginalUri { segments, query })
    }

    /// A query parameter, decoded; given twice, it is refused (which one would Orthanc read?).
    pub fn param(&self, name: &str) -> Result<Option<&str>, Odd> {
        let mut values = self.query.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(Odd::RepeatedParameter);
        }
        Ok(first)
    }

    /// The resource this URI reaches.
    pub fn place(&self) -> Result<Placement, Unplaced> {
        let segments: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            [collection, id, rest @ ..] if level_of(collection).is_some() => {
                let level = level_of(collection).ok_or(Unplaced)?;
                if !is_orthanc_id(id) {
                    return Err(Unplaced);
                }
                let route = match (level, rest) {
                    (_, ["archive"] | ["media"]) | (Level::Instance, ["file"]) => {
                        RouteKind::Download
                    }
                    _ => RouteKind::View,
                };
                Ok(Placement {
                    route,
                    anchor: Anchor::Orthanc {
                        level,
                        id: (*id).to_owned(),
                    },
                })
            }
            ["dicom-web", "studies", rest @ ..] => self.dicom_web(rest),
            ["wado"] => self.wado(),
            _ => Err(Unplaced),
        }
    }

    /// `/dicom-web/studies/{uid}[/series/{uid}[/instances/{uid}]]/...`, and the one listing that
    /// names a single study: `/dicom-web/studies?StudyInstanceUID={uid}` (viewers ask it first).
    fn dicom_web(&self, rest: &[&str]) -> Result<Placement, Unplaced> {
        let mut path = DicomPath::default();
        match rest {
            [] => {
                let uid = self.param("StudyInstanceUID").map_err(|_| Unplaced)?;
                path.study = Some(uid_of(uid)?);
            }
            [study, tail @ ..] => {
                path.study = Some(uid_of(Some(study))?);
                if let ["series", series, tail @ ..] = tail {
                    path.series = Some(uid_of(Some(series))?);
                    if let ["instances", instance, ..] = tail {
                        path.instance = Some(uid_of(Some(instance))?);
                    }
                }
            }
        }
        Ok(Placement {
            route: RouteKind::View,
            anchor: Anchor::Dicom(path),
        })
    }

    /// WADO-URI: `/wado?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..`; Orthanc serves
    /// the object by `objectUID`, the other two, when given, must be its parents.
    fn wado(&self) -> Result<Placement, Unplaced> {
        let param = |name| self.param(name).map_err(|_| Unplaced);
        let optional = |name| -> Result<Option<String>, Unplaced> {
            param(name)?.map(|u| uid_of(Some(u))).transpose()
        };
        Ok(Placement {
            route: RouteKind::View,
            anchor: Anchor::Dicom(DicomPath {
                study: optional("studyUID")?,
                series: optional("seriesUID")?,
                instance: Some(uid_of(param("objectUID")?)?),
            }),
        })
    }
}

fn segment(raw: &str) -> Result<String, Odd> {
    if raw.is_empty() {
        return Err(Odd::EmptySegment);
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Odd::Encoding)?;
    // Every segment of a route we place is an id, a UID, a word or a frame list.
    let plain = decoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._,".contains(&b));
    if !plain {
        return Err(Odd::Character);
    }
    if decoded == "." || decoded == ".." {
        return Err(Odd::DotSegment);
    }
    Ok(decoded.into_owned())
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

fn uid_of(uid: Option<&str>) -> Result<String, Unplaced> {
    uid.filter(|u| is_uid(u)).map(str::to_owned).ok_or(Unplaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "335cf67c-c1de4b89-9ebbceb6-b58b80f5-64162532";

    fn place(raw: &str) -> Result<Placement, String> {
        OriginalUri::parse(raw, "/orthanc/")
            .map_err(|e| format!("odd: {e}"))?
            .place()
            .map_err(|e| e.to_string())
    }

    fn orthanc(level: Level, route: RouteKind) -> Result<Placement, String> {
        Ok(Placement {
            route,
            anchor: Anchor::Orthanc {
                level,
                id: ID.to_owned(),
            },
        })
    }

    fn dicom(study: Option<&str>, series: Option<&str>, instance: Option<&str>) -> Placement {
        Placement {
            route: RouteKind::View,
            anchor: Anchor::Dicom(DicomPath {
                study: study.map(str::to_owned),
                series: series.map(str::to_owned),
                instance: instance.map(str::to_owned),
            }),
        }
    }

    #[test]
    fn rest_routes_are_placed_on_their_resource() {
        use Level::*;
        use RouteKind::*;
        let cases = [
            ("/orthanc/instances/{ID}/preview", orthanc(Instance, View)),
            ("/orthanc/instances/{ID}/preview/", orthanc(Instance, View)),
            (
                "/orthanc/instances/{ID}/frames/0/preview",
                orthanc(Instance, View),
            ),
            ("/orthanc/instances/{ID}/file", orthanc(Instance, Download)),
            ("/orthanc/instances/{ID}?token=x", orthanc(Instance, View)),
            ("/orthanc/series/{ID}", orthanc(Series, View)),
            ("/orthanc/series/{ID}/archive", orthanc(Series, Download)),
            ("/orthanc/studies/{ID}/archive", orthanc(Study, Download)),
            ("/orthanc/studies/{ID}/media", orthanc(Study, Download)),
            ("/orthanc/studies/{ID}/file", orthanc(Study, View)),
            ("/orthanc/patients/{ID}/archive", orthanc(Patient, Download)),
            // Percent-encoded plain characters are read as Orthanc reads them.
            (
                "/orthanc/instances/%33{ID_TAIL}/preview",
                orthanc(Instance, View),
            ),
        ];
        for (raw, expected) in cases {
            let raw = raw.replace("{ID}", ID).replace("{ID_TAIL}", &ID[1..]);
            assert_eq!(place(&raw), expected, "{raw}");
        }
    }

    #[test]
    fn dicom_web_and_wado_are_placed_on_their_uids() {
        let cases = [
            (
                "/orthanc/dicom-web/studies/1.2",
                dicom(Some("1.2"), None, None),
            ),
            (
                "/orthanc/dicom-web/studies/1.2/series",
                dicom(Some("1.2"), None, None),
            ),
            (
                "/orthanc/dicom-web/studies/1.2/metadata",
                dicom(Some("1.2"), None, None),
            ),
            (
                "/orthanc/dicom-web/studies/1.2/series/1.2.3/metadata",
                dicom(Some("1.2"), Some("1.2.3"), None),
            ),
            (
                "/orthanc/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/1,2",
                dicom(Some("1.2"), Some("1.2.3"), Some("1.2.3.4")),
            ),
            (
                "/orthanc/dicom-web/studies?StudyInstanceUID=1.2&includefield=all",
                dicom(Some("1.2"), None, None),
            ),
            (
                "/orthanc/wado?requestType=WADO&studyUID=1.2&seriesUID=1.2.3&objectUID=1.2.3.4",
                dicom(Some("1.2"), Some("1.2.3"), Some("1.2.3.4")),
            ),
            (
                "/orthanc/wado?requestType=WADO&objectUID=1.2.3.4",
                dicom(None, None, Some("1.2.3.4")),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(place(raw), Ok(expected), "{raw}");
        }
    }

    #[test]
    fn odd_paths_are_refused_before_matching() {
        let odd = [
            ("/orthanc/instances/{ID}/../../tools/x", Odd::DotSegment),
            ("/orthanc/instances/{ID}/%2e%2e/x", Odd::DotSegment),
            ("/orthanc/instances/./{ID}", Odd::DotSegment),
            ("/orthanc/instances//{ID}/preview", Odd::EmptySegment),
            ("/orthanc//instances/{ID}", Odd::EmptySegment),
            ("/orthanc/instances/{ID}/preview//", Odd::EmptySegment),
            ("/orthanc/instances/{ID}%2Fpreview", Odd::Character),
            ("/orthanc/instances/{ID}%2fpreview", Odd::Character),
            ("/orthanc/instances/{ID};x=1/preview", Odd::Character),
            (
                "/orthanc/instances/{ID}/preview;jsessionid=1",
                Odd::Character,
            ),
            ("/orthanc/instances/{ID}\\preview", Odd::Character),
            ("/orthanc/instances/{ID}%5Cpreview", Odd::Character),
            ("/orthanc/instances/{ID}/pre%zzview", Odd::Character),
            ("/orthanc/instances/{ID}/%ff", Odd::Encoding),
            ("/orthanc/instances/{ID}#x", Odd::Character),
            ("/other/instances/{ID}", Odd::OutsidePrefix),
            ("/orthanc", Odd::OutsidePrefix),
            ("instances/{ID}", Odd::OutsidePrefix),
        ];
        for (raw, expected) in odd {
            let raw = raw.replace("{ID}", ID);
            assert_eq!(
                OriginalUri::parse(&raw, "/orthanc/"),
                Err(expected),
                "{raw}"
            );
        }
    }

    #[test]
    fn routes_no_share_reaches_are_unplaced() {
        let unplaced = [
            "/orthanc/",
            "/orthanc/system",
            "/orthanc/tools/find",
            "/orthanc/tools/create-archive",
            "/orthanc/instances",
            "/orthanc/studies",
            "/orthanc/instances/not-an-id/preview",
            "/orthanc/instances/335CF67C-C1DE4B89-9EBBCEB6-B58B80F5-64162532/preview",
            "/orthanc/dicom-web/studies",
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2*",
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2&StudyInstanceUID=1.3",
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2,1.3",
            "/orthanc/dicom-web/series",
            "/orthanc/dicom-web/instances",
            "/orthanc/dicom-web/studies/1..2",
            "/orthanc/dicom-web/studies/1.2/series/x",
            "/orthanc/wado?requestType=WADO&studyUID=1.2",
            "/orthanc/wado?objectUID=1.2&objectUID=1.3",
            "/orthanc/stone-webviewer/index.html",
            "/orthanc/app/explorer.html",
        ];
        for raw in unplaced {
            assert_eq!(place(raw), Err(Unplaced.to_string()), "{raw}");
        }
    }

    #[test]
    fn the_token_parameter_is_read_once() {
        let uri = OriginalUri::parse("/orthanc/x?token=a%2Eb&y=1", "/orthanc/").expect("parses");
        assert_eq!(uri.param("token"), Ok(Some("a.b")));
        assert_eq!(uri.param("absent"), Ok(None));
        let twice = OriginalUri::parse("/orthanc/x?token=a&token=b", "/orthanc/").expect("parses");
        assert_eq!(twice.param("token"), Err(Odd::RepeatedParameter));
    }

    proptest::proptest! {
        /// Whatever the URI, a placed one never holds a dot segment, an empty segment or an
        /// encoded separator: the checks above cannot be bypassed by some other spelling.
        #[test]
        fn nothing_odd_is_ever_placed(raw in "/orthanc/[a-z0-9./%;\\\\-]{0,60}") {
            if let Ok(uri) = OriginalUri::parse(&raw, "/orthanc/") {
                for s in &uri.segments {
                    proptest::prop_assert!(!s.is_empty() && s != "." && s != "..");
                    proptest::prop_assert!(!s.contains('/') && !s.contains(';') && !s.contains('\\'));
                }
            }
        }
    }
}
