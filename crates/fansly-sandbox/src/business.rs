//! A seeded creator business: one event history (follows, subscriptions with
//! renewals and expiries, tips, PPV sales, payouts, tracking-link traffic)
//! from which every money, fan and statistics answer is derived, so totals
//! agree across routes. This file holds the types, the balances and how
//! Fansly renders them; how a history is generated is in `business_seed.rs`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

pub const DAY_MS: i64 = 86_400_000;
/// Fansly holds earnings for seven days before they can be paid out.
pub const PENDING_MS: i64 = 7 * DAY_MS;
/// Fansly keeps 20 % of every sale (`destinationTax`).
pub const FEE_PERCENT: i64 = 20;

/// Transaction types (`serviceId * 1000 + n`, spec §7): creator-side earnings.
pub const TYPE_SUBSCRIPTION: i64 = 15001;
pub const TYPE_TIP: i64 = 7101;
pub const TYPE_MEDIA: i64 = 2110;
pub const TYPE_BUNDLE: i64 = 2116;
/// A story (locked text) bought: INFERRED from the `serviceId * 1000 + n`
/// rule (stories are service 32); no capture shows one.
pub const TYPE_STORY: i64 = 32101;

pub struct Plan {
    pub id: u64,
    pub billing_cycle: i64,
    pub price: i64,
}

pub struct Tier {
    pub id: u64,
    pub name: &'static str,
    pub color: &'static str,
    pub benefits: &'static [&'static str],
    pub plans: Vec<Plan>,
}

pub struct Follow {
    pub id: u64,
    pub fan: u64,
    pub at_ms: i64,
}

pub struct Subscription {
    pub id: u64,
    pub history_id: u64,
    pub fan: u64,
    pub tier: usize,
    pub plan: usize,
    pub created_ms: i64,
    /// The last renewal (or the start).
    pub updated_ms: i64,
    pub ends_ms: i64,
    pub active: bool,
    pub renewals: u32,
}

pub struct Transaction {
    pub id: u64,
    pub kind: i64,
    pub fan: u64,
    /// What was bought: the subscription, or a minted media / tip id.
    pub correlation_id: u64,
    pub amount: i64,
    pub tax: i64,
    /// Earnings wallet balance (pending included) right after this row.
    pub new_balance: i64,
    pub at_ms: i64,
}

impl Transaction {
    pub fn net(&self) -> i64 {
        self.amount - self.tax
    }
}

pub struct Payout {
    pub id: u64,
    pub amount: i64,
    pub at_ms: i64,
    /// 1 requested, 2 paid (as the 16.20 / 16.21 frames say).
    pub status: i64,
    /// One more with each change (the 16.21 frame carries it).
    pub version: i64,
    pub updated_ms: i64,
}

impl Payout {
    /// A payout of the seeded history: paid a day after it was asked for.
    pub fn paid(id: u64, amount: i64, at_ms: i64) -> Payout {
        Payout {
            id,
            amount,
            at_ms,
            status: 2,
            version: 2,
            updated_ms: at_ms + DAY_MS,
        }
    }
}

pub struct FanList {
    pub id: u64,
    pub label: String,
    pub description: String,
    pub created_ms: i64,
    /// Member account ids, in insertion order.
    pub items: Vec<u64>,
}

pub struct TrackingLink {
    pub id: u64,
    /// 1 = built-in (For You / Suggestions / Search), 2 = the creator's own.
    pub kind: i64,
    pub internal_id: i64,
    pub label: String,
    pub description: String,
    pub created_ms: i64,
    /// One row per day of the history, oldest first.
    pub days: Vec<LinkDay>,
}

#[derive(Clone, Copy, Default)]
pub struct LinkDay {
    pub clicks: i64,
    pub claims: i64,
    pub follows: i64,
    pub subscriptions: i64,
}

#[derive(Default)]
pub struct Business {
    pub creator: u64,
    /// First day of the history (UTC midnight, ms).
    pub start_ms: i64,
    pub tiers: Vec<Tier>,
    /// Oldest first.
    pub follows: Vec<Follow>,
    pub following: Vec<u64>,
    pub subscriptions: Vec<Subscription>,
    /// Oldest first.
    pub transactions: Vec<Transaction>,
    /// Oldest first.
    pub payouts: Vec<Payout>,
    /// In dashboard order (`pos` = index).
    pub lists: Vec<FanList>,
    pub muted: BTreeSet<u64>,
    pub links: Vec<TrackingLink>,
}

impl Business {
    /// The ledger rows with `after <= at_ms <= before`, oldest first.
    /// Files a sale made through `/_sandbox`, in time order; its
    /// `new_balance` is the balance of the row before it plus its net.
    pub fn add_transaction(&mut self, mut t: Transaction) {
        let at = self.transactions.partition_point(|x| x.at_ms <= t.at_ms);
        let before = at
            .checked_sub(1)
            .map_or(0, |i| self.transactions[i].new_balance);
        t.new_balance = before + t.net();
        self.transactions.insert(at, t);
    }

    pub fn in_window(
        &self,
        after: i64,
        before: i64,
    ) -> impl DoubleEndedIterator<Item = &Transaction> {
        self.transactions
            .iter()
            .filter(move |t| t.at_ms >= after && t.at_ms <= before)
    }

    pub fn tier_json(&self, pos: usize) -> Value {
        let t = &self.tiers[pos];
        let included: Vec<String> = self.tiers[..pos].iter().map(|t| t.id.to_string()).collect();
        json!({
            "id": t.id.to_string(),
            "accountId": self.creator.to_string(),
            "name": t.name,
            "color": t.color,
            "pos": pos,
            "price": t.plans[0].price,
            "maxSubscribers": 0,
            "subscriptionBenefits": t.benefits,
            "includedTierIds": included,
            "plans": t.plans.iter().map(|p| json!({
                "id": p.id.to_string(),
                "status": 1,
                "billingCycle": p.billing_cycle,
                "price": p.price,
                "useAmounts": 0,
                "promos": []
            })).collect::<Vec<_>>()
        })
    }

    /// Status 3 = active, 5 = expired (spec §5.4).
    pub fn subscription_json(&self, s: &Subscription) -> Value {
        let tier = &self.tiers[s.tier];
        let plan = &tier.plans[s.plan];
        json!({
            "id": s.id.to_string(),
            "historyId": s.history_id.to_string(),
            "subscriberId": s.fan.to_string(),
            "subscriptionTierId": tier.id.to_string(),
            "subscriptionTierName": tier.name,
            "subscriptionTierColor": tier.color,
            "planId": plan.id.to_string(),
            "promoId": "0",
            "giftCodeId": null,
            "paymentMethodId": "0",
            "status": if s.active { 3 } else { 5 },
            "price": plan.price,
            "renewPrice": plan.price,
            "renewCorrelationId": s.history_id.to_string(),
            "autoRenew": i32::from(s.active),
            "billingCycle": plan.billing_cycle,
            "duration": plan.billing_cycle,
            "renewDate": s.ends_ms,
            "version": 1 + s.renewals,
            "createdAt": s.created_ms,
            "updatedAt": s.updated_ms,
            "endsAt": s.ends_ms,
            "promoPrice": null,
            "promoDuration": null,
            "promoStatus": null,
            "promoStartsAt": null,
            "promoEndsAt": null
        })
    }

    /// The earnings ledger row (HUB's transaction type). Status 1 = pending
    /// (still inside the seven days), 2 = approved.
    pub fn transaction_json(&self, t: &Transaction, now_ms: i64) -> Value {
        json!({
            "walletId": self.earnings_wallet_id().to_string(),
            "transactionId": t.id.to_string(),
            "accountId": self.creator.to_string(),
            "correlationId": t.correlation_id.to_string(),
            "correlationAccountId": t.fan.to_string(),
            "type": t.kind,
            "destination": "wallet",
            "amount": t.amount,
            "destinationTax": t.tax,
            "destinationAmount": t.net(),
            "newBalance": t.new_balance,
            "newBalance64": t.new_balance.to_string(),
            "createdAt": t.at_ms,
            "updatedAt": t.at_ms,
            "status": if t.at_ms > now_ms - PENDING_MS { 1 } else { 2 },
            "senderId": t.fan.to_string(),
            "receiverId": self.creator.to_string()
        })
    }

    pub fn payout_json(&self, p: &Payout) -> Value {
        json!({
            "id": p.id.to_string(),
            "accountId": self.creator.to_string(),
            "walletId": self.earnings_wallet_id().to_string(),
            "amount": p.amount,
            "currencyCode": "USD",
            "status": p.status,
            "version": p.version,
            "createdAt": p.at_ms,
            "updatedAt": p.updated_ms
        })
    }

    pub fn earnings_wallet_id(&self) -> u64 {
        self.creator + 2
    }

    /// Net earnings still inside the seven-day hold at `now_ms`.
    pub fn pending_balance(&self, now_ms: i64) -> i64 {
        self.transactions
            .iter()
            .filter(|t| t.at_ms > now_ms - PENDING_MS)
            .map(Transaction::net)
            .sum()
    }

    /// Net earnings ever minus payouts: what the earnings wallet holds,
    /// pending included.
    pub fn total_balance(&self) -> i64 {
        self.transactions.iter().map(Transaction::net).sum::<i64>()
            - self.payouts.iter().map(|p| p.amount).sum::<i64>()
    }

    /// Available for payout: the balance minus what is still pending.
    pub fn available_balance(&self, now_ms: i64) -> i64 {
        self.total_balance() - self.pending_balance(now_ms)
    }

    pub fn wallets_json(&self, now_ms: i64) -> Value {
        let updated = self.transactions.last().map_or(self.start_ms, |t| t.at_ms);
        let wallet = |id: u64, kind: i64, balance: i64| {
            json!({
                "id": id.to_string(),
                "accountId": self.creator.to_string(),
                "type": kind,
                "balance": balance,
                "balance64": balance.to_string(),
                "flags": 0,
                "walletVersion": self.transactions.len() + self.payouts.len(),
                "updatedAt": updated
            })
        };
        json!([
            wallet(self.creator + 3, 1, 0),
            wallet(self.earnings_wallet_id(), 2, self.available_balance(now_ms))
        ])
    }

    pub fn list_json(&self, pos: usize) -> Value {
        let l = &self.lists[pos];
        json!({
            "id": l.id.to_string(),
            "accountId": self.creator.to_string(),
            "pos": pos,
            "type": 0,
            "label": l.label,
            "description": l.description,
            "itemCount": l.items.len(),
            "createdAt": l.created_ms
        })
    }

    pub fn link_json(&self, l: &TrackingLink) -> Value {
        let total = |f: fn(&LinkDay) -> i64| l.days.iter().map(f).sum::<i64>();
        let subs = total(|d| d.subscriptions);
        // Revenue attributed to the link: the first month of each subscription it brought.
        let gross = subs * self.tiers[0].plans[0].price;
        json!({
            "id": l.id.to_string(),
            "accountId": self.creator.to_string(),
            "internalId": l.internal_id,
            "type": l.kind,
            "status": 1,
            "label": l.label,
            "description": l.description,
            "metadata": "{}",
            "createdAt": l.created_ms,
            "clicks": total(|d| d.clicks),
            "claims": total(|d| d.claims),
            "follows": total(|d| d.follows),
            "subscriptions": subs,
            "totalGross": gross,
            "totalNet": gross - gross * FEE_PERCENT / 100
        })
    }
}
