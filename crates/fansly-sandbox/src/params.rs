//! Request values as Fansly reads them, shared by the route files: snowflake
//! ids (Fansly refuses anything that is not one) and string fields of a JSON
//! body.

use serde_json::Value;

/// A snowflake id, or `None` for anything else (Fansly's `is_snowflake`).
pub fn parse_id(s: &str) -> Option<u64> {
    fansly_upstream::ids::is_snowflake(s)
        .then(|| s.parse().ok())
        .flatten()
}

/// A string field of a JSON body; "" when absent or not a string.
pub fn str_field<'a>(body: &'a Value, name: &str) -> &'a str {
    body.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Ids in a JSON array of id strings; `None` if any is not one.
pub fn id_list(v: Option<&Value>) -> Option<Vec<u64>> {
    v?.as_array()?
        .iter()
        .map(|x| x.as_str().and_then(parse_id))
        .collect()
}
