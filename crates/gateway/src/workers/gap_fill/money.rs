//! Gap fill of money: the earnings ledger ([`Listing::Transactions`]) and
//! payout requests ([`Listing::Payouts`]). A ledger row is
//! `fansly.transactions.new` (6.3) and, by its type, what the socket
//! announces of the same sale: a tip (7.1), a media or story purchase
//! (2.7, 32.7), a payout debit (6.3 type 58000). Payout requests are
//! created (16.20) and, past their first version, updated (16.21).
//!
//! The ledger row names the sale's item (`correlationId`) and buyer
//! (`correlationAccountId`) but no order, so purchases are keyed by buyer
//! and item on both paths ([`keys::media_order`]). Type codes follow the
//! `serviceId * 1000 + n` rule (spec §7); which `n` a tip, a media sale and
//! a story sale get is INFERRED from the sandbox's ledger, not captured.

use serde_json::{json, Value};

use crate::events::keys;
use crate::workers::gap_fill::fill::{id_of, time_ms, Advance, Fill, Found, Stop};
use crate::workers::gap_fill::listing::{walk, Listing};

/// A tip received.
const TIP: i64 = 7101;
/// Media bought (one ledger row per item).
const MEDIA: i64 = 2110;
/// A story (locked text) bought.
const STORY: i64 = 32101;
/// A billing debit: a payout leaving the balance.
const DEBIT: i64 = 58000;

/// The ledger rows since the `transactions` mark, and what each announces.
pub async fn transactions(
    fill: &mut Fill<'_>,
    found: &mut Vec<Found>,
    advances: &mut Vec<Advance>,
) -> Result<(), Stop> {
    let me = fill.account.fansly_id.clone();
    for (row, at) in walk(fill, Listing::Transactions, advances).await? {
        let Some(id) = id_of(&row, "transactionId").or_else(|| id_of(&row, "id")) else {
            continue;
        };
        let id_s = id.to_string();
        // The 6.3 frame names the row by `id`.
        let mut tx = row.clone();
        tx["id"] = json!(id_s);
        let mut push = |name, dedup_key, payload| {
            found.push(Found {
                name,
                dedup_key,
                payload,
                at,
                order: id,
            })
        };
        push(
            "fansly.transactions.new",
            keys::transaction(&id_s),
            tx.clone(),
        );
        let item = id_of(&row, "correlationId").map(|i| i.to_string());
        let buyer = id_of(&row, "correlationAccountId")
            .or_else(|| id_of(&row, "senderId"))
            .map(|b| b.to_string());
        // A purchase as the websocket's order frame has it (media: type 2,
        // story: type 1), from the fields the ledger row has.
        let order = |item_field: &str, item: &str, buyer: &str, kind: u8| {
            json!({
                "orderId": null,
                item_field: item,
                "accountId": buyer,
                "correlationAccountId": me,
                "type": kind,
                "price": row.get("amount").cloned().unwrap_or(Value::Null),
                "transactionId": id_s,
                "createdAt": at,
            })
        };
        match (row.get("type").and_then(Value::as_i64), item, buyer) {
            (Some(TIP), Some(tip), buyer) => push(
                "fansly.tips.received",
                keys::tip(&tip),
                // The 7.1 frame's fields the ledger row has.
                json!({
                    "id": tip,
                    "senderId": buyer,
                    "receiverId": me,
                    "amount": row.get("amount").cloned().unwrap_or(Value::Null),
                    "receiverTransactionId": id_s,
                    "createdAt": at,
                }),
            ),
            (Some(MEDIA), Some(media), Some(buyer)) => push(
                "fansly.media.purchased",
                keys::media_order(&buyer, &media),
                order("accountMediaId", &media, &buyer, 2),
            ),
            (Some(STORY), Some(story), Some(buyer)) => push(
                "fansly.stories.purchased",
                keys::story_order(&buyer, &story),
                order("storyId", &story, &buyer, 1),
            ),
            (Some(DEBIT), _, _) => push("fansly.payouts.debited", keys::payout_debited(&id_s), tx),
            _ => {}
        }
    }
    Ok(())
}

/// Payout requests made inside the horizon, and the present version of
/// each one past its first (every one is read again; the keys make a
/// payout seen before one event).
pub async fn payouts(
    fill: &mut Fill<'_>,
    found: &mut Vec<Found>,
    advances: &mut Vec<Advance>,
) -> Result<(), Stop> {
    let floor = fill.floor;
    for (row, at) in walk(fill, Listing::Payouts, advances).await? {
        let Some(id) = id_of(&row, "id") else {
            continue;
        };
        let id_s = id.to_string();
        found.push(Found {
            name: "fansly.payouts.created",
            dedup_key: keys::payout_created(&id_s),
            payload: row.clone(),
            at,
            order: id,
        });
        let version = row.get("version").and_then(Value::as_i64).unwrap_or(1);
        let updated = time_ms(&row, "updatedAt").unwrap_or(at);
        if version > 1 && updated >= floor {
            found.push(Found {
                name: "fansly.payouts.updated",
                dedup_key: keys::payout_updated(&id_s, version),
                payload: row,
                at: updated,
                order: id,
            });
        }
    }
    Ok(())
}
