//! Walls (spec §9): creating one next to the main wall every creator has.
//! Listing is `account/me`'s `walls[]` (`world_json.rs`).

use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

use crate::caller::world_post;
use crate::content::{wall_json, Wall};
use crate::envelope::{bad_param, fail, ok};
use crate::params::{parse_id, str_field};
use crate::state::AppState;
use crate::world::World;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/account/walls", world_post(create_wall))
}

/// `POST /account/walls {name, description, private, copyFrom}` → the new
/// wall (route and body INFERRED: the app's wall editor; listing is
/// `account/me`'s `walls[]`).
fn create_wall(world: &mut World, me: u64, body: Value) -> Response {
    let name = str_field(&body, "name").trim();
    if name.is_empty() {
        return bad_param("invalid parameter \"name\"");
    }
    let private = match body.get("private") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => v.as_i64().is_some_and(|n| n != 0),
    };
    let copy_from = match str_field(&body, "copyFrom") {
        "" => None,
        raw => match parse_id(raw) {
            Some(id) if world.content.has_wall(me, id) => Some(raw.to_owned()),
            _ => return fail(StatusCode::NOT_FOUND, 404, "wall not found"),
        },
    };
    let wall = Wall {
        id: world.mint_id(),
        name: name.to_owned(),
        description: str_field(&body, "description").to_owned(),
        private,
    };
    let mut v = wall_json(me, &wall, None);
    v["copyFrom"] = json!(copy_from);
    world.content.add_wall(me, wall);
    ok(v)
}
