//! The gate against an attacker holding one study's share token (issue 21), end to end on the
//! real stack (`gate_stack.rs`: Debian's nginx running the shipped snippet, the app as the gate,
//! Orthanc 1.10 with DICOMweb), and asked directly as nginx would, to show that the gate refuses
//! on its own what the snippet refuses in front of it.
use serde_json::json;

use crate::gate_stack::{children_of, process_exists, raw_request, GateStack, Visit};
use crate::helpers::{basic, TestApp, PASSWORD, USER};

/// Asks the gate directly: `(status, X-Auth-Reason)`.
async fn ask_gate(
    app: &TestApp,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>) {
    let auth = basic(USER, PASSWORD);
    let mut all = vec![
        ("Authorization", auth.as_str()),
        ("X-Original-URI", uri),
        ("X-Original-Method", method),
    ];
    all.extend_from_slice(headers);
    let answer = raw_request(app.port, "GET", "/gate", &all).await;
    (
        answer.status,
        answer.header("x-auth-reason").map(str::to_owned),
    )
}

/// Study A and each of its series and instances are still in Orthanc.
async fn study_a_is_intact(stack: &GateStack) {
    let a = &stack.studies.a;
    let study = stack
        .orthanc
        .get(&format!("/studies/{}", a.id))
        .await
        .unwrap();
    assert_eq!(study.status(), 200, "study A deleted");
    for series in &a.series {
        for instance in &series.instances {
            let path = format!("/instances/{}/metadata", instance.id);
            let answer = stack.orthanc.get(&path).await.unwrap();
            assert_eq!(answer.status(), 200, "{path}");
            let metadata: serde_json::Value = answer.json().await.unwrap();
            assert!(
                metadata.get("1024").is_none(),
                "metadata written on {}: {metadata}",
                instance.id
            );
        }
    }
    assert_eq!(
        stack
            .orthanc
            .served("DELETE", &format!("/studies/{}", a.id)),
        0
    );
}

fn forbidden_by_nginx(visit: &Visit) -> bool {
    visit.status == 403 && visit.header("location").is_none()
}

#[tokio::test]
async fn method_overrides_are_refused_by_nginx_and_by_the_gate_and_delete_nothing() {
    let Some(stack) = GateStack::start("gate method overrides").await else {
        return;
    };
    let token = stack.token_for_a("stone-viewer-publication").await;
    let a = &stack.studies.a;
    let instance = &a.first_instance().id;
    let series = &a.series[0].id;
    let study = format!("/orthanc/studies/{}", a.id);
    let queries = [
        format!("{study}?_method=DELETE&token={token}"),
        format!("{study}?token={token}&_method=delete"),
        format!("{study}?_METHOD=DELETE&token={token}"),
        format!("{study}?%5Fmethod=DELETE&token={token}"),
        format!("{study}?_%6Dethod=DELETE&token={token}"),
        format!("{study}?%5F%6D%65thod=DELETE&token={token}"),
        format!("{study}?x=1%26_method=DELETE&token={token}"),
        format!("/orthanc/series/{series}?_method=DELETE&token={token}"),
        format!("/orthanc/instances/{instance}?_method=DELETE&token={token}"),
        format!("/orthanc/instances/{instance}/metadata/1024?_method=PUT&token={token}"),
    ];
    for uri in &queries {
        let visit = stack.visit("GET", uri, &[]).await;
        assert!(forbidden_by_nginx(&visit), "{uri}: {visit:?}");
        // Without the snippet's refusal, the gate refuses it too.
        let (status, reason) = ask_gate(&stack.app, "GET", uri, &[]).await;
        assert_eq!(
            (status, reason.as_deref()),
            (403, Some("forbidden")),
            "{uri}"
        );
    }
    for method in ["GET", "HEAD"] {
        for value in ["DELETE", "PUT", "delete", ""] {
            let headers = [("token", token.as_str()), ("X-HTTP-Method-Override", value)];
            let visit = stack.visit(method, &study, &headers).await;
            // nginx cannot tell an empty header from none (Orthanc ignores an empty one); the
            // gate refuses it all the same.
            let refused = forbidden_by_nginx(&visit)
                || (value.is_empty() && visit.denied_reason() == Some("forbidden"));
            assert!(refused, "{method} {value:?}: {visit:?}");
            let (status, reason) = ask_gate(&stack.app, method, &study, &headers).await;
            assert_eq!(
                (status, reason.as_deref()),
                (403, Some("forbidden")),
                "{method} {value:?}"
            );
        }
    }
    // Methods a share never has: nginx answers 405, the gate forbids, Orthanc never sees them.
    for method in ["DELETE", "PUT", "POST"] {
        let visit = stack.visit(method, &study, &[("token", &token)]).await;
        assert_eq!(visit.status, 405, "{method}: {visit:?}");
        let (status, reason) = ask_gate(&stack.app, method, &study, &[("token", &token)]).await;
        assert_eq!((status, reason.as_deref()), (403, Some("forbidden")));
    }
    study_a_is_intact(&stack).await;
    // The plain read next to them opens: the refusals above are the overrides'.
    let read = stack.visit("GET", &study, &[("token", &token)]).await;
    assert_eq!(read.status, 200, "{read:?}");
}

#[tokio::test]
async fn a_study_listing_names_the_shared_study_and_no_other() {
    let Some(stack) = GateStack::start("gate listings").await else {
        return;
    };
    let token = stack.token_for_a("stone-viewer-publication").await;
    let (a, b) = (&stack.studies.a, &stack.studies.b);
    let other_patient = "GATE^GATE-P2";
    let series = &a.series[0];
    let allowed = [
        format!("/orthanc/dicom-web/studies?StudyInstanceUID={}", a.uid),
        format!("/orthanc/dicom-web/studies?0020000D={}&includefield=00081030", a.uid),
        format!(
            "/orthanc/dicom-web/series?0020000D={}&includefield=00081030,00200011",
            a.uid
        ),
        format!(
            "/orthanc/dicom-web/instances?0020000D={}&0020000E={}&includefield=00080016&limit=1",
            a.uid, series.uid
        ),
        format!(
            "/orthanc/dicom-web/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060&StudyInstanceUID={}",
            a.uid
        ),
    ];
    for uri in &allowed {
        let visit = stack.visit("GET", uri, &[("token", &token)]).await;
        assert_eq!(visit.status, 200, "{uri}: {visit:?}");
        let body = String::from_utf8_lossy(&visit.body);
        assert!(body.contains(&a.uid), "{uri}: {body}");
        assert!(
            !body.contains(other_patient) && !body.contains(&b.uid),
            "{uri}: {body}"
        );
    }
    let attacks = [
        format!("/orthanc/dicom-web/studies?Study%49nstanceUID={}", a.uid),
        format!(
            "/orthanc/dicom-web/studies?StudyInstanceUID={}&0020000D=",
            a.uid
        ),
        format!(
            "/orthanc/dicom-web/studies?StudyInstanceUID={}&0020000D={}",
            a.uid, b.uid
        ),
        format!(
            "/orthanc/dicom-web/studies?0020000D={}&StudyInstanceUID={}",
            a.uid, b.uid
        ),
        format!(
            "/orthanc/dicom-web/studies?StudyInstanceUID={}&PatientName=*P2*",
            a.uid
        ),
        format!(
            "/orthanc/dicom-web/studies?StudyInstanceUID={}&00100020=GATE-P2",
            a.uid
        ),
        format!(
            "/orthanc/dicom-web/studies?StudyInstanceUID={}%2C{}",
            a.uid, b.uid
        ),
        format!(
            "/orthanc/dicom-web/studies?StudyInstanceUID={}%26StudyInstanceUID=",
            a.uid
        ),
        format!("/orthanc/dicom-web/studies?studyinstanceuid={}", a.uid),
        "/orthanc/dicom-web/studies?PatientName=*".to_owned(),
        "/orthanc/dicom-web/studies".to_owned(),
        format!("/orthanc/dicom-web/series?0020000D={}&0020000E=", a.uid),
        format!(
            "/orthanc/dicom-web/studies/{}/series?0020000D={}",
            a.uid, b.uid
        ),
    ];
    for uri in &attacks {
        let visit = stack.visit("GET", uri, &[("token", &token)]).await;
        assert_eq!(visit.denied_reason(), Some("forbidden"), "{uri}: {visit:?}");
        let body = String::from_utf8_lossy(&visit.body);
        assert!(
            !body.contains(other_patient) && !body.contains(&b.uid),
            "{uri}: {body}"
        );
    }
}

#[tokio::test]
async fn parents_are_refused_and_a_share_holds_its_level_only() {
    let Some(stack) = GateStack::start("gate parents and levels").await else {
        return;
    };
    let a = &stack.studies.a;
    let series = &a.series[0];
    let instance = &series.instances[0];
    let study_token = stack.token_for_a("viewer-instant-link").await;
    for uri in [
        format!("/orthanc/studies/{}/patient", a.id),
        format!("/orthanc/series/{}/patient", series.id),
        format!("/orthanc/instances/{}/patient", instance.id),
        format!("/orthanc/instances/{}/study", instance.id),
        format!("/orthanc/instances/{}/attachments", instance.id),
        format!("/orthanc/instances/{}/metadata", instance.id),
        format!("/orthanc/studies/{}/labels", a.id),
    ] {
        let visit = stack.visit("GET", &uri, &[("token", &study_token)]).await;
        assert_eq!(visit.denied_reason(), Some("forbidden"), "{uri}: {visit:?}");
    }

    // A series share: its series and instances, never the study above nor the study's other series.
    let series_share = json!({"resources": [{"dicom-uid": series.uid, "orthanc-id": series.id, "level": "series"}]});
    let series_token = stack.app.token("viewer-instant-link", &series_share).await;
    let opens = |uri: String| {
        let stack = &stack;
        let token = series_token.clone();
        async move { (stack.visit("GET", &uri, &[("token", &token)]).await, uri) }
    };
    for uri in [
        format!("/orthanc/series/{}", series.id),
        format!("/orthanc/instances/{}/preview", instance.id),
        format!(
            "/orthanc/dicom-web/studies/{}/series/{}/metadata",
            a.uid, series.uid
        ),
    ] {
        let (visit, uri) = opens(uri).await;
        assert_eq!(visit.status, 200, "{uri}: {visit:?}");
    }
    for uri in [
        format!("/orthanc/series/{}/study", series.id),
        format!("/orthanc/instances/{}/study", instance.id),
        format!("/orthanc/studies/{}", a.id),
        format!("/orthanc/studies/{}/archive", a.id),
        format!("/orthanc/series/{}", a.series[1].id),
        format!("/orthanc/dicom-web/studies?StudyInstanceUID={}", a.uid),
        format!("/orthanc/dicom-web/studies/{}/metadata", a.uid),
    ] {
        let (visit, uri) = opens(uri).await;
        assert_eq!(visit.denied_reason(), Some("forbidden"), "{uri}: {visit:?}");
    }

    // A patient whose PatientID is study A's UID: a share holding only that UID at study level
    // opens study A, never that patient, its study or its images.
    let namesake = stack
        .orthanc
        .create_instance(
            &a.uid,
            "1.2.826.0.1.3680043.10.543.9",
            "1.2.826.0.1.3680043.10.543.9.1",
            "1.2.826.0.1.3680043.10.543.9.1.1",
        )
        .await;
    let uid_only = json!({"resources": [{"dicom-uid": a.uid, "level": "study"}]});
    let token = stack.app.token("viewer-instant-link", &uid_only).await;
    let own = stack
        .visit(
            "GET",
            &format!("/orthanc/studies/{}", a.id),
            &[("token", &token)],
        )
        .await;
    assert_eq!(own.status, 200, "{own:?}");
    let patient = namesake["ParentPatient"].as_str().unwrap();
    let study = namesake["ParentStudy"].as_str().unwrap();
    let image = namesake["ID"].as_str().unwrap();
    for uri in [
        format!("/orthanc/patients/{patient}"),
        format!("/orthanc/patients/{patient}/studies"),
        format!("/orthanc/patients/{patient}/archive"),
        format!("/orthanc/studies/{study}"),
        format!("/orthanc/instances/{image}/preview"),
        format!("/orthanc/instances/{image}/file"),
    ] {
        let visit = stack.visit("GET", &uri, &[("token", &token)]).await;
        assert_eq!(visit.denied_reason(), Some("forbidden"), "{uri}: {visit:?}");
    }
}

/// Every request Stone makes for a shared study (RESEARCH: Stone Web Viewer's requests 1-9 and
/// its start-up `/system`) and the REST routes a viewer reads: open for study A, refused for B.
#[tokio::test]
async fn every_allowed_route_opens_the_shared_study_and_none_of_the_other() {
    let Some(stack) = GateStack::start("gate allowlist table").await else {
        return;
    };
    let token = stack.token_for_a("stone-viewer-publication").await;
    let routes = |study: &crate::gate_stack::Study| {
        let (u, series) = (&study.uid, &study.series[0]);
        let (s, instance) = (&series.uid, &series.instances[0]);
        let i = &instance.uid;
        vec![
            format!("/orthanc/dicom-web/studies?0020000D={u}&includefield=00081030"),
            format!("/orthanc/dicom-web/series?0020000D={u}&includefield=00081030,00200011"),
            format!("/orthanc/dicom-web/instances?0020000D={u}&0020000E={s}&includefield=00080016&limit=1"),
            format!("/orthanc/dicom-web/studies/{u}/series/{s}/rendered?viewport=64,64"),
            format!("/orthanc/dicom-web/studies/{u}/series/{s}/metadata"),
            format!("/orthanc/dicom-web/studies/{u}/series/{s}/instances/{i}/metadata"),
            format!("/orthanc/dicom-web/studies/{u}/series/{s}/instances/{i}/frames/1/rendered?window=127.5,255,linear"),
            format!("/orthanc/dicom-web/studies/{u}/series/{s}/instances/{i}"),
            format!("/orthanc/dicom-web/studies/{u}/series/{s}/instances/{i}/frames/1/rendered?viewport=64,64"),
            format!("/orthanc/dicom-web/studies/{u}/series"),
            format!("/orthanc/dicom-web/studies/{u}/metadata"),
            format!("/orthanc/dicom-web/studies/{u}/series/{s}/instances/{i}/frames/1"),
            format!("/orthanc/wado?requestType=WADO&studyUID={u}&seriesUID={s}&objectUID={i}&contentType=image/jpeg"),
            format!("/orthanc/studies/{}", study.id),
            format!("/orthanc/studies/{}/series", study.id),
            format!("/orthanc/studies/{}/instances", study.id),
            format!("/orthanc/studies/{}/archive", study.id),
            format!("/orthanc/studies/{}/shared-tags?simplify", study.id),
            format!("/orthanc/series/{}", series.id),
            format!("/orthanc/series/{}/instances", series.id),
            format!("/orthanc/instances/{}", instance.id),
            format!("/orthanc/instances/{}/preview", instance.id),
            format!("/orthanc/instances/{}/frames/0/preview", instance.id),
            format!("/orthanc/instances/{}/rendered", instance.id),
            format!("/orthanc/instances/{}/tags?simplify", instance.id),
            format!("/orthanc/instances/{}/file", instance.id),
        ]
    };
    for uri in routes(&stack.studies.a) {
        let visit = stack.visit("GET", &uri, &[("token", &token)]).await;
        assert_eq!(visit.status, 200, "{uri}: {visit:?}");
        assert!(!visit.body.is_empty(), "{uri}");
    }
    for uri in routes(&stack.studies.b) {
        let visit = stack.visit("GET", &uri, &[("token", &token)]).await;
        assert_eq!(visit.denied_reason(), Some("forbidden"), "{uri}: {visit:?}");
    }
    // Stone asks Orthanc's description at start, with its Bearer header.
    let bearer = format!("Bearer {token}");
    let system = stack
        .visit("GET", "/orthanc/system", &[("Authorization", &bearer)])
        .await;
    assert_eq!(system.status, 200, "{system:?}");
    assert!(String::from_utf8_lossy(&system.body).contains("ApiVersion"));
    let anonymous = stack.visit("GET", "/orthanc/system", &[]).await;
    assert_eq!(anonymous.denied_reason(), Some("missing"));
    let download = stack.token_for_a("download-instant-link").await;
    let by_download_link = stack
        .visit("GET", "/orthanc/system", &[("token", &download)])
        .await;
    assert_eq!(by_download_link.denied_reason(), Some("forbidden"));
}

#[tokio::test]
async fn writes_and_unreachable_routes_are_refused_even_while_orthanc_is_down() {
    let Some(mut stack) = GateStack::start("gate refusals without orthanc").await else {
        return;
    };
    let token = stack.token_for_a("viewer-instant-link").await;
    let a = stack.studies.a.id.clone();
    let instance = stack.studies.a.series[1].instances[0].id.clone();
    stack.orthanc.stop().await;
    let header = [("token", token.as_str())];
    for (method, uri) in [
        ("DELETE", format!("/orthanc/studies/{a}")),
        (
            "PUT",
            format!("/orthanc/instances/{instance}/metadata/1024"),
        ),
        ("POST", "/orthanc/tools/find".to_owned()),
        ("GET", format!("/orthanc/studies/{a}/patient")),
        ("GET", format!("/orthanc/studies/{a}?_method=DELETE")),
        ("GET", "/orthanc/dicom-web/studies".to_owned()),
    ] {
        let answer = ask_gate(&stack.app, method, &uri, &header).await;
        assert_eq!(answer, (403, Some("forbidden".into())), "{method} {uri}");
    }
    // A read the gate cannot place without Orthanc stays a 503, never an allow.
    let unplaced = format!("/orthanc/instances/{instance}/preview");
    assert_eq!(
        ask_gate(&stack.app, "GET", &unplaced, &header).await,
        (503, None)
    );
}

/// The stack's processes end with it: nginx's workers too (a SIGKILL to the master alone left
/// them running, holding their listening sockets).
#[tokio::test]
async fn no_process_of_the_stack_outlives_it() {
    let Some(stack) = GateStack::start("gate processes").await else {
        return;
    };
    let master = stack.nginx.pid().expect("nginx runs");
    let workers = children_of(master);
    assert!(!workers.is_empty(), "nginx has a worker");
    let orthanc = stack.orthanc.pid().expect("Orthanc runs");
    let port = stack.nginx.port;
    drop(stack);
    for pid in workers.iter().chain([&master, &orthanc]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while process_exists(*pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(!process_exists(*pid), "process {pid} outlived the stack");
    }
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "nobody listens on nginx's port any more"
    );
}
