//! The fan view: accountMedia and bundles as a given viewer receives them.
//! A viewer who may not open gated media (the rule is `World::may_open`)
//! gets Fansly's locked tile: the media without any fetchable location and
//! `access: false`; a free preview stays open. Used by the post routes and
//! by `/account/media`.

use serde_json::{json, Value};

use crate::content::Post;
use crate::messaging::Grant;
use crate::world::World;

/// Sets an accountMedia's `previewId` and `preview` (the free preview's
/// media, open to everyone) when the grant has one.
pub fn add_preview(world: &World, grant: u64, v: &mut Value) {
    if let Some(p) = world.content.previews.get(&grant) {
        v["previewId"] = json!(p.to_string());
        v["preview"] = world
            .messaging
            .media
            .get(p)
            .map_or(Value::Null, |m| world.messaging.media_json(m));
    }
}

/// An accountMedia as `viewer` receives it: without access the media comes
/// without any fetchable location (Fansly's locked tile); a preview, if
/// any, stays open.
fn grant_for(world: &World, viewer: u64, g: &Grant) -> Value {
    let mut v = world.messaging.grant_json(g);
    add_preview(world, g.id, &mut v);
    if g.account == viewer {
        return v;
    }
    let access = world.may_open(viewer, g);
    v["access"] = json!(access);
    v["purchased"] = json!(world.content.purchases.contains(&(viewer, g.id)));
    v["whitelisted"] = json!(g.whitelist.contains(&viewer));
    v["accountPermissionFlags"] = json!(0);
    if !access {
        if let Some(m) = v.get_mut("media").filter(|m| m.is_object()) {
            m["locations"] = json!([]);
            m["variants"] = json!([]);
        }
    }
    v
}

/// The accountMedia `posts` attach, as `viewer` sees them: those attached
/// directly and, in bundle order, those their bundles hold.
pub fn post_media(world: &World, viewer: u64, posts: &[&Post]) -> Vec<Value> {
    posts
        .iter()
        .flat_map(|p| &p.attachments)
        .flat_map(|a| match world.messaging.bundles.get(&a.content_id) {
            Some(b) => b.items.clone(),
            None => vec![a.content_id],
        })
        .filter_map(|id| world.messaging.grants.get(&id))
        .map(|g| grant_for(world, viewer, g))
        .collect()
}

/// The bundles `posts` attach, as `viewer` sees them: a bundle the viewer
/// may not open says `access: false` (its items come locked in
/// `accountMedia`).
pub fn post_bundles(world: &World, viewer: u64, posts: &[&Post]) -> Vec<Value> {
    posts
        .iter()
        .flat_map(|p| &p.attachments)
        .filter_map(|a| world.messaging.bundles.get(&a.content_id))
        .map(|b| {
            let mut v = world.messaging.bundle_json(b);
            if b.account != viewer {
                v["access"] = json!(world.may_open_bundle(viewer, b));
                v["purchased"] = json!(world.content.purchases.contains(&(viewer, b.id)));
                v["whitelisted"] = json!(b.whitelist.contains(&viewer));
                v["accountPermissionFlags"] = json!(0);
            }
            v
        })
        .collect()
}
