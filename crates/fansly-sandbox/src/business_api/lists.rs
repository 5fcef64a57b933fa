//! Lists: the creator's fan lists, their members, and creating, editing,
//! removing, ordering and filling them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::business::{Business, FanList};
use crate::business_api::request::{
    bad_param, body_id, body_str, business_get, id_param, num, with_business, Body, QueryMap,
    Refusal,
};
use crate::caller::Caller;
use crate::envelope::ok;
use crate::state::AppState;
use crate::world::{now_ms, World};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/lists/account", get(lists))
        .route("/api/v1/lists/itemsnew", business_get(list_items))
        .route("/api/v1/lists", post(create_list))
        .route("/api/v1/lists/update", post(update_list))
        .route("/api/v1/lists/remove", post(remove_list))
        .route("/api/v1/lists/order", post(reorder_lists))
        .route("/api/v1/lists/commands", post(list_commands))
}

/// The creator's own lists (built-ins such as Muted are client-side).
async fn lists(State(state): State<AppState>, Caller(me): Caller) -> Response {
    let world = state.world();
    let b = world.business(me.account_id);
    ok((0..b.lists.len()).map(|i| b.list_json(i)).collect())
}

/// `[{id, sortId, listId, type, metadata}]`, item id = member account id.
/// Paged like Fansly (gallery-dl, HUB-SPEC §2.11): `limit` (default 100),
/// `sortMode=3` (the only mode clients send; rows in `sortId` order) and
/// `after` = the last row's `sortId`. There is no `offset`: one is ignored,
/// so a client paging by offset gets page one again, as on Fansly.
fn list_items(b: &Business, _: u64, q: &QueryMap) -> Result<Value, Refusal> {
    let list_id = id_param(q, "listId")?;
    let limit = num(q, "limit", 100)?.clamp(0, 100) as usize;
    let after: u64 = match q.get("after").map(String::as_str) {
        None | Some("") => 0,
        Some(a) => a.parse().map_err(|_| bad_param("after"))?,
    };
    let Some(list) = b.lists.iter().find(|l| l.id == list_id) else {
        return Err(list_not_found());
    };
    Ok(list
        .items
        .iter()
        .enumerate()
        // sortId: the member's 1-based position in the list.
        .map(|(i, item)| (i as u64 + 1, item))
        .filter(|(sort_id, _)| *sort_id > after)
        .take(limit)
        .map(|(sort_id, item)| {
            json!({
                "id": item.to_string(),
                "sortId": sort_id.to_string(),
                "listId": list_id.to_string(),
                "type": 0,
                "metadata": ""
            })
        })
        .collect())
}

fn list_not_found() -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, 404, "list not found")
}

/// Where list `id` stands among the creator's lists (404 when it is not one).
fn list_pos(b: &Business, id: u64) -> Result<usize, Refusal> {
    b.lists
        .iter()
        .position(|l| l.id == id)
        .ok_or_else(list_not_found)
}

/// The creator's list `list_id` in `world`, to change (404 when it is not one).
fn list_mut(world: &mut World, me: u64, list_id: u64) -> Result<&mut FanList, Refusal> {
    let b = world.business_mut(me).expect("checked");
    b.lists
        .iter_mut()
        .find(|l| l.id == list_id)
        .ok_or_else(list_not_found)
}

/// `POST /lists {label, description}` → the new list row.
async fn create_list(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let label = body_str(body, "label")
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad_param("label"))?
            .to_owned();
        let description = body_str(body, "description").unwrap_or("").to_owned();
        let id = world.mint_id();
        let b = world.business_mut(me.account_id).expect("checked");
        b.lists.push(FanList {
            id,
            label,
            description,
            created_ms: now_ms(),
            items: Vec::new(),
        });
        Ok(b.list_json(b.lists.len() - 1))
    })
}

/// `POST /lists/update {id, label, description?}` (INFERRED route).
async fn update_list(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let id = body_id(body, "id")?;
        let b = world.business_mut(me.account_id).expect("checked");
        let pos = list_pos(b, id)?;
        if let Some(label) = body_str(body, "label") {
            let label = label.trim();
            if label.is_empty() {
                return Err(bad_param("label"));
            }
            b.lists[pos].label = label.to_owned();
        }
        if let Some(description) = body_str(body, "description") {
            b.lists[pos].description = description.to_owned();
        }
        Ok(b.list_json(pos))
    })
}

/// `POST /lists/remove {listId}` (INFERRED, OPENF bundle).
async fn remove_list(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let id = body_id(body, "listId")?;
        let b = world.business_mut(me.account_id).expect("checked");
        let pos = list_pos(b, id)?;
        b.lists.remove(pos);
        Ok(json!(true))
    })
}

/// `POST /lists/order {oldPos, newPos}` (INFERRED, OPENF bundle).
async fn reorder_lists(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let b = world.business_mut(me.account_id).expect("checked");
        let pos = |name| {
            body.get(name)
                .and_then(Value::as_u64)
                .map(|p| p as usize)
                .filter(|p| *p < b.lists.len())
                .ok_or_else(|| bad_param(name))
        };
        let (old, new) = (pos("oldPos")?, pos("newPos")?);
        let list = b.lists.remove(old);
        b.lists.insert(new, list);
        Ok(json!(true))
    })
}

/// `POST /lists/commands`: type 1 adds `listItem.id` to `listItem.listId`,
/// type 2 removes `itemIds` from `listId` (spec §5.7). Unknown accounts are
/// refused; adding a member twice keeps one.
async fn list_commands(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    with_business(&state, me.account_id, body, |world, body| {
        let commands = body
            .get("listCommands")
            .and_then(Value::as_array)
            .ok_or_else(|| bad_param("listCommands"))?
            .clone();
        for c in &commands {
            match c.get("type").and_then(Value::as_i64) {
                Some(1) => {
                    let item = c.get("listItem").cloned().unwrap_or(Value::Null);
                    let (list_id, member) = (body_id(&item, "listId")?, body_id(&item, "id")?);
                    if world.account(member).is_none() {
                        return Err(bad_param("listItem.id"));
                    }
                    let list = list_mut(world, me.account_id, list_id)?;
                    if !list.items.contains(&member) {
                        list.items.push(member);
                    }
                }
                Some(2) => {
                    let list_id = body_id(c, "listId")?;
                    let ids: Vec<u64> = c
                        .get("itemIds")
                        .and_then(Value::as_array)
                        .ok_or_else(|| bad_param("itemIds"))?
                        .iter()
                        .map(|v| v.as_str().and_then(|s| s.parse().ok()))
                        .collect::<Option<_>>()
                        .ok_or_else(|| bad_param("itemIds"))?;
                    let list = list_mut(world, me.account_id, list_id)?;
                    list.items.retain(|i| !ids.contains(i));
                }
                _ => return Err(bad_param("type")),
            }
        }
        Ok(json!(true))
    })
}
