//! MedDream instant links and publications, against the MedDream token-service double.
use std::time::{Duration, Instant};

use meddream_bridge::double::{Behaviour, MeddreamDouble};
use serde_json::{json, Value};

use crate::helpers::{assert_no_token_in, spawn_app, TestApp};
use crate::tokens::PROTOCOL_TOKEN_2;

const LANDING: &str = "https://pacs.example.test/landing/";
const MEDDREAM: &str = "https://pacs.example.test/meddream/";

async fn app_with(meddream: &MeddreamDouble, extra: &[(&str, &str)]) -> TestApp {
    let url = meddream.url().to_string();
    let mut env = vec![
        ("MEDDREAM_TOKEN_SERVICE_URL", url.as_str()),
        ("PUBLIC_MEDDREAM_ROOT", MEDDREAM),
        ("PUBLIC_LANDING_ROOT", LANDING),
        ("MEDDREAM_TIMEOUT_SECONDS", "0.5"),
    ];
    env.extend_from_slice(extra);
    spawn_app(&env).await
}

fn studies(uids: &[&str]) -> Value {
    json!({"id": "md", "resources": uids.iter().map(|u| json!({"dicom-uid": u, "level": "study"})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn an_instant_link_carries_a_fresh_meddream_token_for_its_studies() {
    let meddream = MeddreamDouble::start().await;
    let app = app_with(&meddream, &[]).await;
    for uids in [vec!["1.2.3"], vec!["1.2.3", "1.2.4"]] {
        let (status, answer) = app.create("meddream-instant-link", &studies(&uids)).await;
        assert_eq!(status, 200, "{answer}");
        let token = MeddreamDouble::token_for(&uids);
        assert_eq!(answer["token"], token);
        assert_eq!(
            answer["url"],
            format!("{MEDDREAM}?study={}&token={token}", uids.join(","))
        );
        assert_eq!(answer["request"]["type"], "meddream-instant-link");
        let last = meddream
            .calls()
            .last()
            .cloned()
            .expect("MedDream was called");
        let items: Vec<Value> = uids
            .iter()
            .map(|u| json!({"studies": {"study": u, "storage": "Orthanc"}}))
            .collect();
        assert_eq!(last.json, Some(json!({ "items": items })));
    }
}

#[tokio::test]
async fn meddream_links_need_studies() {
    let meddream = MeddreamDouble::start().await;
    let app = app_with(&meddream, &[]).await;
    let series = json!({"resources": [{"dicom-uid": "1.2.3.4", "level": "series"}]});
    let (status, answer) = app.create("meddream-instant-link", &series).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("meddream needs studies")),
        "{answer}"
    );
    let (status, _) = app.create("meddream-instant-link", &studies(&[])).await;
    assert_eq!(status, 400);
    let (status, answer) = app
        .create(
            "meddream-instant-link",
            &json!({"resources": [{"orthanc-id": "6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f", "level": "study"}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(answer["detail"].as_str().unwrap().contains("dicom-uid"));
    assert!(meddream.calls().is_empty(), "nothing reached MedDream");
}

#[tokio::test]
async fn meddream_failures_answer_502_never_500() {
    let meddream = MeddreamDouble::start().await;
    let app = app_with(&meddream, &[]).await;
    let cases = [
        (
            Behaviour::Status(500),
            "meddream token service failed",
            Some("500"),
        ),
        (Behaviour::Hang, "meddream token service unreachable", None),
        (Behaviour::Garbage, "meddream token service failed", None),
        (Behaviour::Oversized, "meddream token service failed", None),
        (Behaviour::Empty, "meddream token service failed", None),
    ];
    for (behaviour, error, detail) in cases {
        meddream.set_behaviour(behaviour);
        let (status, answer) = app
            .create("meddream-instant-link", &studies(&["1.2.3"]))
            .await;
        assert_eq!(status, 502, "{behaviour:?}: {answer}");
        assert_eq!(answer["error"], error, "{behaviour:?}");
        if let Some(d) = detail {
            assert!(
                answer["detail"].as_str().unwrap_or("").contains(d),
                "{answer}"
            );
        }
    }
    // Nothing listening at all.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://127.0.0.1:{}/v3/generate",
            l.local_addr().unwrap().port()
        )
    };
    let app = spawn_app(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &closed),
        ("PUBLIC_MEDDREAM_ROOT", MEDDREAM),
    ])
    .await;
    let (status, answer) = app
        .create("meddream-instant-link", &studies(&["1.2.3"]))
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (502, Some("meddream token service unreachable"))
    );
}

#[tokio::test]
async fn without_reuse_a_publication_mints_a_new_instant_link_at_each_open() {
    let meddream = MeddreamDouble::start().await;
    let app = app_with(&meddream, &[("MEDDREAM_LINK_REUSE_SECONDS", "0")]).await;
    let (status, answer) = app
        .create("meddream-viewer-publication", &studies(&["1.2.3"]))
        .await;
    assert_eq!(status, 200, "{answer}");
    let token = answer["token"].as_str().unwrap().to_owned();
    assert_eq!(answer["url"], format!("{LANDING}?token={token}"));
    assert!(
        meddream.calls().is_empty(),
        "creating the publication does not call MedDream"
    );
    for n in 1..=2 {
        let decoded = app.decode(&token).await;
        assert_eq!(decoded["error-code"], Value::Null, "{decoded}");
        assert_eq!(decoded["token-type"], "meddream-viewer-publication");
        let want = format!(
            "{MEDDREAM}?study=1.2.3&token={}",
            MeddreamDouble::token_for(&["1.2.3"])
        );
        assert_eq!(decoded["redirect-url"], want);
        assert_eq!(
            meddream.calls().len(),
            n,
            "each opening asks MedDream again"
        );
    }
    meddream.set_behaviour(Behaviour::Status(503));
    let (status, answer) = app
        .send(
            reqwest::Method::POST,
            "/tokens/decode",
            &json!({"token-key": "token", "token-value": token}),
        )
        .await;
    assert_eq!(status, 502, "{answer}");
    assert_no_token_in(status, &answer);
}

#[tokio::test]
async fn the_protocol_meddream_token_opens_with_its_secret() {
    let meddream = MeddreamDouble::start().await;
    let app = app_with(&meddream, &[("SECRET_KEY", "change-me-I-am-a-secret-key")]).await;
    let decoded = app.decode(PROTOCOL_TOKEN_2).await;
    let uid = "1.2.276.0.37.1.322.201502.11033927";
    assert_eq!(decoded["error-code"], Value::Null, "{decoded}");
    assert_eq!(
        decoded["redirect-url"],
        format!(
            "{MEDDREAM}?study={uid}&token={}",
            MeddreamDouble::token_for(&[uid])
        )
    );
}

#[tokio::test]
async fn a_publication_needs_the_landing_page_and_meddream() {
    let meddream = MeddreamDouble::start().await;
    let url = meddream.url().to_string();
    let no_landing = spawn_app(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &url),
        ("PUBLIC_MEDDREAM_ROOT", MEDDREAM),
    ])
    .await;
    let (status, answer) = no_landing
        .create("meddream-viewer-publication", &studies(&["1.2.3"]))
        .await;
    assert_eq!(status, 404);
    assert!(answer["detail"]
        .as_str()
        .unwrap()
        .contains("PUBLIC_LANDING_ROOT"));
    let no_root = spawn_app(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &url),
        ("PUBLIC_LANDING_ROOT", LANDING),
    ])
    .await;
    let (status, answer) = no_root
        .create("meddream-instant-link", &studies(&["1.2.3"]))
        .await;
    assert_eq!(status, 404);
    assert!(answer["detail"]
        .as_str()
        .unwrap()
        .contains("PUBLIC_MEDDREAM_ROOT"));
}

#[tokio::test]
async fn opens_of_one_publication_reuse_its_meddream_link_for_a_while() {
    let meddream = MeddreamDouble::start().await;
    let app = app_with(&meddream, &[("MEDDREAM_LINK_REUSE_SECONDS", "0.5")]).await;
    let token = app
        .token("meddream-viewer-publication", &studies(&["1.2.3"]))
        .await;
    let other = app
        .token("meddream-viewer-publication", &studies(&["1.2.4"]))
        .await;
    let first = app.decode(&token).await;
    let again = app.decode(&token).await;
    assert_eq!(first["redirect-url"], again["redirect-url"], "{again}");
    assert_eq!(meddream.calls().len(), 1, "the second open reused the link");
    assert_eq!(app.decode(&other).await["error-code"], Value::Null);
    assert_eq!(meddream.calls().len(), 2, "another share has its own link");
    // Past the reuse period, an open mints again (polled: the period is a clock's business).
    let deadline = Instant::now() + Duration::from_secs(10);
    while meddream.calls().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no new link after the reuse period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(app.decode(&token).await["error-code"], Value::Null);
    }
    // A failed mint is not remembered: the next open asks MedDream again.
    let third = app
        .token("meddream-viewer-publication", &studies(&["1.2.5"]))
        .await;
    meddream.set_behaviour(Behaviour::Status(500));
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            "/tokens/decode",
            &json!({"token-key": "token", "token-value": third}),
        )
        .await;
    assert_eq!(status, 502);
    meddream.set_behaviour(Behaviour::Ok);
    let calls = meddream.calls().len();
    assert_eq!(app.decode(&third).await["error-code"], Value::Null);
    assert_eq!(meddream.calls().len(), calls + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_is_counted_before_minting_so_opens_past_the_limit_mint_nothing() {
    let meddream = MeddreamDouble::start().await;
    meddream.set_behaviour(Behaviour::Slow(Duration::from_millis(100)));
    // No reuse: each granted open mints its own link, so the count shows the order.
    let app = app_with(
        &meddream,
        &[
            ("MEDDREAM_LINK_REUSE_SECONDS", "0"),
            ("MEDDREAM_TIMEOUT_SECONDS", "5"),
        ],
    )
    .await;
    let mut body = studies(&["1.2.3"]);
    body["max-uses"] = json!(3);
    let token = app.token("meddream-viewer-publication", &body).await;
    let app = std::sync::Arc::new(app);
    let opens: Vec<_> = (0..20)
        .map(|_| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move { app.decode(&token).await })
        })
        .collect();
    let mut codes = Vec::new();
    for open in opens {
        codes.push(open.await.unwrap()["error-code"].clone());
    }
    let opened = codes.iter().filter(|c| c.is_null()).count();
    let used_up = codes.iter().filter(|c| *c == "used-up").count();
    assert_eq!((opened, used_up), (3, 17), "{codes:?}");
    assert_eq!(
        meddream.calls().len(),
        3,
        "MedDream minted for the granted opens only"
    );
}

#[tokio::test]
async fn a_preview_checks_the_share_without_counting_a_use_or_minting() {
    let meddream = MeddreamDouble::start().await;
    let app = app_with(&meddream, &[]).await;
    let mut body = studies(&["1.2.3", "1.2.4"]);
    body["max-uses"] = json!(1);
    let token = app.token("meddream-viewer-publication", &body).await;
    let preview = |token: String| {
        let app = &app;
        async move {
            app.send(
                reqwest::Method::POST,
                "/tokens/decode",
                &json!({"token-key": "token", "token-value": token, "preview": true}),
            )
            .await
        }
    };
    for _ in 0..3 {
        let (status, answer) = preview(token.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(answer["error-code"], Value::Null, "{answer}");
        assert_eq!(answer["redirect-url"], Value::Null);
        assert_eq!(answer["token-type"], "meddream-viewer-publication");
        assert_eq!(answer["resources"].as_array().map(Vec::len), Some(2));
    }
    assert!(
        meddream.calls().is_empty(),
        "a preview minted a MedDream token"
    );
    // The one allowed open is still there, then the preview says the share is used up.
    assert_eq!(app.decode(&token).await["error-code"], Value::Null);
    assert_eq!(app.decode(&token).await["error-code"], "used-up");
    assert_eq!(preview(token.clone()).await.1["error-code"], "used-up");
    // A forged token: invalid, as an open would say.
    let forged = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(preview(forged).await.1["error-code"], "invalid");
}
