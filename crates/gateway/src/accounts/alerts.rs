//! `fansly.accounts.alert`: what integrators must act on about an account
//! that no other event says — today that it needs its owner to reconnect it
//! (the protocol-drift guard's findings are to arrive here too). Fansly's
//! own admin notices ("Fansly Alerts", notification family 24xxx) come
//! through the relay with the same event name.

use serde_json::json;

use crate::accounts::sessions::Sessions;
use crate::accounts::store;
use crate::core::time::now_ms;
use crate::events::outbox::NewEvent;

/// The `type` of the alert `relogin.rs` raises when an account needs its
/// owner. Fansly's own
/// alerts carry their numeric notification type (24001+).
pub const NEEDS_RECONNECT: &str = "needs_reconnect";

impl Sessions {
    /// Records an alert of `kind` about the account (logged, never fails
    /// the caller). Shaped as Fansly's notices: `{id, accountId, type,
    /// metadata, createdAt}`, `accountId` being the Fansly id.
    ///
    /// Recorded on a task of its own: the caller may be a relay task that
    /// the state change it just made gets aborted (the supervisor stops the
    /// sockets of accounts that are no longer authenticated).
    pub(crate) async fn alert(&self, account_id: &str, kind: &str, details: &str) {
        let (me, account_id, kind, details) = (
            self.clone(),
            account_id.to_owned(),
            kind.to_owned(),
            details.to_owned(),
        );
        let recording =
            tokio::spawn(async move { me.record_alert(&account_id, &kind, &details).await });
        let _ = recording.await;
    }

    async fn record_alert(&self, account_id: &str, kind: &str, details: &str) {
        let row = match store::by_id(&self.db, account_id).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(account = account_id, error = %e, "loading the account for an alert failed");
                return;
            }
        };
        let now = now_ms();
        let id = format!("alert_{}", uuid::Uuid::new_v4().simple());
        let event = NewEvent {
            team_id: row.team_id.clone(),
            account_id: row.id.clone(),
            name: "fansly.accounts.alert",
            dedup_key: format!("alert:{kind}:{id}"),
            payload: json!({
                "id": id,
                "accountId": row.fansly_id,
                "type": kind,
                "metadata": {"reason": details, "account_id": row.id},
                "createdAt": now
            }),
        };
        if let Err(e) = self.events.record(event).await {
            tracing::error!(account = account_id, error = %e, "recording an alert failed");
        }
    }
}
