//! Waiting for what no "run what is due" entry point drives: the relay's
//! websocket (a live connection to the sandbox) and what it records.

use std::time::Duration;

use serde_json::Value;

use super::TestApp;

/// `probe`'s first `Some`, asked every 25 ms for up to 10 s.
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

impl TestApp {
    /// The account's relay status once its socket is connected and has
    /// reconnected at least `min_reconnects` times.
    pub async fn wait_connected(&self, account: &str, min_reconnects: u64) -> Value {
        eventually("the relay to be connected", async || {
            let s = self.state.relays.status(account);
            let reconnects = s["reconnects"].as_u64().unwrap();
            (s["connected"] == true && reconnects >= min_reconnects).then_some(s)
        })
        .await
    }
}
