//! One MedDream link repeated by a hundred clients must not take MedDream from everyone: against
//! a MedDream stand-in that takes 0.5 s per token, another visitor's MedDream link and an OE2
//! instant link keep opening in their usual time, and MedDream mints one token for the flood.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meddream_bridge::double::{Behaviour, MeddreamDouble};
use serde_json::json;

use crate::helpers::*;

const MEDDREAM_ROOT: &str = "http://viewer.test/meddream/";
const MINT: Duration = Duration::from_millis(500);
/// A MedDream link's usual time is one mint; on a loaded two-core test machine, allow this.
const USUAL: Duration = Duration::from_millis(2500);

fn studies(uid: &str) -> serde_json::Value {
    json!({"resources": [{"dicom-uid": uid, "level": "study"}]})
}

fn minted_for(meddream: &MeddreamDouble, uid: &str) -> usize {
    meddream
        .calls()
        .iter()
        .filter(|c| {
            c.json
                .as_ref()
                .and_then(|j| j.pointer("/items/0/studies/study"))
                .and_then(|s| s.as_str())
                == Some(uid)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_one_meddream_link_leaves_meddream_to_everyone_else() {
    let meddream = MeddreamDouble::start().await;
    meddream.set_behaviour(Behaviour::Slow(MINT));
    let meddream_url = meddream.url().to_string();
    let auth = spawn_auth(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &meddream_url),
        ("PUBLIC_MEDDREAM_ROOT", MEDDREAM_ROOT),
        ("PUBLIC_LANDING_ROOT", "http://viewer.test/share/"),
    ])
    .await;
    let landing = Arc::new(spawn_landing(&auth.url, &[]).await);
    let flooded = auth
        .token("meddream-viewer-publication", studies("1.2.3.1"))
        .await;
    let other = auth
        .token("meddream-viewer-publication", studies("1.2.3.2"))
        .await;

    // A hundred clients (their own addresses, passed on by a trusted proxy) repeat the link.
    let stop = Instant::now() + Duration::from_secs(4);
    let (opened, throttled, failed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let clients: Vec<_> = (0..100)
        .map(|i| {
            let (landing, token) = (landing.clone(), flooded.clone());
            let (opened, throttled, failed) = (opened.clone(), throttled.clone(), failed.clone());
            tokio::spawn(async move {
                while Instant::now() < stop {
                    let res = landing
                        .client
                        .get(landing.link(&token))
                        .header(
                            "X-Forwarded-For",
                            format!("198.18.{}.{}", i / 200, i % 200 + 1),
                        )
                        .send()
                        .await;
                    let counter = match res.map(|r| r.status().as_u16()) {
                        Ok(302) => &opened,
                        Ok(429) => &throttled,
                        _ => &failed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Meanwhile, another visitor opens their MedDream link...
    let started = Instant::now();
    let page = landing.open(&other).await;
    let other_took = started.elapsed();
    assert_eq!(page.status, 302, "{}", page.body);
    assert!(page
        .header("location")
        .starts_with(&format!("{MEDDREAM_ROOT}?study=1.2.3.2&token=mdt-")));
    // ...and OE2 asks auth-service for an instant link.
    let started = Instant::now();
    let res = reqwest::Client::new()
        .put(format!("{}tokens/meddream-instant-link", auth.url))
        .basic_auth(USER, Some(PASSWORD))
        .json(&json!({"id": "oe2", "resources": [{"dicom-uid": "1.2.3.3", "level": "study"}], "type": "meddream-instant-link"}))
        .send()
        .await
        .unwrap();
    let oe2_took = started.elapsed();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    for client in clients {
        client.await.unwrap();
    }
    let (opened, throttled, failed) = (
        opened.load(Ordering::Relaxed),
        throttled.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    eprintln!(
        "flood: {opened} opened, {throttled} refused 429, {failed} other; other visitor {other_took:?}, OE2 {oe2_took:?}; MedDream minted {} tokens",
        meddream.calls().len()
    );
    assert!(
        other_took < USUAL,
        "another visitor's link took {other_took:?}"
    );
    assert!(oe2_took < USUAL, "OE2's instant link took {oe2_took:?}");
    assert_eq!(failed, 0, "flood answers other than 302 and 429");
    assert!(opened <= 10, "{opened} opens of one link within a minute");
    assert!(throttled > 100, "{throttled} refused");
    assert_eq!(
        minted_for(&meddream, "1.2.3.1"),
        1,
        "the flood minted more than one token"
    );
    assert_eq!(
        meddream.calls().len(),
        3,
        "one token each: flood, other visitor, OE2"
    );
}
