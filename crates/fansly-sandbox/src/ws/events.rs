//! `POST /_sandbox/events/{kind}`: a creator's world changes as the real
//! action would (the message is in the conversation, the follower in the
//! list) and the frames Fansly sends for it (§10.4, live sequences) are
//! published on the creator's sockets. One function per kind below. Which
//! frames reach the *creator's* socket for money events is not captured
//! anywhere; the sequences here are INFERRED from the fan-side captures.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::business::{
    Business, Follow, Payout, Subscription, Transaction, DAY_MS, TYPE_MEDIA, TYPE_SUBSCRIPTION,
    TYPE_TIP,
};
use crate::content::{main_wall_id, Post};
use crate::messaging::Like;
use crate::state::AppState;
use crate::world::{now_ms, World};
use crate::ws::control::{account_id, first_creator, unprocessable};
use crate::ws::frames::{
    earnings_wallet, frame, payout_request, service, ws_message, ws_transaction,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/_sandbox/events/{kind}", routing::post(event))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct EventBody {
    creator: Option<String>,
    /// Fan username; `fan1` by default.
    fan: Option<String>,
    pub(crate) text: Option<String>,
    message_id: Option<String>,
    pub(crate) post_id: Option<String>,
    payout_id: Option<String>,
    /// Reaction type (1–7).
    reaction: Option<i64>,
    /// Mills.
    pub(crate) amount: Option<i64>,
    /// Items bought in one purchase.
    items: Option<u32>,
    /// Send all frames of the action in one `t:10001` batch.
    batch: bool,
    /// `fan_ignored`: the ignore flags (1 mute, 2 block; 0 releases).
    pub(crate) flags: Option<i64>,
    /// `post_expiring`: how long until the post expires.
    pub(crate) expires_in_ms: Option<i64>,
}

/// `POST /_sandbox/events/{kind}`: the action happens, its frames go out.
/// Answers `{"frames": n, ...ids}`.
async fn event(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    body: Option<Json<EventBody>>,
) -> Response {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let creator_name = b.creator.clone().unwrap_or_else(first_creator);
    let fan_name = b.fan.clone().unwrap_or_else(|| "fan1".into());
    let (creator, frames, answer) = {
        let mut world = state.world();
        let (Some(creator), Some(fan)) = (
            account_id(&world, &creator_name),
            account_id(&world, &fan_name),
        ) else {
            return unprocessable("unknown creator or fan");
        };
        match act(&mut world, &kind, creator, fan, &b) {
            Ok((frames, answer)) => (creator, frames, answer),
            Err(refused) => return refused.into_response(),
        }
    };
    let n = frames.len();
    if b.batch {
        state
            .hub
            .publish(creator, frame(10001, &Value::Array(frames)));
    } else {
        for f in frames {
            state.hub.publish(creator, f.to_string());
        }
    }
    let mut answer = answer;
    answer["frames"] = json!(n);
    Json(answer).into_response()
}

/// Why an action cannot happen: a status and a plain-text reason.
type Refused = (StatusCode, String);
type Acted = Result<(Vec<Value>, Value), Refused>;

fn refuse(why: &str) -> Refused {
    (StatusCode::UNPROCESSABLE_ENTITY, why.to_owned())
}

/// Who an event is between, what the request said, and when it happens.
struct Act<'b> {
    creator: u64,
    fan: u64,
    body: &'b EventBody,
    now: i64,
}

fn act(world: &mut World, kind: &str, creator: u64, fan: u64, b: &EventBody) -> Acted {
    let a = Act {
        creator,
        fan,
        body: b,
        now: now_ms(),
    };
    match kind {
        "message" => message(world, &a, fan),
        "message_sent" => message(world, &a, creator),
        "message_deleted" => message_deleted(world, &a),
        "messages_read" => messages_read(world, &a),
        "reaction_added" => reaction(world, &a, true),
        "reaction_removed" => reaction(world, &a, false),
        "typing" => typing(world, &a),
        "follow" => follow(world, &a),
        "unfollow" => unfollow(world, &a),
        "subscription_new" => subscription_new(world, &a),
        "subscription_renewed" => subscription_renewed(world, &a),
        "subscription_expired" => subscription_expired(world, &a),
        "tip" => tip(world, &a),
        "purchase" => purchase(world, &a),
        "wallet" => wallet(world, &a),
        "payout" => payout(world, &a),
        "payout_updated" => payout_updated(world, &a),
        "post" => post(world, &a),
        "post_deleted" => post_deleted(world, &a),
        other => {
            let args = crate::ws::events_more::Args {
                text: b.text.clone(),
                post_id: b.post_id.clone(),
                amount: b.amount,
                flags: b.flags,
                expires_in_ms: b.expires_in_ms,
            };
            crate::ws::events_more::act(world, other, creator, fan, &args, a.now)
        }
    }
}

/// `message` (the fan writes) and `message_sent` (the creator writes): 5.1.
fn message(world: &mut World, a: &Act, sender: u64) -> Acted {
    let group = world.open_group(a.creator, a.fan).id;
    let text = a
        .body
        .text
        .clone()
        .unwrap_or_else(|| "hello from the sandbox".into());
    let m = world.post_message(group, sender, text, Vec::new(), None);
    let payload = ws_message(&m);
    Ok((
        vec![service(5, 1, "message", payload)],
        json!({"messageId": m.id.to_string(), "groupId": group.to_string()}),
    ))
}

/// 5.10: the message as it was, with `deletedAt`.
fn message_deleted(world: &mut World, a: &Act) -> Acted {
    let m = message_arg(world, a)?;
    let Some(msg) = world.messaging.messages.get_mut(&m) else {
        return Err(refuse("unknown message"));
    };
    let mut payload = ws_message(msg);
    msg.deleted_ms = Some(a.now);
    payload["deletedAt"] = json!(a.now / 1000);
    Ok((
        vec![service(5, 10, "message", payload)],
        json!({"messageId": m.to_string()}),
    ))
}

/// 4.2: the other party read the message.
fn messages_read(world: &mut World, a: &Act) -> Acted {
    let (creator, fan, now) = (a.creator, a.fan, a.now);
    let m = message_arg(world, a)?;
    let Some(msg) = world.messaging.messages.get_mut(&m) else {
        return Err(refuse("unknown message"));
    };
    let reader = if msg.sender == creator { fan } else { creator };
    if let Some((read, delivered)) = msg.interactions.get_mut(&reader) {
        *read = now;
        if *delivered == 0 {
            *delivered = now;
        }
    }
    let group = msg.group_id.to_string();
    let payload = json!({
        "groupId": group,
        "messageIds": [m.to_string()],
        "userId": reader.to_string(),
        "userReadReceiptsEnabled": true,
        "type": 2,
        "recipients": [{"userId": msg.sender.to_string(), "groupId": group, "readReceiptsEnabled": true}]
    });
    Ok((
        vec![service(4, 2, "ackCommand", payload)],
        json!({"messageId": m.to_string()}),
    ))
}

/// 5.3 (`added`) or 5.4: the other party reacts to the message, or takes
/// its reaction back.
fn reaction(world: &mut World, a: &Act, added: bool) -> Acted {
    let (creator, fan) = (a.creator, a.fan);
    let m = message_arg(world, a)?;
    let like_id = world.mint_id();
    let kind_n = a.body.reaction.unwrap_or(1);
    let Some(msg) = world.messaging.messages.get_mut(&m) else {
        return Err(refuse("unknown message"));
    };
    let liker = if msg.sender == creator { fan } else { creator };
    let like = if added {
        let like = Like {
            id: like_id,
            account: liker,
            kind: kind_n,
        };
        msg.likes.push(like.clone());
        like
    } else {
        let Some(i) = msg.likes.iter().position(|l| l.account == liker) else {
            return Err(refuse("no reaction to remove"));
        };
        msg.likes.remove(i)
    };
    let payload = json!({
        "id": like.id.to_string(),
        "accountId": liker.to_string(),
        "messageId": m.to_string(),
        "type": like.kind,
        "groupId": msg.group_id.to_string()
    });
    let t = if added { 3 } else { 4 };
    Ok((
        vec![service(5, t, "like", payload)],
        json!({"likeId": like.id.to_string()}),
    ))
}

/// 5.22: the fan is typing.
fn typing(world: &mut World, a: &Act) -> Acted {
    let (fan, now) = (a.fan, a.now);
    let group = world.open_group(a.creator, fan).id;
    let payload =
        json!({"accountId": fan.to_string(), "groupId": group.to_string(), "lastAnnounce": now});
    Ok((
        vec![service(5, 22, "typingAnnounceEvent", payload)],
        json!({}),
    ))
}

/// 3.2: the fan follows the creator.
fn follow(world: &mut World, a: &Act) -> Acted {
    let (creator, fan, now) = (a.creator, a.fan, a.now);
    let id = world.mint_id();
    let business = business(world, creator)?;
    if business.follows.iter().any(|f| f.fan == fan) {
        return Err(refuse("already following"));
    }
    business.follows.push(Follow {
        id,
        fan,
        at_ms: now,
    });
    let payload = json!({"id": id.to_string(), "followerId": fan.to_string(), "accountId": creator.to_string(), "createdAt": now});
    Ok((
        vec![service(3, 2, "follow", payload)],
        json!({"followId": id.to_string()}),
    ))
}

/// 3.3: the fan unfollows; the frame reuses the follow's id and date.
fn unfollow(world: &mut World, a: &Act) -> Acted {
    let (creator, fan) = (a.creator, a.fan);
    let business = business(world, creator)?;
    let Some(i) = business.follows.iter().position(|f| f.fan == fan) else {
        return Err(refuse("not following"));
    };
    let f = business.follows.remove(i);
    // The unfollow reuses the follow's id and date (§10.4).
    let payload = json!({"id": f.id.to_string(), "followerId": fan.to_string(), "accountId": creator.to_string(), "createdAt": f.at_ms});
    Ok((
        vec![service(3, 3, "follow", payload)],
        json!({"followId": f.id.to_string()}),
    ))
}

/// 7.1 tip, 6.3 its ledger row, 6.2 the earnings wallet.
fn tip(world: &mut World, a: &Act) -> Acted {
    let (creator, fan, now, b) = (a.creator, a.fan, a.now, a.body);
    let amount = b.amount.unwrap_or(5_000);
    if amount <= 0 {
        return Err(refuse("amount must be positive"));
    }
    let (tip_id, tx_id) = (world.mint_id(), world.mint_id());
    let business = business(world, creator)?;
    let tx = sale(business, tx_id, TYPE_TIP, fan, tip_id, amount, now);
    let tip = json!({
        "id": tip_id.to_string(),
        "senderId": fan.to_string(),
        "receiverId": creator.to_string(),
        "amount": amount,
        "message": b.text.clone().unwrap_or_default(),
        "senderTransactionId": (tx_id + 1).to_string(),
        "receiverTransactionId": tx_id.to_string(),
        "createdAt": now,
        "tipGoalId": null,
        "targetId": null
    });
    let frames = vec![
        service(7, 1, "tip", tip),
        service(6, 3, "transaction", ws_transaction(business, &tx)),
        service(6, 2, "wallet", earnings_wallet(business, now)),
    ];
    Ok((
        frames,
        json!({"tipId": tip_id.to_string(), "transactionId": tx_id.to_string()}),
    ))
}

/// 2.7 per item bought, then 6.2 the wallet and 6.3 the last ledger row.
fn purchase(world: &mut World, a: &Act) -> Acted {
    let (creator, fan, now, b) = (a.creator, a.fan, a.now, a.body);
    let items = b.items.unwrap_or(1).clamp(1, 20);
    let order = world.mint_id();
    let ids: Vec<(u64, u64)> = (0..items)
        .map(|_| (world.mint_id(), world.mint_id()))
        .collect();
    let price = b.amount.unwrap_or(3_000);
    let business = business(world, creator)?;
    let mut frames = Vec::new();
    let mut last = None;
    for (media, tx_id) in &ids {
        frames.push(service(
            2,
            7,
            "order",
            json!({
                "orderId": order.to_string(),
                "accountMediaId": media.to_string(),
                "correlationAccountId": creator.to_string(),
                "accountId": fan.to_string(),
                "type": 2
            }),
        ));
        last = Some(sale(business, *tx_id, TYPE_MEDIA, fan, *media, price, now));
    }
    frames.push(service(6, 2, "wallet", earnings_wallet(business, now)));
    if let Some(tx) = last {
        frames.push(service(6, 3, "transaction", ws_transaction(business, &tx)));
    }
    let media: Vec<String> = ids.iter().map(|(m, _)| m.to_string()).collect();
    Ok((
        frames,
        json!({"orderId": order.to_string(), "accountMediaIds": media}),
    ))
}

/// 6.2: the earnings wallet as it is.
fn wallet(world: &mut World, a: &Act) -> Acted {
    let business = business(world, a.creator)?;
    Ok((
        vec![service(6, 2, "wallet", earnings_wallet(business, a.now))],
        json!({}),
    ))
}

/// 16.20 a payout request, 6.2 the wallet.
fn payout(world: &mut World, a: &Act) -> Acted {
    let (creator, now, b) = (a.creator, a.now, a.body);
    let id = world.mint_id();
    let amount = b.amount.unwrap_or(50_000);
    let business = business(world, creator)?;
    business.payouts.push(Payout {
        id,
        amount,
        at_ms: now,
        status: 1,
        version: 1,
        updated_ms: now,
    });
    let payload = payout_request(business, id, amount, 1, 1, now, now);
    Ok((
        vec![
            service(16, 20, "payoutRequest", payload),
            service(6, 2, "wallet", earnings_wallet(business, now)),
        ],
        json!({"payoutId": id.to_string()}),
    ))
}

/// 16.21: a payout (the newest, or `payout_id`) moves on.
fn payout_updated(world: &mut World, a: &Act) -> Acted {
    let (now, b) = (a.now, a.body);
    let business = business(world, a.creator)?;
    let wanted = b.payout_id.as_deref().and_then(|p| p.parse::<u64>().ok());
    let Some(p) = business
        .payouts
        .iter_mut()
        .rev()
        .find(|p| wanted.is_none_or(|w| w == p.id))
    else {
        return Err(refuse("no such payout"));
    };
    // Paid; the history shows what the frame says.
    p.status = 2;
    p.version += 1;
    p.updated_ms = now;
    let (id, amount, at, version) = (p.id, p.amount, p.at_ms, p.version);
    let payload = payout_request(business, id, amount, 2, version, at, now);
    Ok((
        vec![service(16, 21, "payoutRequest", payload)],
        json!({"payoutId": id.to_string()}),
    ))
}

/// 1.1: the creator publishes a post on the main wall.
fn post(world: &mut World, a: &Act) -> Acted {
    let (creator, now, b) = (a.creator, a.now, a.body);
    let id = world.mint_id();
    let post = Post {
        id,
        account: creator,
        content: b.text.clone().unwrap_or_else(|| "a sandbox post".into()),
        attachments: Vec::new(),
        wall_ids: vec![main_wall_id(creator)],
        created_ms: now,
        scheduled_for_ms: 0,
        expires_at_ms: 0,
        pin_wall_ids: Vec::new(),
    };
    let payload = post.json();
    world.content.add_post(post);
    Ok((
        vec![service(1, 1, "post", payload)],
        json!({"postId": id.to_string()}),
    ))
}

/// 1.5: the creator deletes a post.
fn post_deleted(world: &mut World, a: &Act) -> Acted {
    let (creator, now, b) = (a.creator, a.now, a.body);
    let Some(id) = b.post_id.as_deref().and_then(|p| p.parse::<u64>().ok()) else {
        return Err(refuse("post_id is required"));
    };
    let Some(post) = world.content.remove_post(creator, id) else {
        return Err(refuse("unknown post"));
    };
    let mut payload = post.json();
    payload["deletedAt"] = json!(now / 1000);
    Ok((
        vec![service(1, 5, "post", payload)],
        json!({"postId": id.to_string()}),
    ))
}

/// Every subscription event mints two ids before its checks; only a new
/// subscription uses them. Kept from when one function handled all three
/// kinds, so the ids minted after them stay as they were.
fn mint_subscription_ids(world: &mut World) -> (u64, u64) {
    (world.mint_id(), world.mint_id())
}

/// The fan's active subscription, if any (the newest).
fn active_subscription(business: &Business, fan: u64) -> Option<usize> {
    business
        .subscriptions
        .iter()
        .rposition(|s| s.fan == fan && s.active)
}

/// 15.5 pending (status 2) then confirmed (3), 6.3 and 6.2 for the first
/// payment (live sequence §10.4).
fn subscription_new(world: &mut World, a: &Act) -> Acted {
    let (id, history) = mint_subscription_ids(world);
    let business = business(world, a.creator)?;
    if active_subscription(business, a.fan).is_some() {
        return Err(refuse("already subscribed"));
    }
    let cycle = business.tiers[0].plans[0].billing_cycle;
    business.subscriptions.push(Subscription {
        id,
        history_id: history,
        fan: a.fan,
        tier: 0,
        plan: 0,
        created_ms: a.now,
        updated_ms: a.now,
        ends_ms: a.now + cycle * DAY_MS,
        active: true,
        renewals: 0,
    });
    let pos = business.subscriptions.len() - 1;
    subscription_frames(world, a, pos, false)
}

/// As a new subscription, for the next cycle of an active one.
fn subscription_renewed(world: &mut World, a: &Act) -> Acted {
    mint_subscription_ids(world);
    let business = business(world, a.creator)?;
    let Some(i) = active_subscription(business, a.fan) else {
        return Err(refuse("no active subscription"));
    };
    let s = &mut business.subscriptions[i];
    let cycle = s.ends_ms - s.updated_ms;
    s.renewals += 1;
    s.updated_ms = a.now;
    s.ends_ms = a.now + cycle.max(DAY_MS);
    subscription_frames(world, a, i, false)
}

/// 15.5 with status 5 (INFERRED): an active subscription ends.
fn subscription_expired(world: &mut World, a: &Act) -> Acted {
    mint_subscription_ids(world);
    let business = business(world, a.creator)?;
    let Some(i) = active_subscription(business, a.fan) else {
        return Err(refuse("no active subscription"));
    };
    let s = &mut business.subscriptions[i];
    s.active = false;
    s.updated_ms = a.now;
    subscription_frames(world, a, i, true)
}

/// The 15.5 frames for subscription `pos` of the creator's business (which
/// the caller checked exists): the expiry alone, or pending, confirmed and
/// the payment's ledger row and wallet.
fn subscription_frames(world: &mut World, a: &Act, pos: usize, expired: bool) -> Acted {
    let (creator, fan, now) = (a.creator, a.fan, a.now);
    let business = business_of(world, creator);
    let s = &business.subscriptions[pos];
    let mut payload = business.subscription_json(s);
    let days = (s.updated_ms - s.created_ms) / DAY_MS;
    payload["accountId"] = json!(creator.to_string());
    payload["subscriptionStreak"] = json!(s.renewals);
    payload["subscriptionTotalDays"] = json!(days.max(i64::from(s.renewals.min(1)) * 30));
    let answer = json!({"subscriptionId": s.id.to_string(), "version": 1 + s.renewals});
    let mut frames = Vec::new();
    if expired {
        frames.push(service(15, 5, "subscription", payload));
    } else {
        let mut pending = payload.clone();
        pending["status"] = json!(2);
        frames.push(service(15, 5, "subscription", pending));
        frames.push(service(15, 5, "subscription", payload));
        let tx_id = world.mint_id();
        let business = business_of(world, creator);
        let price = business.subscriptions[pos].plan;
        let price = business.tiers[business.subscriptions[pos].tier].plans[price].price;
        let sub_id = business.subscriptions[pos].id;
        let tx = sale(business, tx_id, TYPE_SUBSCRIPTION, fan, sub_id, price, now);
        frames.push(service(6, 3, "transaction", ws_transaction(business, &tx)));
        frames.push(service(6, 2, "wallet", earnings_wallet(business, now)));
    }
    Ok((frames, answer))
}

/// `message_id` from the body, else the newest live message between the two.
fn message_arg(world: &mut World, a: &Act) -> Result<u64, Refused> {
    if let Some(raw) = &a.body.message_id {
        return raw
            .parse::<u64>()
            .ok()
            .filter(|id| world.messaging.messages.contains_key(id))
            .ok_or_else(|| refuse("unknown message_id"));
    }
    let group = world.open_group(a.creator, a.fan).id;
    world
        .messaging
        .last_message(group)
        .map(|m| m.id)
        .ok_or_else(|| refuse("no message between the creator and the fan"))
}

fn business(world: &mut World, creator: u64) -> Result<&mut Business, Refused> {
    world
        .business_mut(creator)
        .ok_or_else(|| refuse("this creator has no seeded business"))
}

fn business_of(world: &mut World, creator: u64) -> &mut Business {
    world.business_mut(creator).expect("checked by the caller")
}

/// Books a sale in the creator's ledger; the row as booked.
fn sale(
    business: &mut Business,
    id: u64,
    kind: i64,
    fan: u64,
    correlation: u64,
    amount: i64,
    now: i64,
) -> Transaction {
    let tax = amount / 5;
    let new_balance = business.total_balance() + amount - tax;
    let tx = Transaction {
        id,
        kind,
        fan,
        correlation_id: correlation,
        amount,
        tax,
        new_balance,
        at_ms: now,
    };
    business.transactions.push(tx_clone(&tx));
    tx
}

fn tx_clone(t: &Transaction) -> Transaction {
    Transaction {
        id: t.id,
        kind: t.kind,
        fan: t.fan,
        correlation_id: t.correlation_id,
        amount: t.amount,
        tax: t.tax,
        new_balance: t.new_balance,
        at_ms: t.at_ms,
    }
}
