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

impl FanslyClient {
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
    fn dm_pay_per_view_is_flags_3_with_the_double_encoded_price() {
        let f = dm_flag(&Gate::Purchase(5000));
        assert_eq!(f["flags"], 3);
        assert_eq!(f["price"], 5000);
        assert_eq!(f["metadata"], "{\"1\":\"{\\\"price\\\":5000}\"}");
        assert_eq!(dm_flag(&Gate::Subscribers)["flags"], 2);
    }
}
