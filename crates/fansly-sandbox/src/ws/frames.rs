//! The frames the sandbox's websocket sends (spec §10): the `{t, d}`
//! envelope with its JSON-in-a-string `d`, `t:10000` service events, and
//! the payloads they carry in the websocket's own shapes (messages with
//! fractional seconds, ledger rows with wallet ids, wallets, payout
//! requests).

use serde_json::{json, Value};

use crate::business::{Business, Transaction};
use crate::messaging::Message;

/// `{"t": t, "d": "<JSON of d>"}`.
pub fn frame(t: i64, d: &Value) -> String {
    json!({"t": t, "d": d.to_string()}).to_string()
}

/// A `t:10000` frame: `{"serviceId", "event": "<JSON of {type, key: payload}>"}`.
pub fn service(svc: i64, kind: i64, key: &str, payload: Value) -> Value {
    let mut event = serde_json::Map::new();
    event.insert("type".into(), json!(kind));
    event.insert(key.into(), payload);
    json!({"t": 10000, "d": json!({"serviceId": svc, "event": Value::Object(event).to_string()}).to_string()})
}

/// A message as the websocket carries it: `createdAt` in fractional seconds,
/// interactions with `groupId` and `messageId` (§10.3 example).
pub fn ws_message(m: &Message) -> Value {
    let (id, gid) = (m.id.to_string(), m.group_id.to_string());
    json!({
        "id": id,
        "type": 1,
        "content": m.content,
        "groupId": gid,
        "senderId": m.sender.to_string(),
        "inReplyTo": m.in_reply_to.map(|r| r.to_string()).unwrap_or_default(),
        "attachments": [],
        "interactions": m.interactions.iter().map(|(user, (read, delivered))| json!({
            "groupId": gid, "userId": user.to_string(), "readAt": read, "deliveredAt": delivered, "messageId": id
        })).collect::<Vec<_>>(),
        "createdAt": m.created_ms as f64 / 1000.0,
        "embeds": []
    })
}

/// §10.4 6.3 `{id, type, originWalletId, destinationWalletId, status, amount,
/// correlationId}`, plus the ledger fields the REST row has.
pub fn ws_transaction(business: &Business, t: &Transaction) -> Value {
    let mut v = business.transaction_json(t, t.at_ms);
    if let Value::Object(m) = &mut v {
        m.insert("id".into(), json!(t.id.to_string()));
        m.insert("originWalletId".into(), json!((t.fan + 3).to_string()));
        m.insert(
            "destinationWalletId".into(),
            json!(business.earnings_wallet_id().to_string()),
        );
    }
    v
}

pub fn earnings_wallet(business: &Business, now: i64) -> Value {
    business.wallets_json(now)[1].clone()
}

pub fn payout_request(
    business: &Business,
    id: u64,
    amount: i64,
    status: i64,
    version: i64,
    created: i64,
    updated: i64,
) -> Value {
    json!({
        "id": id.to_string(),
        "accountId": business.creator.to_string(),
        "walletId": business.earnings_wallet_id().to_string(),
        "amount": amount,
        "currencyCode": "USD",
        "status": status,
        "version": version,
        "createdAt": created,
        "updatedAt": updated
    })
}
