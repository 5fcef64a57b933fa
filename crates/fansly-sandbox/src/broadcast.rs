//! Broadcast audience groups (type 3): which of a creator's lists a mass
//! message goes to, as the dashboard configures them. One field of
//! [`crate::world::World`]; the sandbox-only route that makes one is in
//! `mass_api.rs`, `GET /group/{id}` in `groups_api.rs` renders it.

use serde_json::{json, Value};

/// A broadcast audience group (type 3, spec §6.3 — shape INFERRED from the
/// web bundle): lists to include (recipient type 30000) and exclude (30001),
/// and optionally a subscription tier in `groupFlagsMetadata` under flag 4.
#[derive(Clone, Debug)]
pub struct BroadcastGroup {
    pub id: u64,
    pub owner: u64,
    pub include_lists: Vec<u64>,
    pub exclude_lists: Vec<u64>,
    pub tier: Option<u64>,
}

impl BroadcastGroup {
    /// As `GET /group/{id}` answers it.
    pub fn json(&self) -> Value {
        let id = self.id.to_string();
        let recipients: Vec<Value> = self
            .include_lists
            .iter()
            .map(|l| json!({"recipientId": l.to_string(), "type": 30000}))
            .chain(
                self.exclude_lists
                    .iter()
                    .map(|l| json!({"recipientId": l.to_string(), "type": 30001})),
            )
            .collect();
        let metadata = match self.tier {
            Some(t) => {
                json!({"4": json!({"subscriptionTierId": t.to_string()}).to_string()}).to_string()
            }
            None => String::new(),
        };
        json!({
            "id": id,
            "type": 3,
            "groupFlags": 32,
            "groupFlagsMetadata": metadata,
            "createdBy": self.owner.to_string(),
            "users": [{"groupId": id, "userId": self.owner.to_string(), "type": 0, "permissionFlags": 65535}],
            "recipients": recipients,
            "permissionFlags": [],
            "lastMessage": null,
            "userSettings": null
        })
    }
}
