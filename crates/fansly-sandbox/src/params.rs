//! Request values as Fansly reads them, shared by the route files: JSON
//! bodies (refused as Fansly refuses one it cannot read), snowflake ids
//! (Fansly refuses anything that is not one), `?ids=` lists and string
//! fields of a JSON body.

use axum::extract::{FromRequest, Request};
use axum::response::Response;
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::envelope::bad_param;

/// A JSON body; one that is missing, not JSON or not of the route's shape is
/// refused with Fansly's 400 code 99 "invalid body". Taken after `Caller`,
/// so a bad session is still refused first.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(body)) => Ok(JsonBody(body)),
            Err(_) => Err(bad_param("invalid body")),
        }
    }
}

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

/// A `?ids=` list: 1 to 100 comma-separated snowflakes; `None` otherwise.
pub fn csv_ids(raw: &str) -> Option<Vec<u64>> {
    let ids: Option<Vec<u64>> = raw.split(',').map(|s| parse_id(s.trim())).collect();
    ids.filter(|ids| !ids.is_empty() && ids.len() <= 100)
}
