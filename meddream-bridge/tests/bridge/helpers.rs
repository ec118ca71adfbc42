use std::time::Duration;

use meddream_bridge::double::MeddreamDouble;
use meddream_bridge::MeddreamClient;

/// Short enough to keep the failure tests quick, long enough for a loaded CI machine.
pub const TEST_CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
pub const TEST_TIMEOUT: Duration = Duration::from_millis(300);

/// A double and a client pointed at it.
pub async fn spawn_meddream() -> (MeddreamDouble, MeddreamClient) {
    let meddream = MeddreamDouble::start().await;
    let client = MeddreamClient::new(meddream.url(), TEST_CONNECT_TIMEOUT, TEST_TIMEOUT).unwrap();
    (meddream, client)
}

pub fn uids(uids: &[&str]) -> Vec<String> {
    uids.iter().map(|u| (*u).to_owned()).collect()
}
