//! Sandbox-only steering of the websocket under `/_sandbox/ws/...`: see who
//! is connected (and the upgrade requests), drop or refuse a creator's
//! sockets, replay recent frames, stop answering pings, send any frame.
//! Real Fansly has none of these.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::state::AppState;
use crate::world::World;
use crate::ws::hub::{Push, HISTORY};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_sandbox/ws/connections", get(connections))
        .route("/_sandbox/ws/drop", post(drop_sockets))
        .route("/_sandbox/ws/refuse", post(refuse_sockets))
        .route("/_sandbox/ws/replay", post(replay))
        .route("/_sandbox/ws/frame", post(raw_frame))
        .route("/_sandbox/ws/pongs", post(pongs))
}

#[derive(Deserialize)]
struct Target {
    /// Creator username; `sandbox_creator` by default.
    #[serde(default = "first_creator")]
    creator: String,
}

pub fn first_creator() -> String {
    "sandbox_creator".into()
}

pub fn unprocessable(why: &str) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, why.to_owned()).into_response()
}

async fn connections(State(state): State<AppState>) -> Json<Value> {
    let upgrades = state.hub.upgrades();
    Json(json!({"accounts": state.hub.connections(), "upgrades": upgrades}))
}

/// Closes the creator's sockets without a close frame (a network cut).
async fn drop_sockets(State(state): State<AppState>, Json(t): Json<Target>) -> Response {
    let Some(account) = account_id(&state.world(), &t.creator) else {
        return unprocessable("unknown creator");
    };
    let dropped = state.hub.send(account, || Push::Drop);
    Json(json!({"dropped": dropped})).into_response()
}

#[derive(Deserialize)]
struct RefuseBody {
    #[serde(default = "first_creator")]
    creator: String,
    /// The `t:0` code: 401 (token refused) or 429 (rate limited).
    code: i64,
}

/// Sends `t:0 {code}` on the creator's open sockets and closes them, without
/// touching the sessions: a 429 leaves the token good, and a 401 here is a
/// refusal the REST side does not share (to test the socket alone). Whether
/// Fansly closes the socket after a 429 is not captured (INFERRED); the
/// gateway's client ends it either way.
async fn refuse_sockets(State(state): State<AppState>, Json(b): Json<RefuseBody>) -> Response {
    let Some(account) = account_id(&state.world(), &b.creator) else {
        return unprocessable("unknown creator");
    };
    let refused = state.hub.send(account, || Push::Refuse(b.code));
    Json(json!({"refused": refused})).into_response()
}

#[derive(Deserialize)]
struct ReplayBody {
    #[serde(default = "first_creator")]
    creator: String,
    /// How many of the most recent frames; all kept ones by default.
    #[serde(default = "all")]
    last: usize,
}

fn all() -> usize {
    HISTORY
}

async fn replay(State(state): State<AppState>, Json(b): Json<ReplayBody>) -> Response {
    let Some(account) = account_id(&state.world(), &b.creator) else {
        return unprocessable("unknown creator");
    };
    let replayed = state.hub.replay(account, b.last);
    Json(json!({"replayed": replayed})).into_response()
}

#[derive(Deserialize)]
struct PongsBody {
    #[serde(default = "first_creator")]
    creator: String,
    answer: bool,
}

/// Stops (or resumes) answering the creator's keep-alive pings.
async fn pongs(State(state): State<AppState>, Json(b): Json<PongsBody>) -> Response {
    let Some(account) = account_id(&state.world(), &b.creator) else {
        return unprocessable("unknown creator");
    };
    state.hub.set_pongs(account, b.answer);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct RawFrame {
    #[serde(default = "first_creator")]
    creator: String,
    /// Sent as its JSON text.
    frame: Option<Value>,
    /// Sent verbatim (for malformed frames).
    text: Option<String>,
}

/// Sends any frame, known or not, well-formed or not.
async fn raw_frame(State(state): State<AppState>, Json(b): Json<RawFrame>) -> Response {
    let Some(account) = account_id(&state.world(), &b.creator) else {
        return unprocessable("unknown creator");
    };
    let text = match (b.frame, b.text) {
        (Some(f), None) => f.to_string(),
        (None, Some(t)) => t,
        _ => return unprocessable("give exactly one of frame or text"),
    };
    state.hub.publish(account, text);
    StatusCode::NO_CONTENT.into_response()
}

pub fn account_id(world: &World, username: &str) -> Option<u64> {
    world.account_by_username(username).map(|a| a.id)
}
