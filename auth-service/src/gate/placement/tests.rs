use super::*;
use crate::access::RouteKind;

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

/// Every REST route and tail a share reaches, each with a query key it takes.
#[test]
fn rest_routes_are_placed_on_their_resource() {
    use Level::*;
    use RouteKind::*;
    let cases = [
        ("/orthanc/instances/{ID}", orthanc(Instance, View)),
        ("/orthanc/instances/{ID}?token=x", orthanc(Instance, View)),
        ("/orthanc/instances/{ID}/preview", orthanc(Instance, View)),
        ("/orthanc/instances/{ID}/preview/", orthanc(Instance, View)),
        (
            "/orthanc/instances/{ID}/preview?quality=90&returnUnsupportedImage",
            orthanc(Instance, View),
        ),
        (
            "/orthanc/instances/{ID}/rendered?width=64",
            orthanc(Instance, View),
        ),
        (
            "/orthanc/instances/{ID}/image-uint8",
            orthanc(Instance, View),
        ),
        (
            "/orthanc/instances/{ID}/image-uint16",
            orthanc(Instance, View),
        ),
        (
            "/orthanc/instances/{ID}/image-int16",
            orthanc(Instance, View),
        ),
        ("/orthanc/instances/{ID}/frames", orthanc(Instance, View)),
        ("/orthanc/instances/{ID}/frames/0", orthanc(Instance, View)),
        (
            "/orthanc/instances/{ID}/frames/0/preview",
            orthanc(Instance, View),
        ),
        (
            "/orthanc/instances/{ID}/frames/12/rendered?window-center=40&window-width=400",
            orthanc(Instance, View),
        ),
        (
            "/orthanc/instances/{ID}/frames/0/raw",
            orthanc(Instance, View),
        ),
        (
            "/orthanc/instances/{ID}/tags?simplify",
            orthanc(Instance, View),
        ),
        (
            "/orthanc/instances/{ID}/simplified-tags",
            orthanc(Instance, View),
        ),
        ("/orthanc/instances/{ID}/header", orthanc(Instance, View)),
        ("/orthanc/instances/{ID}/module", orthanc(Instance, View)),
        ("/orthanc/instances/{ID}/pdf", orthanc(Instance, View)),
        ("/orthanc/instances/{ID}/file", orthanc(Instance, Download)),
        (
            "/orthanc/instances/{ID}/file?transcode=1.2.840.10008.1.2.1",
            orthanc(Instance, Download),
        ),
        ("/orthanc/series/{ID}", orthanc(Series, View)),
        ("/orthanc/series/{ID}?expand", orthanc(Series, View)),
        ("/orthanc/series/{ID}/instances", orthanc(Series, View)),
        ("/orthanc/series/{ID}/shared-tags", orthanc(Series, View)),
        ("/orthanc/series/{ID}/ordered-slices", orthanc(Series, View)),
        ("/orthanc/series/{ID}/archive", orthanc(Series, Download)),
        ("/orthanc/series/{ID}/media", orthanc(Series, Download)),
        ("/orthanc/studies/{ID}", orthanc(Study, View)),
        ("/orthanc/studies/{ID}/series?expand", orthanc(Study, View)),
        ("/orthanc/studies/{ID}/instances", orthanc(Study, View)),
        ("/orthanc/studies/{ID}/module-patient", orthanc(Study, View)),
        (
            "/orthanc/studies/{ID}/ohif-dicom-json",
            orthanc(Study, View),
        ),
        (
            "/orthanc/studies/{ID}/archive?filename=study.zip",
            orthanc(Study, Download),
        ),
        ("/orthanc/studies/{ID}/media", orthanc(Study, Download)),
        ("/orthanc/patients/{ID}", orthanc(Patient, View)),
        ("/orthanc/patients/{ID}/studies", orthanc(Patient, View)),
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

/// Every DICOMweb and WADO-URI request Stone and OHIF make (README and RESEARCH: their
/// requests), placed on the deepest UID they name.
#[test]
fn dicom_web_and_wado_are_placed_on_their_uids() {
    let u = Some("1.2");
    let s = Some("1.2.3");
    let i = Some("1.2.3.4");
    let cases = [
        // Stone's study, series and instance listings (tags, sorted keys, literal commas).
        ("/orthanc/dicom-web/studies?0020000D=1.2&includefield=00081030", dicom(u, None, None)),
        (
            "/orthanc/dicom-web/series?0020000D=1.2&includefield=00081030,00200011",
            dicom(u, None, None),
        ),
        (
            "/orthanc/dicom-web/instances?0020000D=1.2&0020000E=1.2.3&includefield=00080016&limit=1",
            dicom(u, s, None),
        ),
        (
            "/orthanc/dicom-web/instances?0020000D=1.2&0020000E=1.2.3&00080018=1.2.3.4",
            dicom(u, s, i),
        ),
        // OHIF's (keywords, encoded commas).
        (
            "/orthanc/dicom-web/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060&StudyInstanceUID=1.2",
            dicom(u, None, None),
        ),
        ("/orthanc/dicom-web/studies?StudyInstanceUID=1.2&token=t", dicom(u, None, None)),
        ("/orthanc/dicom-web/studies/1.2", dicom(u, None, None)),
        ("/orthanc/dicom-web/studies/1.2/metadata", dicom(u, None, None)),
        ("/orthanc/dicom-web/studies/1.2/rendered", dicom(u, None, None)),
        ("/orthanc/dicom-web/studies/1.2/series", dicom(u, None, None)),
        (
            "/orthanc/dicom-web/studies/1.2/series?includefield=0008103E%2C00080021",
            dicom(u, None, None),
        ),
        ("/orthanc/dicom-web/studies/1.2/instances", dicom(u, None, None)),
        ("/orthanc/dicom-web/studies/1.2/series/1.2.3", dicom(u, s, None)),
        ("/orthanc/dicom-web/studies/1.2/series/1.2.3/metadata", dicom(u, s, None)),
        (
            "/orthanc/dicom-web/studies/1.2/series/1.2.3/rendered?viewport=128,128",
            dicom(u, s, None),
        ),
        ("/orthanc/dicom-web/studies/1.2/series/1.2.3/thumbnail", dicom(u, s, None)),
        ("/orthanc/dicom-web/studies/1.2/series/1.2.3/instances", dicom(u, s, None)),
        (
            "/orthanc/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4",
            dicom(u, s, i),
        ),
        (
            "/orthanc/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/metadata",
            dicom(u, s, i),
        ),
        (
            "/orthanc/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/1,2",
            dicom(u, s, i),
        ),
        (
            "/orthanc/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/3/rendered?window=-40.5,400,linear",
            dicom(u, s, i),
        ),
        (
            "/orthanc/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/1/rendered?viewport=64,64",
            dicom(u, s, i),
        ),
        (
            "/orthanc/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/bulk/7fe00010",
            dicom(u, s, i),
        ),
        (
            "/orthanc/wado?requestType=WADO&studyUID=1.2&seriesUID=1.2.3&objectUID=1.2.3.4&contentType=image/jpeg",
            dicom(u, s, i),
        ),
        ("/orthanc/wado?requestType=WADO&objectUID=1.2.3.4", dicom(None, None, i)),
    ];
    for (raw, expected) in cases {
        assert_eq!(place(raw), Ok(expected), "{raw}");
    }
    assert_eq!(
        place("/orthanc/system"),
        Ok(Placement {
            route: RouteKind::View,
            anchor: Anchor::Server
        })
    );
}

/// The attacks of issue 21 and their neighbours: parents, writes, tools, listings that name
/// no single study, filters that widen a listing, keys this route does not take.
#[test]
fn routes_no_share_reaches_are_refused_with_the_reason() {
    let route = Unplaced::Route.to_string();
    let no_study = Unplaced::NoStudy.to_string();
    let key = |k: &str| Unplaced::Key(k.into()).to_string();
    let uid = |k: &'static str| Unplaced::Uid(k).to_string();
    let cases = [
        ("/orthanc/", route.clone()),
        ("/orthanc/system?expand", key("expand")),
        ("/orthanc/tools/find", route.clone()),
        ("/orthanc/tools/lookup", route.clone()),
        ("/orthanc/instances", route.clone()),
        ("/orthanc/studies", route.clone()),
        ("/orthanc/patients", route.clone()),
        ("/orthanc/instances/not-an-id/preview", route.clone()),
        (
            "/orthanc/instances/335CF67C-C1DE4B89-9EBBCEB6-B58B80F5-64162532/preview",
            route.clone(),
        ),
        // Parents: the patient of a study, the study of a series...
        ("/orthanc/studies/{ID}/patient", route.clone()),
        ("/orthanc/series/{ID}/patient", route.clone()),
        ("/orthanc/series/{ID}/study", route.clone()),
        ("/orthanc/instances/{ID}/patient", route.clone()),
        ("/orthanc/instances/{ID}/study", route.clone()),
        ("/orthanc/instances/{ID}/series", route.clone()),
        // Writes and what hangs off a resource besides its images.
        ("/orthanc/instances/{ID}/attachments", route.clone()),
        (
            "/orthanc/instances/{ID}/attachments/dicom/data",
            route.clone(),
        ),
        ("/orthanc/instances/{ID}/metadata", route.clone()),
        ("/orthanc/instances/{ID}/metadata/1024", route.clone()),
        ("/orthanc/studies/{ID}/modify", route.clone()),
        ("/orthanc/studies/{ID}/anonymize", route.clone()),
        ("/orthanc/studies/{ID}/labels", route.clone()),
        ("/orthanc/studies/{ID}/labels/x", route.clone()),
        ("/orthanc/patients/{ID}/protected", route.clone()),
        ("/orthanc/studies/{ID}/statistics", route.clone()),
        ("/orthanc/instances/{ID}/archive", route.clone()),
        ("/orthanc/instances/{ID}/frames/x/preview", route.clone()),
        ("/orthanc/instances/{ID}/frames/0/matlab", route.clone()),
        ("/orthanc/instances/{ID}/preview/x", route.clone()),
        ("/orthanc/instances/{ID}/content/0010-0010", route.clone()),
        ("/orthanc/instances/{ID}/preview?_x=1", key("_x")),
        ("/orthanc/studies/{ID}/archive?quality=1", key("quality")),
        // DICOMweb listings that name no single study, or widen it.
        ("/orthanc/dicom-web/studies", no_study.clone()),
        ("/orthanc/dicom-web/series", no_study.clone()),
        ("/orthanc/dicom-web/instances", no_study.clone()),
        (
            "/orthanc/dicom-web/studies?PatientName=*BOB*",
            no_study.clone(),
        ),
        (
            "/orthanc/dicom-web/studies?studyinstanceuid=1.2",
            no_study.clone(),
        ),
        ("/orthanc/dicom-web/studies?0020000d=1.2", no_study.clone()),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2&0020000D=",
            uid("StudyInstanceUID"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2&0020000D=1.3",
            uid("StudyInstanceUID"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2&PatientName=*BOB*",
            key("PatientName"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2&00100020=P1",
            key("00100020"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2&0020000d=1.3",
            key("0020000d"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=",
            uid("StudyInstanceUID"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2*",
            uid("StudyInstanceUID"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2,1.3",
            uid("StudyInstanceUID"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2%2C1.3",
            uid("StudyInstanceUID"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1%2E2",
            uid("StudyInstanceUID"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2&0020000E=1.2.3",
            key("0020000E"),
        ),
        (
            "/orthanc/dicom-web/series?0020000D=1.2&00080018=1.2.3.4",
            key("00080018"),
        ),
        (
            "/orthanc/dicom-web/studies?StudyInstanceUID=1.2&includefield=a%27b",
            Unplaced::Value("includefield".into()).to_string(),
        ),
        (
            "/orthanc/dicom-web/studies/1.2/series?Modality=CT",
            key("Modality"),
        ),
        (
            "/orthanc/dicom-web/studies/1.2/metadata?limit=1",
            key("limit"),
        ),
        ("/orthanc/dicom-web/studies/1..2", route.clone()),
        ("/orthanc/dicom-web/studies/1.2/series/x", route.clone()),
        ("/orthanc/dicom-web/studies/1.2/patient", route.clone()),
        (
            "/orthanc/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/",
            route.clone(),
        ),
        (
            "/orthanc/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/a",
            route.clone(),
        ),
        (
            "/orthanc/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/bulk",
            route.clone(),
        ),
        ("/orthanc/dicom-web/servers", route.clone()),
        (
            "/orthanc/wado?requestType=WADO&studyUID=1.2",
            uid("objectUID"),
        ),
        (
            "/orthanc/wado?objectUID=1.2&objectUID=1.3",
            "odd: a query parameter given twice".into(),
        ),
        (
            "/orthanc/wado?objectUID=1.2&anonymize=yes",
            key("anonymize"),
        ),
        // Static files of viewers and Orthanc's own UIs are not the gate's business.
        ("/orthanc/stone-webviewer/index.html", route.clone()),
        ("/orthanc/app/explorer.html", route.clone()),
        ("/orthanc/ui/app/", route.clone()),
    ];
    for (raw, expected) in cases {
        let raw = raw.replace("{ID}", ID);
        assert_eq!(place(&raw), Err(expected), "{raw}");
    }
}

#[test]
fn every_route_takes_the_token_once_and_no_method_override() {
    let preview = format!("/orthanc/instances/{ID}/preview");
    assert!(place(&format!("{preview}?token=a.b")).is_ok());
    for (query, refusal) in [
        ("?token=a&token=b", "odd: a query parameter given twice"),
        ("?_method=DELETE", "odd: a method override (_method): Orthanc would run another method than the one judged"),
        ("?token=a&_METHOD=PUT", "odd: a method override (_method): Orthanc would run another method than the one judged"),
        ("?%5Fmethod=DELETE", "odd: a query key Orthanc could read otherwise (empty, or holding %, + or a character no route uses)"),
        ("?token=a%26_method=DELETE", "odd: a query value Orthanc would split otherwise (an encoded &, = or #, or a control character)"),
    ] {
        assert_eq!(place(&format!("{preview}{query}")).map(|_| ()), Err(refusal.to_owned()), "{query}");
    }
}

mod orthanc_model;
