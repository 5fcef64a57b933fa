//! What a mass message needs from Fansly beyond a plain DM: media grants
//! gated for one recipient (spec §8.3, DM form) with optional previews.
//! The fan-out itself is one DM per recipient (`/group` + `/message`).

use serde_json::{json, Value};

use crate::client::FanslyClient;
use crate::content::Gate;
use crate::error::UpstreamError;
use crate::session::Session;

/// One media file of a message: the vault media and, optionally, the vault
/// media shown in its place until it is unlocked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatedMedia {
    pub media_id: String,
    pub preview_id: Option<String>,
}

/// A gate as a DM grant carries it (§8.3). Pay-per-view in a DM is flags 3
/// (SHIM captured real DM sends), unlike posts (flags 1); subscribers 2 and
/// followers 4 as for posts (followers INFERRED).
fn dm_flag(gate: &Gate) -> Value {
    match gate {
        Gate::Purchase(price) => json!({
            "type": 0,
            "flags": 3,
            "metadata": json!({"1": json!({"price": price}).to_string()}).to_string(),
            "price": price,
        }),
        Gate::Subscribers => json!({"type": 0, "flags": 2, "metadata": null}),
        Gate::Followers => json!({"type": 0, "flags": 4, "metadata": null}),
    }
}

/// Who a broadcast audience group (type 3, spec §6.3 — shape INFERRED from
/// the web bundle) sends to: included lists (recipient type 30000), excluded
/// lists (30001) and the subscription tier in `groupFlagsMetadata` flag 4.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BroadcastAudience {
    pub include_lists: Vec<String>,
    pub exclude_lists: Vec<String>,
    pub tier_ids: Vec<String>,
}

/// A JSON value that may be JSON-in-a-string (Fansly double-encodes metadata).
fn decoded(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        other => Some(other.clone()),
    }
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The audience of a group object; `None` unless it is a type 3 group.
pub fn broadcast_audience_of(group: &Value) -> Option<BroadcastAudience> {
    if group.get("type").and_then(Value::as_i64) != Some(3) {
        return None;
    }
    let mut audience = BroadcastAudience::default();
    for r in group
        .get("recipients")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = r.get("recipientId").and_then(id_string) else {
            continue;
        };
        match r.get("type").and_then(Value::as_i64) {
            Some(30000) => audience.include_lists.push(id),
            Some(30001) => audience.exclude_lists.push(id),
            _ => {}
        }
    }
    let tier = group
        .get("groupFlagsMetadata")
        .and_then(decoded)
        .and_then(|m| m.get("4").and_then(decoded))
        .and_then(|t| t.get("subscriptionTierId").and_then(id_string));
    audience.tier_ids.extend(tier);
    Some(audience)
}

impl FanslyClient {
    /// `GET /api/v1/group/{id}` read as a broadcast audience group; `None`
    /// when the group is of another type (a DM).
    pub async fn broadcast_audience(
        &self,
        session: &Session,
        group_id: &str,
    ) -> Result<Option<BroadcastAudience>, UpstreamError> {
        let group = self.group(session, group_id).await?;
        Ok(broadcast_audience_of(&group))
    }

    /// `POST /api/v1/account/media`: one grant per file for a DM between
    /// `me` and `fan` (top-level flags 8, both whitelisted, §8.3), gated by
    /// `gates`, each with its `previewId`. Answers the accountMedia ids in
    /// order.
    pub async fn grant_dm_gated(
        &self,
        session: &Session,
        media: &[GatedMedia],
        me: &str,
        fan: &str,
        gates: &[Gate],
    ) -> Result<Vec<String>, UpstreamError> {
        let flags: Vec<Value> = gates.iter().map(dm_flag).collect();
        let whitelist = json!([
            {"accountId": me, "permissionFlags": 0},
            {"accountId": fan, "permissionFlags": 0}
        ]);
        let grants: Vec<Value> = media
            .iter()
            .map(|m| {
                json!({
                    "mediaId": m.media_id,
                    "previewId": m.preview_id,
                    "permissionFlags": 8,
                    "price": 0,
                    "whitelist": whitelist,
                    "permissions": {"permissionFlags": flags},
                    "tags": []
                })
            })
            .collect();
        let answer = self
            .post(session, "/api/v1/account/media", &Value::Array(grants))
            .await?;
        let ids: Vec<String> = answer
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        if ids.len() != media.len() {
            return Err(UpstreamError::Protocol(
                "Fansly did not grant every media file of the message".into(),
            ));
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_audience_group() {
        let group = json!({
            "type": 3, "groupFlags": 32,
            "groupFlagsMetadata": "{\"4\":\"{\\\"subscriptionTierId\\\":\\\"77\\\"}\"}",
            "recipients": [{"recipientId": "1", "type": 30000}, {"recipientId": "2", "type": 30001}]
        });
        assert_eq!(
            broadcast_audience_of(&group),
            Some(BroadcastAudience {
                include_lists: vec!["1".into()],
                exclude_lists: vec!["2".into()],
                tier_ids: vec!["77".into()],
            })
        );
        assert_eq!(broadcast_audience_of(&json!({"type": 1})), None);
        let no_tier = json!({"type": 3, "groupFlagsMetadata": "", "recipients": []});
        assert_eq!(
            broadcast_audience_of(&no_tier),
            Some(BroadcastAudience::default())
        );
    }

    #[test]
    fn dm_pay_per_view_is_flags_3_with_the_double_encoded_price() {
        let f = dm_flag(&Gate::Purchase(5000));
        assert_eq!(f["flags"], 3);
        assert_eq!(f["price"], 5000);
        assert_eq!(f["metadata"], "{\"1\":\"{\\\"price\\\":5000}\"}");
        assert_eq!(dm_flag(&Gate::Subscribers)["flags"], 2);
    }
}
