//! What mapping a frame yields ([`Outcome`], [`Mapped`]) and the small
//! helpers both mapping files read payloads with.

use serde_json::Value;

/// One vendor event to record.
#[derive(Debug, PartialEq)]
pub struct Mapped {
    pub name: &'static str,
    pub dedup_key: String,
    pub payload: Value,
}

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Events(Vec<Mapped>),
    /// Known to Fansly and deliberately not relayed (pending states, echoes
    /// of the account's own actions, notification mirrors, presence).
    Ignored,
    /// A service or type this mapping does not know.
    Unknown,
    /// A known event without the fields it must carry.
    Malformed(String),
}

pub(crate) fn one(name: &'static str, dedup_key: String, payload: &Value) -> Outcome {
    Outcome::Events(vec![Mapped {
        name,
        dedup_key,
        payload: payload.clone(),
    }])
}

pub(crate) fn id_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// When a change happened upstream: the first of `keys` the payload has,
/// else the second it arrived (keys of "the state is now X" events carry
/// it, so returning to an earlier state is a new event).
pub(crate) fn changed_at(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| id_of(v, k))
        .unwrap_or_else(|| (crate::core::time::now_ms() / 1000).to_string())
}
