//! The gate against a model of how Orthanc reads a raw URI (civetweb, then its REST and
//! DICOMweb routers: the facts in `gate/uri.rs`'s header). The property: whatever the gate
//! places, Orthanc reads the same path and arguments, runs no other method than the one judged,
//! and the filters DICOMweb applies name exactly the UIDs the gate placed the request on.
use proptest::prelude::*;

use super::super::{Anchor, OriginalUri};

const ID: &str = "335cf67c-c1de4b89-9ebbceb6-b58b80f5-64162532";

/// Every spelling of a tag that DICOMweb's `ParseTag` accepts for these filters, keywords and
/// hex digits in either case.
const STUDY: &[&str] = &[
    "StudyInstanceUID",
    "0020000D",
    "0020000d",
    "0020,000D",
    "0020-000D",
];
const SERIES: &[&str] = &["SeriesInstanceUID", "0020000E", "0020000e", "0020,000E"];
const SOP: &[&str] = &["SOPInstanceUID", "00080018", "0008,0018"];

struct Reading {
    segments: Vec<String>,
    arguments: Vec<(String, String)>,
}

fn decode(text: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// What Orthanc reads of `raw`: the path decoded before it is split (`\` a separator, dot
/// segments resolved, `//` collapsed, trailing dots stripped), below the `/orthanc/` prefix that
/// nginx strips; the query decoded whole, cut at a NUL, then split on `&` and the first `=`.
fn orthanc_reads(raw: &str) -> Reading {
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    let path = String::from_utf8_lossy(&decode(path, false)).replace('\\', "/");
    let path = path.trim_end_matches('.');
    let mut segments: Vec<String> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s.to_owned()),
        }
    }
    if segments.first().map(String::as_str) == Some("orthanc") {
        segments.remove(0);
    } else {
        segments.insert(0, "outside the prefix".into());
    }
    let query = decode(query, true);
    let query = query.split(|&b| b == 0).next().unwrap_or_default();
    let query = String::from_utf8_lossy(query);
    let arguments = if query.is_empty() {
        Vec::new()
    } else {
        query
            .split('&')
            .map(|piece| {
                let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    };
    Reading {
        segments,
        arguments,
    }
}

/// The value of a filter as DICOMweb applies it: the last one given under any spelling; empty
/// is no filter at all.
fn filter<'a>(arguments: &'a [(String, String)], spellings: &[&str]) -> Option<&'a str> {
    arguments
        .iter()
        .rev()
        .find(|(k, _)| spellings.contains(&k.as_str()))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn uris() -> impl Strategy<Value = String> {
    let paths = prop::sample::select(vec![
        "dicom-web/studies",
        "dicom-web/studies",
        "dicom-web/series",
        "dicom-web/instances",
        "dicom-web/instances",
        "dicom-web/studies/1.2",
        "dicom-web/studies/1.2/series",
        "dicom-web/studies/1.2/series/1.2.3/metadata",
        "dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/1/rendered",
        "studies/{ID}",
        "studies/{ID}/archive",
        "studies/{ID}/patient",
        "series/{ID}/study",
        "instances/{ID}/preview",
        "instances/{ID}/frames/0/preview",
        "patients/{ID}/studies",
        "wado",
        "system",
        "tools/find",
    ]);
    let noise = prop_oneof![
        3 => Just(""),
        1 => prop::sample::select(vec![
            "/", "/..", "/.", "%2e%2e/", "%2F", "\\", "+", "%20", "/x", ".", "%2e", "//", "%2e.",
            "..%2f",
        ]),
    ];
    // Arguments the routes take, and the attacks and near misses around them.
    let good = prop::sample::select(vec![
        ("token", "a.b"),
        ("StudyInstanceUID", "1.2"),
        ("0020000D", "1.2"),
        ("StudyInstanceUID", "1.3"),
        ("0020000D", "1.3"),
        ("0020000E", "1.2.3"),
        ("00080018", "1.2.3.4"),
        ("includefield", "00081030,00200011"),
        ("limit", "1"),
        ("objectUID", "1.2.3.4"),
        ("studyUID", "1.2"),
        ("seriesUID", "1.2.3"),
        ("requestType", "WADO"),
        ("quality", "90"),
        ("expand", ""),
        ("viewport", "64,64"),
    ]);
    let keys = prop::sample::select(vec![
        "token",
        "StudyInstanceUID",
        "StudyInstanceUID",
        "0020000D",
        "0020000D",
        "0020000d",
        "0020,000D",
        "0020000E",
        "SeriesInstanceUID",
        "00080018",
        "includefield",
        "_method",
        "_METHOD",
        "%5Fmethod",
        "_%6Dethod",
        "Study%49nstanceUID",
        "PatientName",
        "00100020",
        "objectUID",
        "",
        "a+b",
    ]);
    let values = prop::sample::select(vec![
        "1.2",
        "1.3",
        "1.3",
        "",
        "",
        "1.2%26_method=DELETE",
        "1.2%260020000D=",
        "*",
        "1.2%2C1.3",
        "1.2,1.3",
        "DELETE",
        "a+b",
        "%00",
        "1.2%00",
        "x%3Dy",
        "%2e",
        "1%2E2",
    ]);
    let bad = (keys, values).prop_map(|(k, v)| (k, v));
    let argument = (prop_oneof![2 => good, 1 => bad], any::<bool>()).prop_map(|((k, v), bare)| {
        if bare && v.is_empty() {
            (k, None)
        } else {
            (k, Some(v))
        }
    });
    (
        paths,
        noise,
        any::<prop::sample::Index>(),
        prop::collection::vec(argument, 0..4),
    )
        .prop_map(|(path, noise, at, arguments)| {
            let mut path = path.replace("{ID}", ID);
            let at = at.index(path.len() + 1);
            // Only at a character boundary (the paths are ASCII).
            path.insert_str(at, noise);
            let query: Vec<String> = arguments
                .into_iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.to_owned(),
                })
                .collect();
            if query.is_empty() {
                format!("/orthanc/{path}")
            } else {
                format!("/orthanc/{path}?{}", query.join("&"))
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8192))]

    #[test]
    fn what_the_gate_places_orthanc_reads_alike(raw in uris()) {
        let Ok(uri) = OriginalUri::parse(&raw, "/orthanc/") else { return Ok(()) };
        let Ok(placement) = uri.place() else { return Ok(()) };
        let orthanc = orthanc_reads(&raw);
        prop_assert_eq!(&orthanc.segments, &uri.segments, "path of {}", raw);
        let gate: Vec<(String, String)> = uri
            .arguments()
            .iter()
            .map(|a| (a.key.clone(), a.value.clone()))
            .collect();
        prop_assert_eq!(&orthanc.arguments, &gate, "arguments of {}", raw);
        prop_assert!(
            !orthanc.arguments.iter().any(|(k, _)| k == "_method"),
            "Orthanc would run another method for {}", raw
        );
        if let Anchor::Dicom(path) = &placement.anchor {
            let top = ["dicom-web", "wado"].contains(&uri.segments[0].as_str())
                && uri.segments.len() <= 2;
            if top {
                let (study, series, sop) = if uri.segments[0] == "wado" {
                    (&["studyUID"][..], &["seriesUID"][..], &["objectUID"][..])
                } else {
                    (STUDY, SERIES, SOP)
                };
                prop_assert_eq!(filter(&orthanc.arguments, study), path.study.as_deref(), "study filter of {}", raw);
                prop_assert_eq!(filter(&orthanc.arguments, series), path.series.as_deref(), "series filter of {}", raw);
                prop_assert_eq!(filter(&orthanc.arguments, sop), path.instance.as_deref(), "instance filter of {}", raw);
            }
        }
    }
}

/// The generator reaches both sides: some URIs are placed, and some attacks are among the
/// refused (so the property above is not vacuous).
#[test]
fn the_generator_makes_placed_and_refused_uris() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = uris();
    let (mut placed, mut refused) = (0, 0);
    for _ in 0..4096 {
        let raw = strategy.new_tree(&mut runner).expect("a value").current();
        match OriginalUri::parse(&raw, "/orthanc/")
            .ok()
            .and_then(|u| u.place().ok())
        {
            Some(_) => placed += 1,
            None => refused += 1,
        }
    }
    assert!(
        placed > 200 && refused > 200,
        "placed {placed}, refused {refused}"
    );
}
