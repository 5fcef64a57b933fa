//! Sandbox-only routes for mass messaging: many fans at once, and every
//! message a creator sent with its recipient, so a test can count deliveries
//! per fan.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_sandbox/fans", post(add_fans))
        .route("/_sandbox/messages", get(sent_messages))
}

#[derive(Deserialize)]
struct NewFans {
    /// Usernames are `<prefix>1` … `<prefix><count>`.
    prefix: String,
    count: u32,
}

/// `POST /_sandbox/fans {prefix, count}` → `{"ids": [...]}` in order.
async fn add_fans(
    State(state): State<AppState>,
    body: Result<Json<NewFans>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "body: {prefix, count}").into_response();
    };
    let prefix_ok = !body.prefix.is_empty()
        && body.prefix.len() <= 40
        && body
            .prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !prefix_ok || body.count == 0 || body.count > 10_000 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "prefix must be 1-40 letters, digits or _, and count 1-10000",
        )
            .into_response();
    }
    let mut world = state.world();
    let mut ids = Vec::new();
    for n in 1..=body.count {
        match world.add_fan(&format!("{}{n}", body.prefix)) {
            Some(id) => ids.push(id.to_string()),
            None => {
                return (StatusCode::CONFLICT, "a username with this prefix exists").into_response()
            }
        }
    }
    Json(json!({ "ids": ids })).into_response()
}

#[derive(Deserialize)]
struct SentQuery {
    /// The sender's username.
    from: String,
}

/// `GET /_sandbox/messages?from=<username>`: every live message that account
/// sent, oldest first, with its recipient and attachments (grant, media,
/// preview, gates).
async fn sent_messages(State(state): State<AppState>, Query(q): Query<SentQuery>) -> Response {
    let world = state.world();
    let Some(sender) = world.account_by_username(&q.from).map(|a| a.id) else {
        return (StatusCode::NOT_FOUND, "unknown account").into_response();
    };
    let mut sent: Vec<_> = world
        .messaging
        .messages
        .values()
        .filter(|m| m.sender == sender && m.deleted_ms.is_none())
        .collect();
    sent.sort_by_key(|m| m.id);
    let rows: Vec<Value> = sent
        .into_iter()
        .map(|m| {
            let recipient = world
                .group(m.group_id)
                .and_then(|g| world.partner_of(g, sender));
            let attachments: Vec<Value> = m
                .attachments
                .iter()
                .filter_map(|id| world.messaging.grants.get(id))
                .map(|g| {
                    json!({
                        "accountMediaId": g.id.to_string(),
                        "mediaId": g.media.to_string(),
                        "previewId": g.preview.map(|p| p.to_string()),
                        "whitelist": g.whitelist.iter().map(u64::to_string).collect::<Vec<_>>(),
                        "gates": g.gates,
                    })
                })
                .collect();
            json!({
                "id": m.id.to_string(),
                "groupId": m.group_id.to_string(),
                "recipientId": recipient.map(|a| a.id.to_string()),
                "recipientUsername": recipient.map(|a| a.username.clone()),
                "content": m.content,
                "createdAtMs": m.created_ms,
                "attachments": attachments,
            })
        })
        .collect();
    Json(Value::Array(rows)).into_response()
}
