use std::sync::Arc;
use std::time::{Duration, Instant};

use meddream_bridge::double::{Behaviour, MeddreamDouble};
use meddream_bridge::{
    MeddreamClient, MeddreamError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT,
    MAX_CONCURRENT_REQUESTS, MAX_QUEUED_REQUESTS,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_calls_in_full_bursts_share_a_few_pooled_connections() {
    let meddream = MeddreamDouble::start().await;
    let client = Arc::new(
        MeddreamClient::new(meddream.url(), DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT).unwrap(),
    );

    // Bursts as large as the client takes (every slot and every place in the queue).
    let burst = MAX_CONCURRENT_REQUESTS + MAX_QUEUED_REQUESTS;
    let mut made = 0;
    while made < 100 {
        let calls: Vec<_> = (made..(made + burst).min(100))
            .map(|i| {
                let client = Arc::clone(&client);
                tokio::spawn(async move {
                    let uid = format!("1.2.{i}");
                    let token = client
                        .instant_token(std::slice::from_ref(&uid))
                        .await
                        .unwrap();
                    assert_eq!(token, MeddreamDouble::token_for(&[&uid]));
                })
            })
            .collect();
        made += calls.len();
        for call in calls {
            call.await.unwrap();
        }
    }

    assert_eq!(meddream.calls().len(), 100);
    // One connection per slot, plus slack: a call frees its slot just before hyper has put its
    // connection back in the pool, so the next call may open a new one. Unpooled, it is ~100.
    let connections = meddream.connections();
    assert!(
        connections <= 2 * MAX_CONCURRENT_REQUESTS,
        "{connections} connections for 100 calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_a_full_queue_is_refused_at_once_without_reaching_meddream() {
    let meddream = MeddreamDouble::start().await;
    meddream.set_behaviour(Behaviour::Hang);
    let client =
        MeddreamClient::new(meddream.url(), DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT).unwrap();
    let waiting: Vec<_> = (0..MAX_CONCURRENT_REQUESTS + MAX_QUEUED_REQUESTS)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.instant_token(&[format!("1.2.{i}")]).await })
        })
        .collect();
    // Every slot at MedDream (which never answers) and every place in the queue taken.
    let deadline = Instant::now() + Duration::from_secs(10);
    while meddream.calls().len() < MAX_CONCURRENT_REQUESTS || client.queued() < MAX_QUEUED_REQUESTS
    {
        assert!(
            Instant::now() < deadline,
            "{} calls, {} queued",
            meddream.calls().len(),
            client.queued()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let started = Instant::now();
    let err = client.instant_token(&["9.9".to_owned()]).await.unwrap_err();

    let elapsed = started.elapsed();
    assert!(matches!(err, MeddreamError::Busy), "{err:?}");
    assert_eq!(err.to_string(), "meddream token service busy");
    // At once: not after the 5 s the call may last (a loaded CI machine gets a second).
    assert!(
        elapsed < Duration::from_secs(1),
        "answered after {elapsed:?}"
    );
    assert_eq!(meddream.calls().len(), MAX_CONCURRENT_REQUESTS);
    for call in waiting {
        call.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_call_is_served_once_a_slot_frees() {
    let meddream = MeddreamDouble::start().await;
    meddream.set_behaviour(Behaviour::Slow(Duration::from_millis(200)));
    let client =
        MeddreamClient::new(meddream.url(), DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT).unwrap();
    let calls: Vec<_> = (0..MAX_CONCURRENT_REQUESTS + MAX_QUEUED_REQUESTS)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.instant_token(&[format!("1.2.{i}")]).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(client.queued(), 0);
    assert_eq!(
        meddream.calls().len(),
        MAX_CONCURRENT_REQUESTS + MAX_QUEUED_REQUESTS
    );
}
