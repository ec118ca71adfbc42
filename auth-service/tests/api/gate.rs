//! `GET /gate` end to end: real nginx running the shipped snippet in front of real Orthanc with
//! the DICOMweb plugin, the app as the gate (see `gate_stack.rs`).
use auth_service::domain::ShareId;
use serde_json::json;

use crate::gate_stack::{raw_request, spawn_gate_app, GateStack, NginxServer, DENIED_URL};
use crate::helpers::{basic, series_value, TestApp, PASSWORD, USER};
use crate::tools::free_port;

/// Asks the gate directly, as nginx does: `(status, X-Auth-Reason)`.
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

#[tokio::test]
async fn preview_opens_with_the_token_in_the_query_the_header_the_bearer_or_the_cookie() {
    let Some(stack) = GateStack::start("gate preview").await else {
        return;
    };
    let token = stack.token_for_a("viewer-instant-link").await;
    let preview = format!(
        "/orthanc/instances/{}/preview",
        stack.studies.a.first_instance().id
    );

    let by_query = stack
        .visit("GET", &format!("{preview}?token={token}"), &[])
        .await;
    assert!(by_query.is_png(), "{by_query:?}");
    let cookie = by_query
        .header("set-cookie")
        .expect("the gate hands out a cookie");
    assert!(
        cookie.starts_with(&format!("orthanc-share-token={token};")),
        "{cookie}"
    );
    for attribute in ["Path=/orthanc/", "HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{attribute} missing: {cookie}"
        );
    }

    let by_header = stack.visit("GET", &preview, &[("token", &token)]).await;
    assert!(by_header.is_png(), "{by_header:?}");
    let bearer = format!("Bearer {token}");
    let by_bearer = stack
        .visit("GET", &preview, &[("Authorization", &bearer)])
        .await;
    assert!(by_bearer.is_png(), "{by_bearer:?}");

    let jar = format!("theme=dark; orthanc-share-token={token}");
    let by_cookie = stack.visit("GET", &preview, &[("Cookie", &jar)]).await;
    assert!(by_cookie.is_png(), "{by_cookie:?}");
    assert_eq!(
        by_cookie.header("set-cookie"),
        None,
        "the cookie is not set again"
    );
    let header_and_cookie = stack
        .visit("GET", &preview, &[("token", &token), ("Cookie", &jar)])
        .await;
    assert!(header_and_cookie.is_png());
    assert_eq!(
        header_and_cookie.header("set-cookie"),
        None,
        "the same token is not set again"
    );
}

#[tokio::test]
async fn denied_visitors_are_sent_to_the_landing_page_with_the_reason() {
    let Some(stack) = GateStack::start("gate reasons").await else {
        return;
    };
    let preview = format!(
        "/orthanc/instances/{}/preview",
        stack.studies.a.first_instance().id
    );
    let no_token = stack.visit("GET", &preview, &[]).await;
    assert_eq!(no_token.denied_reason(), Some("missing"), "{no_token:?}");
    assert_eq!(
        no_token.header("location"),
        Some(&*format!("{DENIED_URL}?reason=missing"))
    );

    let forged = format!("{preview}?token=eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2lnbmF0dXJl");
    assert_eq!(
        stack.visit("GET", &forged, &[]).await.denied_reason(),
        Some("invalid")
    );

    let mut past = crate::gate_stack::share_of(&stack.studies.a);
    past["expiration-date"] = json!("2000-01-01T00:00:00Z");
    let expired = stack.app.token("viewer-instant-link", &past).await;
    let visit = stack.visit("GET", &preview, &[("token", &expired)]).await;
    assert_eq!(visit.denied_reason(), Some("expired"), "{visit:?}");
    assert!(!visit.is_png());
}

#[tokio::test]
async fn a_revoked_share_is_sent_to_the_landing_page_with_reason_revoked() {
    let Some(stack) = GateStack::start("gate revoked").await else {
        return;
    };
    let token = stack.token_for_a("viewer-instant-link").await;
    let preview = format!(
        "/orthanc/instances/{}/preview",
        stack.studies.a.first_instance().id
    );
    assert!(stack
        .visit("GET", &preview, &[("token", &token)])
        .await
        .is_png());
    let id = ShareId::of_token(&token).to_string();
    let (status, answer) = stack
        .app
        .send(
            reqwest::Method::POST,
            &format!("/shares/{id}/revoke"),
            &json!(null),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let visit = stack.visit("GET", &preview, &[("token", &token)]).await;
    assert_eq!(visit.denied_reason(), Some("revoked"), "{visit:?}");
    // The cookie a revoked token left behind opens nothing either.
    let jar = format!("orthanc-share-token={token}");
    let by_cookie = stack.visit("GET", &preview, &[("Cookie", &jar)]).await;
    assert_eq!(by_cookie.denied_reason(), Some("revoked"));
}

#[tokio::test]
async fn a_protected_link_opens_nothing_through_the_gate_until_unlocked() {
    let Some(stack) = GateStack::start("gate protected link").await else {
        return;
    };
    let mut body = crate::gate_stack::share_of(&stack.studies.a);
    body["protection"] = json!({"password": "gate-pass-1234"});
    let token = stack.app.token("stone-viewer-publication", &body).await;
    let preview = format!(
        "/orthanc/instances/{}/preview",
        stack.studies.a.first_instance().id
    );
    // The link's own token, copied into a viewer URL: sent back to the landing page.
    let visit = stack
        .visit("GET", &format!("{preview}?token={token}"), &[])
        .await;
    assert_eq!(visit.denied_reason(), Some("protected"), "{visit:?}");
    assert!(!visit.is_png());
    assert_eq!(
        ask_gate(&stack.app, "GET", &preview, &[("token", &token)]).await,
        (401, Some("protected".to_owned()))
    );
    // Unlocked: the session token in the viewer link opens the study, and only it.
    let (status, answer) = stack
        .app
        .send(
            reqwest::Method::POST,
            "/tokens/unlock",
            &json!({"token-value": token, "password": "gate-pass-1234"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let url = answer["redirect-url"].as_str().expect("a viewer link");
    let session = url.split("token=").nth(1).expect("the session token");
    let opened = stack.visit("GET", &preview, &[("token", session)]).await;
    assert!(opened.is_png(), "{opened:?}");
    let other = format!(
        "/orthanc/instances/{}/preview",
        stack.studies.b.first_instance().id
    );
    assert_eq!(
        stack
            .visit("GET", &other, &[("token", session)])
            .await
            .denied_reason(),
        Some("forbidden")
    );
    // Revoking the share closes the session at the gate, cookie included.
    let id = ShareId::of_token(&token).to_string();
    let (status, answer) = crate::shares::revoke(&stack.app, &id).await;
    assert_eq!(status, 200, "{answer}");
    let jar = format!("orthanc-share-token={session}");
    let by_cookie = stack.visit("GET", &preview, &[("Cookie", &jar)]).await;
    assert_eq!(by_cookie.denied_reason(), Some("revoked"), "{by_cookie:?}");
    let metrics = stack
        .app
        .get_authorized("/metrics")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        series_value(&metrics, "auth_gate_decisions_total{outcome=\"protected\"}"),
        2.0
    );
}

#[tokio::test]
async fn a_token_for_study_a_opens_every_route_of_a_and_none_of_b() {
    let Some(stack) = GateStack::start("gate study A vs B").await else {
        return;
    };
    let token = stack.token_for_a("stone-viewer-publication").await;
    let routes = |study: &crate::gate_stack::Study| {
        let series = &study.series[0];
        let instance = &series.instances[0];
        vec![
            format!("/orthanc/instances/{}/preview", instance.id),
            format!("/orthanc/instances/{}/frames/0/preview", instance.id),
            format!("/orthanc/series/{}", series.id),
            format!("/orthanc/studies/{}", study.id),
            format!("/orthanc/studies/{}/archive", study.id),
            format!("/orthanc/dicom-web/studies/{}/series", study.uid),
            format!(
                "/orthanc/dicom-web/studies/{}/series/{}/instances/{}/frames/1",
                study.uid, series.uid, instance.uid
            ),
            format!("/orthanc/dicom-web/studies?StudyInstanceUID={}", study.uid),
            format!(
                "/orthanc/wado?requestType=WADO&studyUID={}&seriesUID={}&objectUID={}&contentType=image/jpeg",
                study.uid, series.uid, instance.uid
            ),
        ]
    };
    for path in routes(&stack.studies.a) {
        let visit = stack.visit("GET", &path, &[("token", &token)]).await;
        assert_eq!(visit.status, 200, "{path}: {:?}", visit.header("location"));
        assert!(!visit.body.is_empty(), "{path}");
    }
    // The second series of A too: the share is the whole study.
    let a2 = &stack.studies.a.series[1].instances[0];
    let visit = stack
        .visit(
            "GET",
            &format!("/orthanc/instances/{}/preview", a2.id),
            &[("token", &token)],
        )
        .await;
    assert!(visit.is_png(), "{visit:?}");
    for path in routes(&stack.studies.b) {
        let visit = stack.visit("GET", &path, &[("token", &token)]).await;
        assert_eq!(
            visit.denied_reason(),
            Some("forbidden"),
            "{path}: {visit:?}"
        );
    }
    // A's study UID in front of B's series: the path lies about where B's series is.
    let (a, b) = (&stack.studies.a, &stack.studies.b);
    let mixed = format!(
        "/orthanc/dicom-web/studies/{}/series/{}/metadata",
        a.uid, b.series[0].uid
    );
    assert_eq!(
        stack
            .visit("GET", &mixed, &[("token", &token)])
            .await
            .denied_reason(),
        Some("forbidden")
    );
    let mixed_wado = format!(
        "/orthanc/wado?requestType=WADO&studyUID={}&objectUID={}",
        a.uid,
        b.first_instance().uid
    );
    assert_eq!(
        stack
            .visit("GET", &mixed_wado, &[("token", &token)])
            .await
            .denied_reason(),
        Some("forbidden")
    );
}

#[tokio::test]
async fn path_tricks_are_denied_by_the_gate_and_never_reach_orthanc() {
    let Some(stack) = GateStack::start("gate path tricks").await else {
        return;
    };
    let token = stack.token_for_a("viewer-instant-link").await;
    let a = stack.studies.a.first_instance().id.clone();
    let b = stack.studies.b.first_instance().id.clone();
    let tricks = [
        format!("/orthanc/instances/{a}/../../instances/{b}/preview"),
        format!("/orthanc/instances/{a}/%2e%2e/%2e%2e/instances/{b}/preview"),
        format!("/orthanc/instances/{a}%2F..%2F..%2Finstances%2F{b}/preview"),
        format!("/orthanc/instances/{a}/preview%2F"),
        format!("/orthanc//instances/{a}/preview"),
        format!("/orthanc/instances//{a}/preview"),
        format!("/orthanc/instances/{a};jsessionid=1/preview"),
        format!("/orthanc/instances/{a}/preview;x=y"),
        format!("/orthanc/instances/{a}\\..\\..\\tools\\find"),
        format!("/orthanc/instances/{a}/preview?token={token}&token={token}"),
    ];
    for trick in &tricks {
        // Odd paths, and a repeated argument (which one would Orthanc read?): forbidden.
        let (status, reason) = ask_gate(&stack.app, "GET", trick, &[("token", &token)]).await;
        assert_eq!(
            (status, reason.as_deref()),
            (403, Some("forbidden")),
            "{trick}"
        );
        // Through nginx, as a browser would send it: the landing page with the same reason.
        let visit = stack.visit("GET", trick, &[("token", &token)]).await;
        assert_eq!(
            visit.denied_reason(),
            Some("forbidden"),
            "{trick}: {visit:?}"
        );
    }
    // The plain spellings next to them are allowed: the denials above are the tricks'.
    let plain = format!("/orthanc/instances/{a}/preview/");
    assert!(stack
        .visit("GET", &plain, &[("token", &token)])
        .await
        .is_png());
}

#[tokio::test]
async fn writes_and_unplaceable_routes_are_denied_and_change_nothing() {
    let Some(stack) = GateStack::start("gate writes").await else {
        return;
    };
    let token = stack.token_for_a("viewer-instant-link").await;
    let instance = stack.studies.a.first_instance().id.clone();
    let writes = [
        ("DELETE", format!("/orthanc/instances/{instance}")),
        (
            "POST",
            format!("/orthanc/studies/{}/anonymize", stack.studies.a.id),
        ),
        (
            "PUT",
            format!("/orthanc/instances/{instance}/metadata/1024"),
        ),
        ("POST", "/orthanc/tools/find".to_owned()),
    ];
    for (method, path) in &writes {
        // nginx refuses every method but GET and HEAD; the gate, asked alone, forbids them too.
        let visit = stack.visit(method, path, &[("token", &token)]).await;
        assert_eq!(visit.status, 405, "{method} {path}: {visit:?}");
        let asked = ask_gate(&stack.app, method, path, &[("token", &token)]).await;
        assert_eq!(asked, (403, Some("forbidden".into())), "{method} {path}");
    }
    for path in [
        "/orthanc/studies",
        "/orthanc/dicom-web/studies",
        "/orthanc/app/explorer.html",
    ] {
        let visit = stack.visit("GET", path, &[("token", &token)]).await;
        assert_eq!(
            visit.denied_reason(),
            Some("forbidden"),
            "{path}: {visit:?}"
        );
    }
    let still_there = stack
        .orthanc
        .get(&format!("/instances/{instance}"))
        .await
        .expect("Orthanc answers");
    assert_eq!(still_there.status(), 200);
    let studies: serde_json::Value = stack
        .orthanc
        .get("/studies")
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(
        studies.as_array().map(Vec::len),
        Some(2),
        "no anonymized copy was made"
    );
}

#[tokio::test]
async fn a_download_link_opens_archives_and_files_only() {
    let Some(stack) = GateStack::start("gate download link").await else {
        return;
    };
    let token = stack.token_for_a("download-instant-link").await;
    let a = &stack.studies.a;
    let archive = stack
        .visit(
            "GET",
            &format!("/orthanc/studies/{}/archive", a.id),
            &[("token", &token)],
        )
        .await;
    assert_eq!(archive.status, 200);
    assert!(archive.body.starts_with(b"PK"), "a zip archive");
    let file = stack
        .visit(
            "GET",
            &format!("/orthanc/instances/{}/file", a.first_instance().id),
            &[("token", &token)],
        )
        .await;
    assert_eq!(file.status, 200);
    assert_eq!(&file.body[128..132], b"DICM", "a DICOM file");
    let preview = stack
        .visit(
            "GET",
            &format!("/orthanc/instances/{}/preview", a.first_instance().id),
            &[("token", &token)],
        )
        .await;
    assert_eq!(preview.denied_reason(), Some("forbidden"));
    let b_archive = stack
        .visit(
            "GET",
            &format!("/orthanc/studies/{}/archive", stack.studies.b.id),
            &[("token", &token)],
        )
        .await;
    assert_eq!(b_archive.denied_reason(), Some("forbidden"));
}

#[tokio::test]
async fn known_resources_stay_allowed_from_the_cache_and_new_ones_get_503_when_orthanc_stops() {
    let Some(mut stack) = GateStack::start("gate cache").await else {
        return;
    };
    let token = stack.token_for_a("viewer-instant-link").await;
    let a = stack.studies.a.first_instance().id.clone();
    let other_of_a = stack.studies.a.series[1].instances[0].id.clone();
    let uri = format!("/orthanc/instances/{a}/preview");
    let header = [("token", token.as_str())];
    assert_eq!(
        ask_gate(&stack.app, "GET", &uri, &header).await,
        (204, None)
    );
    stack.orthanc.stop().await;
    // Placed before: answered from the cache, without Orthanc.
    assert_eq!(
        ask_gate(&stack.app, "GET", &uri, &header).await,
        (204, None)
    );
    // Never placed: the gate cannot say, so it denies with 503 (no reason: not the visitor's fault).
    let unknown = format!("/orthanc/instances/{other_of_a}/preview");
    assert_eq!(
        ask_gate(&stack.app, "GET", &unknown, &header).await,
        (503, None)
    );
    // Through nginx: a 503 page, no redirect to the landing page, no image.
    let visit = stack.visit("GET", &unknown, &header).await;
    assert_eq!(visit.status, 503, "{visit:?}");
    // Token problems are still told apart without Orthanc.
    assert_eq!(
        ask_gate(&stack.app, "GET", &unknown, &[]).await,
        (401, Some("missing".into()))
    );
    // Each decision counted once, by outcome (nginx's sub-request for the visit included).
    let metrics = stack
        .app
        .get_authorized("/metrics")
        .await
        .text()
        .await
        .unwrap();
    for (outcome, count) in [
        ("granted", 2.0),
        ("unavailable", 2.0),
        ("missing", 1.0),
        ("expired", 0.0),
    ] {
        let series = format!("auth_gate_decisions_total{{outcome=\"{outcome}\"}}");
        assert_eq!(series_value(&metrics, &series), count, "{series}");
    }
}

#[tokio::test]
async fn concurrent_first_requests_for_one_resource_ask_orthanc_once() {
    let Some(stack) = GateStack::start("gate merged misses").await else {
        return;
    };
    let token = stack.token_for_a("viewer-instant-link").await;
    let series = &stack.studies.a.series[1];
    let instance = &series.instances[0].id;
    let uri = format!("/orthanc/instances/{instance}/frames/0/preview");
    let auth = basic(USER, PASSWORD);
    let asks: Vec<_> = (0..32)
        .map(|_| {
            let (port, uri, token, auth) =
                (stack.app.port, uri.clone(), token.clone(), auth.clone());
            tokio::spawn(async move {
                let headers = [
                    ("Authorization", auth.as_str()),
                    ("X-Original-URI", uri.as_str()),
                    ("X-Original-Method", "GET"),
                    ("token", token.as_str()),
                ];
                raw_request(port, "GET", "/gate", &headers).await.status
            })
        })
        .collect();
    for ask in asks {
        assert_eq!(ask.await.expect("ask finished"), 204);
    }
    for _ in 0..5 {
        assert_eq!(
            ask_gate(&stack.app, "GET", &uri, &[("token", &token)])
                .await
                .0,
            204
        );
    }
    assert_eq!(
        stack
            .orthanc
            .served("GET", &format!("/instances/{instance}")),
        1
    );
    assert_eq!(
        stack
            .orthanc
            .served("GET", &format!("/series/{}", series.id)),
        1
    );
    assert_eq!(
        stack
            .orthanc
            .served("GET", &format!("/studies/{}", stack.studies.a.id)),
        1
    );
}

#[tokio::test]
async fn orthanc_unreachable_is_a_503_never_an_allow() {
    // No Orthanc at all behind this gate: a closed loopback port.
    let app = spawn_gate_app(&format!("http://127.0.0.1:{}/", free_port())).await;
    let share = json!({"resources": [{"dicom-uid": "1.2.3", "orthanc-id": "8163b464-1317cc81-c25be14a-e2a5b3c1-94f6cf23", "level": "study"}]});
    let token = app.token("viewer-instant-link", &share).await;
    let uri = "/orthanc/studies/8163b464-1317cc81-c25be14a-e2a5b3c1-94f6cf23/archive";
    let (status, reason) = ask_gate(&app, "GET", uri, &[("token", &token)]).await;
    assert_eq!((status, reason), (503, None));
    let dicom_web = "/orthanc/dicom-web/studies/1.2.3/metadata";
    assert_eq!(
        ask_gate(&app, "GET", dicom_web, &[("token", &token)])
            .await
            .0,
        503
    );
}

#[tokio::test]
async fn the_gate_answers_only_with_credentials_and_only_when_configured() {
    let app = spawn_gate_app(&format!("http://127.0.0.1:{}/", free_port())).await;
    let anonymous = raw_request(
        app.port,
        "GET",
        "/gate",
        &[
            ("X-Original-URI", "/orthanc/system"),
            ("X-Original-Method", "GET"),
        ],
    )
    .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Basic"));
    assert_eq!(
        ask_gate(&app, "GET", "/orthanc/tools/find", &[]).await,
        (403, Some("forbidden".into()))
    );
    let post = raw_request(
        app.port,
        "POST",
        "/gate",
        &[("Authorization", &basic(USER, PASSWORD))],
    )
    .await;
    assert_eq!((post.status, post.header("allow")), (405, Some("GET")));
    // Without ORTHANC_URL there is no gate.
    let plain = crate::helpers::spawn_app(&[]).await;
    assert_eq!(ask_gate(&plain, "GET", "/orthanc/system", &[]).await.0, 404);
}

/// nginx must answer even when the gate it calls is down: a 500 from auth_request becomes the
/// snippet's 503 page, never Orthanc's data.
#[tokio::test]
async fn nginx_with_the_gate_down_serves_nothing() {
    let Some(tools) = crate::gate_stack::Tools::find("gate down") else {
        return;
    };
    let orthanc = crate::gate_stack::OrthancServer::start(&tools).await;
    let studies = orthanc.load_studies().await;
    let nginx = NginxServer::start(&tools, free_port(), orthanc.port).await;
    let path = format!(
        "/orthanc/instances/{}/preview",
        studies.a.first_instance().id
    );
    let visit = raw_request(nginx.port, "GET", &path, &[]).await;
    assert_eq!(visit.status, 503, "{visit:?}");
    assert!(!visit.is_png());
}
