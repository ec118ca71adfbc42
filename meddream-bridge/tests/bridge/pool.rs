use std::sync::Arc;

use meddream_bridge::double::MeddreamDouble;
use meddream_bridge::{
    MeddreamClient, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, MAX_CONCURRENT_REQUESTS,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_parallel_calls_share_a_few_pooled_connections() {
    let meddream = MeddreamDouble::start().await;
    // Default timeouts: 100 calls queue behind MAX_CONCURRENT_REQUESTS slots on a 2-core machine.
    let client = Arc::new(
        MeddreamClient::new(meddream.url(), DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT).unwrap(),
    );

    let calls: Vec<_> = (0..100)
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
    for call in calls {
        call.await.unwrap();
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
