//! Stories: `POST /mediastories {contentType, contentId}` (FBuddy's call,
//! HUB-FB; the answer is INFERRED). Stories are not kept: nothing lists
//! them yet.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::caller::Caller;
use crate::envelope::{bad_param, ok};
use crate::params::{parse_id, str_field};
use crate::state::AppState;
use crate::world::now_ms;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/mediastories", post(create_story))
}

type Body = Result<Json<Value>, JsonRejection>;

/// Stories last a day (INFERRED from the app; not enforced by the sandbox).
const STORY_MS: i64 = 24 * 3_600_000;

/// `POST /mediastories {contentType: 1, contentId}` → the story (answer
/// INFERRED). `contentType` 1 names an accountMedia, which must be the
/// caller's own grant; other content types are refused. Stories are not
/// kept: nothing lists them yet.
async fn create_story(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    if body.get("contentType").and_then(Value::as_i64) != Some(1) {
        return bad_param("invalid parameter \"contentType\"");
    }
    let mut world = state.world();
    let grant = parse_id(str_field(&body, "contentId")).filter(|id| {
        world
            .messaging
            .grants
            .get(id)
            .is_some_and(|g| g.account == me.account_id)
    });
    let Some(grant) = grant else {
        return bad_param("invalid parameter \"contentId\"");
    };
    let id = world.mint_id();
    let now = now_ms();
    let media = world
        .messaging
        .grants
        .get(&grant)
        .map(|g| world.messaging.grant_json(g));
    ok(json!({
        "id": id.to_string(),
        "accountId": me.account_id.to_string(),
        "contentType": 1,
        "contentId": grant.to_string(),
        "createdAt": now / 1000,
        "expiresAt": (now + STORY_MS) / 1000,
        "accountMedia": media
    }))
}
