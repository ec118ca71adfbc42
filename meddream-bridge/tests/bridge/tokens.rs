use meddream_bridge::double::{MeddreamDouble, TOKEN_SERVICE_PATH};
use serde_json::json;

use crate::helpers::{spawn_meddream, uids};

#[tokio::test]
async fn one_study_posts_one_item_and_returns_the_answer_verbatim() {
    let (meddream, client) = spawn_meddream().await;

    let token = client.instant_token(&uids(&["1.2.3"])).await.unwrap();

    assert_eq!(token, MeddreamDouble::token_for(&["1.2.3"]));
    let calls = meddream.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].path, TOKEN_SERVICE_PATH);
    assert_eq!(calls[0].content_type, "application/json");
    assert_eq!(
        calls[0].json,
        Some(json!({"items": [{"studies": {"study": "1.2.3", "storage": "Orthanc"}}]}))
    );
}

#[tokio::test]
async fn several_studies_post_one_item_per_study_in_order() {
    let (meddream, client) = spawn_meddream().await;
    let studies = ["1.2.3", "1.2.1", "9.8.7.6"];

    let token = client.instant_token(&uids(&studies)).await.unwrap();

    assert_eq!(token, MeddreamDouble::token_for(&studies));
    assert_eq!(
        meddream.calls()[0].json,
        Some(json!({"items": [
            {"studies": {"study": "1.2.3", "storage": "Orthanc"}},
            {"studies": {"study": "1.2.1", "storage": "Orthanc"}},
            {"studies": {"study": "9.8.7.6", "storage": "Orthanc"}},
        ]}))
    );
}

#[tokio::test]
async fn the_double_mints_the_same_token_as_the_python_fake() {
    // shared/compat-sample/golden-full.json, case full/create/meddream-instant-link/study-uid.
    let (_meddream, client) = spawn_meddream().await;

    let token = client
        .instant_token(&uids(&["1.2.840.113619.2.55.3.604688119.971.1"]))
        .await
        .unwrap();

    assert_eq!(token, "mdt-b7fb9247a713707a7b328e5bc1b33273");
}

#[tokio::test]
async fn the_double_records_calls_in_the_shape_of_the_python_fake_log() {
    let (meddream, client) = spawn_meddream().await;
    client.instant_token(&uids(&["1.2"])).await.unwrap();

    assert_eq!(
        serde_json::to_value(&meddream.calls()[0]).unwrap(),
        json!({
            "method": "POST",
            "path": "/v3/generate",
            "content-type": "application/json",
            "json": {"items": [{"studies": {"study": "1.2", "storage": "Orthanc"}}]},
            "raw": null,
        })
    );
}
