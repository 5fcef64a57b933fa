//! What a mass message needs from Fansly beyond a plain DM: reading a
//! broadcast audience group. Its media is granted per recipient by the
//! shared grant step (`attach.rs`, DM form); the fan-out itself is one DM
//! per recipient (`/group` + `/message`).

use serde_json::Value;

use crate::client::FanslyClient;
use crate::error::UpstreamError;
use crate::session::Session;

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
