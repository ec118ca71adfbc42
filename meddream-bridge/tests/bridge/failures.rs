use std::net::TcpListener;
use std::time::{Duration, Instant};

use meddream_bridge::double::Behaviour;
use meddream_bridge::{MeddreamClient, MeddreamError};
use url::Url;

use crate::helpers::{spawn_meddream, uids, TEST_CONNECT_TIMEOUT, TEST_TIMEOUT};

#[tokio::test]
async fn a_meddream_500_is_status_500_with_a_detail() {
    let (meddream, client) = spawn_meddream().await;
    meddream.set_behaviour(Behaviour::Status(500));

    let err = client.instant_token(&uids(&["1.2"])).await.unwrap_err();

    assert!(matches!(err, MeddreamError::Status(500)), "{err:?}");
    assert_eq!(
        err.status_detail().as_deref(),
        Some("meddream token service answered HTTP 500")
    );
}

#[tokio::test]
async fn the_fakes_fail_500_study_is_status_500() {
    let (_meddream, client) = spawn_meddream().await;

    let err = client
        .instant_token(&uids(&["fail-500"]))
        .await
        .unwrap_err();

    assert!(matches!(err, MeddreamError::Status(500)), "{err:?}");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let (meddream, client) = spawn_meddream().await;
    meddream.set_behaviour(Behaviour::Redirect);

    let err = client.instant_token(&uids(&["1.2"])).await.unwrap_err();

    assert!(matches!(err, MeddreamError::Status(307)), "{err:?}");
    assert_eq!(meddream.calls().len(), 1);
}

#[tokio::test]
async fn a_hanging_meddream_is_unreachable_within_the_timeout() {
    let (meddream, client) = spawn_meddream().await;
    meddream.set_behaviour(Behaviour::Hang);
    let started = Instant::now();

    let err = client.instant_token(&uids(&["1.2"])).await.unwrap_err();

    let elapsed = started.elapsed();
    assert!(matches!(err, MeddreamError::Unreachable(_)), "{err:?}");
    assert_eq!(err.to_string(), "meddream token service unreachable");
    assert!(elapsed >= TEST_TIMEOUT, "gave up early: {elapsed:?}");
    assert!(
        elapsed < TEST_TIMEOUT + Duration::from_secs(1),
        "gave up late: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed here: nothing listens on the port any more
    let url = Url::parse(&format!("http://127.0.0.1:{port}/v3/generate")).unwrap();
    let client = MeddreamClient::new(url, TEST_CONNECT_TIMEOUT, TEST_TIMEOUT).unwrap();

    let err = client.instant_token(&uids(&["1.2"])).await.unwrap_err();

    assert!(matches!(err, MeddreamError::Unreachable(_)), "{err:?}");
    assert_eq!(err.to_string(), "meddream token service unreachable");
}

#[tokio::test]
async fn a_binary_answer_is_not_a_token() {
    let (meddream, client) = spawn_meddream().await;
    meddream.set_behaviour(Behaviour::Garbage);

    let err = client.instant_token(&uids(&["1.2"])).await.unwrap_err();

    assert!(matches!(err, MeddreamError::InvalidAnswer), "{err:?}");
}

#[tokio::test]
async fn an_oversized_answer_is_cut_at_the_cap() {
    let (meddream, client) = spawn_meddream().await;
    meddream.set_behaviour(Behaviour::Oversized);

    let err = client.instant_token(&uids(&["1.2"])).await.unwrap_err();

    assert!(matches!(err, MeddreamError::OversizedAnswer), "{err:?}");
}

#[tokio::test]
async fn an_empty_answer_is_empty_answer() {
    let (meddream, client) = spawn_meddream().await;
    meddream.set_behaviour(Behaviour::Empty);

    let err = client.instant_token(&uids(&["1.2"])).await.unwrap_err();

    assert!(matches!(err, MeddreamError::EmptyAnswer), "{err:?}");
}

#[tokio::test]
async fn the_fakes_empty_answer_study_is_empty_answer() {
    let (_meddream, client) = spawn_meddream().await;

    let err = client
        .instant_token(&uids(&["empty-answer"]))
        .await
        .unwrap_err();

    assert!(matches!(err, MeddreamError::EmptyAnswer), "{err:?}");
}

#[tokio::test]
async fn no_study_is_refused_without_calling_meddream() {
    let (meddream, client) = spawn_meddream().await;

    let err = client.instant_token(&[]).await.unwrap_err();

    assert!(matches!(err, MeddreamError::NoStudy), "{err:?}");
    assert!(meddream.calls().is_empty());
}

#[tokio::test]
async fn the_client_recovers_once_meddream_does() {
    let (meddream, client) = spawn_meddream().await;
    meddream.set_behaviour(Behaviour::Hang);
    client.instant_token(&uids(&["1.2"])).await.unwrap_err();

    meddream.set_behaviour(Behaviour::Ok);

    client.instant_token(&uids(&["1.2"])).await.unwrap();
}

#[tokio::test]
async fn a_dropped_double_stops_listening() {
    let (meddream, client) = spawn_meddream().await;
    client.instant_token(&uids(&["1.2"])).await.unwrap();
    let addr = meddream.addr();

    drop(meddream);

    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still listening on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
