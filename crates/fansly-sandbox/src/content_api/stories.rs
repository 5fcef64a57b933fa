//! Stories: `POST /mediastories {contentType, contentId}` (FBuddy's call,
//! HUB-FB; the answer is INFERRED). Stories are not kept: nothing lists
//! them yet.

use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

use crate::caller::world_post;
use crate::envelope::{bad_param, ok};
use crate::params::{parse_id, str_field};
use crate::state::AppState;
use crate::world::{now_ms, World};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/mediastories", world_post(create_story))
}

/// Stories last a day (INFERRED from the app; not enforced by the sandbox).
const STORY_MS: i64 = 24 * 3_600_000;

/// `POST /mediastories {contentType: 1, contentId}` → the story (answer
/// INFERRED). `contentType` 1 names an accountMedia, which must be the
/// caller's own grant; other content types are refused. Stories are not
/// kept: nothing lists them yet.
fn create_story(world: &mut World, me: u64, body: Value) -> Response {
    if body.get("contentType").and_then(Value::as_i64) != Some(1) {
        return bad_param("invalid parameter \"contentType\"");
    }
    let grant = parse_id(str_field(&body, "contentId")).filter(|id| {
        world
            .messaging
            .grants
            .get(id)
            .is_some_and(|g| g.account == me)
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
        "accountId": me.to_string(),
        "contentType": 1,
        "contentId": grant.to_string(),
        "createdAt": now / 1000,
        "expiresAt": (now + STORY_MS) / 1000,
        "accountMedia": media
    }))
}
