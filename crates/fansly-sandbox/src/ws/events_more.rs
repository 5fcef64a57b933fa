//! The `/_sandbox/events/{kind}` kinds added for the vendor events the
//! first set did not cause: post likes, edits, comments, pins and expiry,
//! story purchases, mutes and blocks, streams, a chat hidden, Fansly's own
//! alerts, a payout debited, a profile edited. As in `events.rs`, the world
//! changes as the real action would (so the gateway's REST sweep sees the
//! same change) and the frames go out on the creator's sockets. Codes are
//! JK's (see the gateway's `mapping_more.rs`); payload shapes beyond the
//! documented keys are INFERRED.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::business::{Transaction, TYPE_STORY};
use crate::content::{main_wall_id, Post};
use crate::world::World;
use crate::ws::frames::{earnings_wallet, service, ws_transaction};

/// What the request said, as far as these kinds read it.
pub(crate) struct Args {
    pub text: Option<String>,
    pub post_id: Option<String>,
    pub amount: Option<i64>,
    /// `fan_ignored`: the ignore flags (1 mute, 2 block; 0 releases).
    pub flags: Option<i64>,
    /// `post_expiring`: how long until the post expires.
    pub expires_in_ms: Option<i64>,
}

type EventBody = Args;

type Acted = Result<(Vec<Value>, Value), (StatusCode, String)>;

fn refuse(why: &str) -> (StatusCode, String) {
    (StatusCode::UNPROCESSABLE_ENTITY, why.to_owned())
}

/// `post_id` from the body, else the creator's newest post.
fn post_arg(world: &World, creator: u64, b: &EventBody) -> Result<u64, (StatusCode, String)> {
    if let Some(raw) = &b.post_id {
        return raw
            .parse::<u64>()
            .ok()
            .filter(|id| world.content.post(*id).is_some())
            .ok_or_else(|| refuse("unknown post_id"));
    }
    world
        .content
        .newest_post(creator)
        .ok_or_else(|| refuse("the creator has no post"))
}

pub(crate) fn act(
    world: &mut World,
    kind: &str,
    creator: u64,
    fan: u64,
    b: &EventBody,
    now: i64,
) -> Acted {
    let (c, f) = (creator.to_string(), fan.to_string());
    match kind {
        // 1.2: the fan likes a post.
        "post_liked" => {
            let post = post_arg(world, creator, b)?;
            let id = world.mint_id();
            let like = json!({"id": id.to_string(), "postId": post.to_string(), "accountId": f, "createdAt": now});
            Ok((
                vec![service(1, 2, "like", like)],
                json!({"likeId": id.to_string(), "postId": post.to_string()}),
            ))
        }
        // 1.8: the creator edits a post's text.
        "post_updated" => {
            let post = post_arg(world, creator, b)?;
            let p = world
                .content
                .post_mut(post)
                .ok_or_else(|| refuse("unknown post"))?;
            p.content = b.text.clone().unwrap_or_else(|| format!("edited at {now}"));
            let payload = p.json();
            Ok((
                vec![service(1, 8, "post", payload)],
                json!({"postId": post.to_string()}),
            ))
        }
        // 9.1 type 1004 (a reply to the post) and 1.4 its counters.
        "post_commented" => {
            let post = post_arg(world, creator, b)?;
            let (reply, note) = (world.mint_id(), world.mint_id());
            let text = b.text.clone().unwrap_or_else(|| "nice!".into());
            let notification = json!({
                "id": note.to_string(), "type": 1004, "accountId": c, "correlationId": reply.to_string(),
                "postId": post.to_string(), "senderId": f, "content": text, "createdAt": now
            });
            let updates = json!({"postId": post.to_string(), "replyCount": 1, "likeCount": 0, "tipAmount": 0});
            Ok((
                vec![
                    service(9, 1, "notification", notification),
                    service(1, 4, "updates", updates),
                ],
                json!({"notificationId": note.to_string(), "postId": post.to_string()}),
            ))
        }
        // 10.100: the creator pins a post to its main wall.
        "post_pinned" => {
            let post = post_arg(world, creator, b)?;
            let p = world
                .content
                .post_mut(post)
                .ok_or_else(|| refuse("unknown post"))?;
            let wall = main_wall_id(creator);
            if !p.pin_wall_ids.contains(&wall) {
                p.pin_wall_ids.push(wall);
            }
            let pin =
                json!({"postId": post.to_string(), "accountId": c, "pos": 0, "createdAt": now});
            Ok((
                vec![service(10, 100, "pinnedPost", pin)],
                json!({"postId": post.to_string()}),
            ))
        }
        // A post that expires later (1.1 as any new post).
        "post_expiring" => {
            let id = world.mint_id();
            let post = Post {
                id,
                account: creator,
                content: b.text.clone().unwrap_or_else(|| "gone soon".into()),
                attachments: Vec::new(),
                wall_ids: vec![main_wall_id(creator)],
                created_ms: now,
                scheduled_for_ms: 0,
                expires_at_ms: now + b.expires_in_ms.unwrap_or(60_000).max(1),
                pin_wall_ids: Vec::new(),
            };
            let payload = post.json();
            world.content.add_post(post);
            Ok((
                vec![service(1, 1, "post", payload)],
                json!({"postId": id.to_string()}),
            ))
        }
        // The post's expiry passes: Fansly sends nothing, it leaves the timeline.
        "post_expired" => {
            let post = post_arg(world, creator, b)?;
            let p = world
                .content
                .post_mut(post)
                .ok_or_else(|| refuse("unknown post"))?;
            if p.expires_at_ms == 0 {
                return Err(refuse("the post has no expiry"));
            }
            p.expires_at_ms = now - 1;
            Ok((Vec::new(), json!({"postId": post.to_string()})))
        }
        // 32.7: the fan buys the creator's story (locked text).
        "story_purchased" => {
            let (order, story, tx) = (world.mint_id(), world.mint_id(), world.mint_id());
            let price = b.amount.unwrap_or(2_000);
            // The sale is in the ledger too (where the gateway's gap fill
            // finds it after an outage: buyer and story, no order), and
            // announced as every sale is (6.3).
            let mut frames = Vec::new();
            if let Some(business) = world.business_mut(creator) {
                business.add_transaction(Transaction {
                    id: tx,
                    kind: TYPE_STORY,
                    fan,
                    correlation_id: story,
                    amount: price,
                    tax: price / 5,
                    new_balance: 0,
                    at_ms: now,
                });
                if let Some(row) = business.transactions.iter().find(|t| t.id == tx) {
                    frames.push(service(6, 3, "transaction", ws_transaction(business, row)));
                }
            }
            let o = json!({
                "orderId": order.to_string(), "storyId": story.to_string(), "accountId": f,
                "correlationAccountId": c, "type": 1, "price": price, "createdAt": now
            });
            frames.insert(0, service(32, 7, "order", o));
            Ok((frames, json!({"orderId": order.to_string()})))
        }
        // 11.1: the creator mutes (1), blocks (2) or releases (0) the fan.
        "fan_ignored" => {
            let flags = b.flags.unwrap_or(1);
            let d = json!({"accountId": c, "ignoredId": f, "ignoreFlags": flags, "updatedAt": now});
            Ok((vec![service(11, 1, "data", d)], json!({"flags": flags})))
        }
        // 45.10: the creator's stream goes live.
        "stream_updated" => {
            let id = world.mint_id();
            let st = json!({"id": id.to_string(), "accountId": c, "status": 2,
                "title": b.text.clone().unwrap_or_else(|| "Live now".into()), "updatedAt": now});
            Ok((
                vec![service(45, 10, "stream", st)],
                json!({"streamId": id.to_string()}),
            ))
        }
        // 4.9: the creator hides the chat with the fan (its own setting).
        "chat_hidden" => {
            let group = world.open_group(creator, fan).id;
            world
                .messaging
                .settings
                .entry((group, creator))
                .or_default()
                .insert("hidden".into(), json!(true));
            let e = json!({"groupId": group.to_string(), "userId": c, "userSettings": {"hidden": true}, "type": 1});
            Ok((
                vec![service(4, 9, "groupUserSettingsChangeEvent", e)],
                json!({"groupId": group.to_string()}),
            ))
        }
        // 9.1 type 24001: a Fansly alert to the creator.
        "alert" => {
            let id = world.mint_id();
            let n = json!({"id": id.to_string(), "type": 24001, "accountId": c,
                "metadata": {"reason": b.text.clone().unwrap_or_else(|| "generic_message".into())}, "createdAt": now});
            Ok((
                vec![service(9, 1, "notification", n)],
                json!({"notificationId": id.to_string()}),
            ))
        }
        // 6.3 type 58000 and 6.2: a payout leaves the balance.
        "payout_debited" => {
            let id = world.mint_id();
            let business = world
                .business_mut(creator)
                .ok_or_else(|| refuse("this creator has no seeded business"))?;
            let amount = b.amount.unwrap_or(50_000);
            let tx = Transaction {
                id,
                kind: 58000,
                fan: creator,
                correlation_id: id,
                amount,
                tax: 0,
                new_balance: business.total_balance() - amount,
                at_ms: now,
            };
            let payload = ws_transaction(business, &tx);
            business.transactions.push(tx);
            Ok((
                vec![
                    service(6, 3, "transaction", payload),
                    service(6, 2, "wallet", earnings_wallet(business, now)),
                ],
                json!({"transactionId": id.to_string()}),
            ))
        }
        // The creator edits its display name: 12.2 (the account changed);
        // the profile itself is read back by the gateway's sweep.
        "profile_updated" => {
            let name = b.text.clone().unwrap_or_else(|| format!("Renamed {now}"));
            let username = world
                .account(creator)
                .map(|a| a.username.clone())
                .unwrap_or_default();
            let account = world
                .account_mut_by_username(&username)
                .ok_or_else(|| refuse("unknown creator"))?;
            account.display_name = Some(name.clone());
            let a = json!({"id": c, "displayName": name, "version": now, "updatedAt": now});
            Ok((
                vec![service(12, 2, "account", a)],
                json!({"displayName": name}),
            ))
        }
        other => Err((
            StatusCode::NOT_FOUND,
            format!("unknown event kind {other:?}"),
        )),
    }
}
