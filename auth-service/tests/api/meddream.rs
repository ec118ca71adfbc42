//! MedDream instant links and publications, against the MedDream token-service double.
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
            &json!({"resources": [{"orthanc-id": "x", "level": "study"}]}),
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
async fn a_publication_opened_later_mints_a_new_instant_link_each_time() {
    let meddream = MeddreamDouble::start().await;
    let app = app_with(&meddream, &[]).await;
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
    assert_eq!(status, 400);
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
    assert_eq!(status, 400);
    assert!(answer["detail"]
        .as_str()
        .unwrap()
        .contains("PUBLIC_MEDDREAM_ROOT"));
}
