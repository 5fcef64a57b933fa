//! Chats (Fansly DM groups): the rules between the HTTP layer and Fansly.

use fansly_upstream::FanslyClient;
use serde_json::Value;

use crate::accounts::ConnectedAccount;
use crate::error::ApiError;

/// Opens the DM with `user_id`, or returns the one that exists.
///
/// The user is looked up first so an unknown id is a clear 404 instead of
/// whatever Fansly answers. Fansly is taken to keep one DM group per pair and
/// to answer `POST /group` for an existing pair with that group (INFERRED,
/// spec §6.3; the sandbox does exactly this).
pub async fn create_chat(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    user_id: &str,
) -> Result<Value, ApiError> {
    if user_id == account.fansly_id {
        return Err(ApiError::Unprocessable(
            "user_id is the connected account itself; a chat needs another user".into(),
        ));
    }
    let up = |e| ApiError::upstream(&account.id, e);
    let found = fansly
        .accounts_by_ids(&account.session, &[user_id.to_owned()])
        .await
        .map_err(up)?;
    let exists = found.as_array().is_some_and(|a| {
        a.iter()
            .any(|u| u.get("id").and_then(Value::as_str) == Some(user_id))
    });
    if !exists {
        return Err(ApiError::NotFound(format!(
            "Fansly user {user_id} not found"
        )));
    }
    let group = fansly
        .create_group(&account.session, &account.fansly_id, user_id)
        .await
        .map_err(up)?;
    if group.get("id").and_then(Value::as_str).is_none() {
        return Err(ApiError::BadGateway(
            "Fansly answered the chat creation without a chat id".into(),
        ));
    }
    Ok(group)
}
