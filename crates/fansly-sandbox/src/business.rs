//! A seeded creator business: one event history (follows, subscriptions with
//! renewals and expiries, tips, PPV sales, payouts, tracking-link traffic)
//! from which every money, fan and statistics answer is derived, so totals
//! agree across routes.
//!
//! The history covers the 365 days before the UTC midnight of the start day
//! and comes from a seeded RNG: the same day gives the same business (ids
//! included); a later day shifts it forward.

use std::collections::BTreeSet;

use fansly_upstream::ids::snowflake_at;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

pub const DAY_MS: i64 = 86_400_000;
/// Fansly holds earnings for seven days before they can be paid out.
pub const PENDING_MS: i64 = 7 * DAY_MS;
const HISTORY_DAYS: i64 = 365;
/// Fansly keeps 20 % of every sale (`destinationTax`).
const FEE_PERCENT: i64 = 20;
const MIN_PAYOUT: i64 = 50_000;

/// Transaction types (`serviceId * 1000 + n`, spec §7): creator-side earnings.
pub const TYPE_SUBSCRIPTION: i64 = 15001;
pub const TYPE_TIP: i64 = 7101;
pub const TYPE_MEDIA: i64 = 2110;
pub const TYPE_BUNDLE: i64 = 2116;

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

/// Snowflakes for seeded events: the event's own time, distinct low bits.
struct Ids(u64);

impl Ids {
    fn at(&mut self, ms: i64) -> u64 {
        self.0 += 1;
        snowflake_at(ms, self.0)
    }
}

enum Money {
    Sale(Transaction),
    Payout,
}

impl Business {
    /// The business of `creator` (seed `seed`) over the year before `anchor_ms`
    /// (a UTC midnight), with `fans` as its audience and `peers` as accounts
    /// it may follow.
    pub fn generate(creator: u64, seed: u64, fans: &[u64], peers: &[u64], anchor_ms: i64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(0xFA25_0000 + seed);
        let mut ids = Ids(seed << 16);
        let start_ms = anchor_ms - HISTORY_DAYS * DAY_MS;
        // A smaller creator for every further seed.
        let reach = 1.0 / (1.0 + seed as f64);

        let setup = start_ms - 30 * DAY_MS;
        let tiers = vec![
            Tier {
                id: ids.at(setup),
                name: "Starter Tier",
                color: "#FF6F61",
                benefits: &["Access to all photos and videos on the wall", "Chat access"],
                plans: vec![
                    Plan {
                        id: ids.at(setup),
                        billing_cycle: 30,
                        price: 5000,
                    },
                    Plan {
                        id: ids.at(setup),
                        billing_cycle: 90,
                        price: 13500,
                    },
                ],
            },
            Tier {
                id: ids.at(setup),
                name: "Premium Tier",
                color: "#FF69B4",
                benefits: &["All Starter benefits", "Bonus content drops"],
                plans: vec![Plan {
                    id: ids.at(setup),
                    billing_cycle: 30,
                    price: 15000,
                }],
            },
        ];
        let mut links: Vec<TrackingLink> = [
            (1, 1, "For You", ""),
            (1, 2, "Suggestions", ""),
            (1, 3, "Search", ""),
            (2, 0, "Twitter bio", "Link in the pinned tweet"),
            (2, 0, "Reddit", "Weekly promo posts"),
        ]
        .into_iter()
        .map(|(kind, internal_id, label, description)| TrackingLink {
            id: ids.at(setup),
            kind,
            internal_id,
            label: label.into(),
            description: description.into(),
            created_ms: setup,
            days: vec![LinkDay::default(); HISTORY_DAYS as usize],
        })
        .collect();
        let day_of = |ms: i64| ((ms - start_ms) / DAY_MS) as usize;

        let mut follows = Vec::new();
        let mut subscriptions = Vec::new();
        let mut sales: Vec<Transaction> = Vec::new();
        let mut sale =
            |ids: &mut Ids, kind: i64, fan: u64, correlation_id: u64, amount: i64, at_ms: i64| {
                sales.push(Transaction {
                    id: ids.at(at_ms),
                    kind,
                    fan,
                    correlation_id,
                    amount,
                    tax: amount * FEE_PERCENT / 100,
                    new_balance: 0,
                    at_ms,
                });
            };
        for &fan in fans {
            if !rng.gen_bool(0.8 * reach) {
                continue;
            }
            let followed = rng.gen_range(start_ms..anchor_ms);
            let link = rng.gen_bool(0.6).then(|| rng.gen_range(0..links.len()));
            if let Some(l) = link {
                links[l].days[day_of(followed)].follows += 1;
            }
            follows.push(Follow {
                id: ids.at(followed),
                fan,
                at_ms: followed,
            });
            let mut tip_window = None;
            let started = followed + rng.gen_range(0..14 * DAY_MS);
            if rng.gen_bool(0.6) && started < anchor_ms {
                let tier = usize::from(rng.gen_bool(0.3));
                let plan = usize::from(tier == 0 && rng.gen_bool(0.25));
                let (cycle, price) = {
                    let p = &tiers[tier].plans[plan];
                    (p.billing_cycle * DAY_MS, p.price)
                };
                let id = ids.at(started);
                if let Some(l) = link {
                    links[l].days[day_of(started)].subscriptions += 1;
                }
                let mut paid = started;
                let mut renewals = 0;
                let (ends_ms, active) = loop {
                    sale(&mut ids, TYPE_SUBSCRIPTION, fan, id, price, paid);
                    let end = paid + cycle;
                    if end >= anchor_ms {
                        break (end, true);
                    }
                    if rng.gen_bool(0.15) {
                        break (end, false);
                    }
                    paid = end;
                    renewals += 1;
                };
                subscriptions.push(Subscription {
                    id,
                    history_id: ids.at(paid),
                    fan,
                    tier,
                    plan,
                    created_ms: started,
                    updated_ms: paid,
                    ends_ms,
                    active,
                    renewals,
                });
                tip_window = Some((started, ends_ms.min(anchor_ms)));
                for _ in 0..rng.gen_range(0..=4) {
                    let at = rng.gen_range(started..ends_ms.min(anchor_ms));
                    let kind = if rng.gen_bool(0.7) {
                        TYPE_MEDIA
                    } else {
                        TYPE_BUNDLE
                    };
                    let item = ids.at(at);
                    sale(&mut ids, kind, fan, item, rng.gen_range(3..=25) * 1000, at);
                }
            } else if rng.gen_bool(0.15) {
                tip_window = Some((followed, anchor_ms));
            }
            if let Some((from, to)) = tip_window {
                for _ in 0..rng.gen_range(1..=5) {
                    let at = rng.gen_range(from..to);
                    let tip = ids.at(at);
                    sale(
                        &mut ids,
                        TYPE_TIP,
                        fan,
                        tip,
                        rng.gen_range(1..=50) * 1000,
                        at,
                    );
                }
            }
        }
        follows.sort_by_key(|f| (f.at_ms, f.id));
        for link in &mut links {
            for day in &mut link.days {
                day.claims = day.follows + rng.gen_range(0..=3);
                day.clicks = day.claims + rng.gen_range(0..=12);
            }
        }

        let (transactions, payouts) = settle(sales, start_ms, anchor_ms, &mut ids);

        let mut following: Vec<u64> = fans
            .choose_multiple(&mut rng, 8)
            .copied()
            .chain(peers.iter().copied())
            .collect();
        following.sort_unstable();

        let subscribers: Vec<u64> = subscriptions.iter().map(|s| s.fan).collect();
        let expired: Vec<u64> = subscriptions
            .iter()
            .filter(|s| !s.active)
            .map(|s| s.fan)
            .collect();
        let followers: Vec<u64> = follows.iter().map(|f| f.fan).collect();
        let mut pick = |from: &[u64], n: usize| -> Vec<u64> {
            from.choose_multiple(&mut rng, n.min(from.len()))
                .copied()
                .collect()
        };
        let lists = [
            ("VIP", "Biggest spenders", pick(&subscribers, 12)),
            ("Win back", "Expired subscribers", pick(&expired, 15)),
            ("Birthdays this month", "", pick(&followers, 5)),
        ]
        .into_iter()
        .map(|(label, description, items)| FanList {
            id: ids.at(setup),
            label: label.into(),
            description: description.into(),
            created_ms: setup,
            items,
        })
        .collect();
        let muted = pick(&followers, 3).into_iter().collect();

        Business {
            creator,
            start_ms,
            tiers,
            follows,
            following,
            subscriptions,
            transactions,
            payouts,
            lists,
            muted,
            links,
        }
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
            "status": 2,
            "version": 2,
            "createdAt": p.at_ms,
            "updatedAt": p.at_ms + DAY_MS
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

/// Orders the sales, pays out every 28 days what has cleared the hold (when
/// at least $50), and writes each row's running balance.
fn settle(
    mut sales: Vec<Transaction>,
    start_ms: i64,
    anchor_ms: i64,
    ids: &mut Ids,
) -> (Vec<Transaction>, Vec<Payout>) {
    sales.sort_by_key(|t| (t.at_ms, t.id));
    let payout_times: Vec<i64> = (1..)
        .map(|n| start_ms + n * 28 * DAY_MS + 12 * 3_600_000)
        .take_while(|t| *t < anchor_ms)
        .collect();
    let mut events: Vec<(i64, Money)> = sales
        .into_iter()
        .map(|t| (t.at_ms, Money::Sale(t)))
        .chain(payout_times.into_iter().map(|t| (t, Money::Payout)))
        .collect();
    events.sort_by_key(|(at, _)| *at);

    let mut balance = 0;
    let mut paid_out = 0;
    let mut cleared: Vec<(i64, i64)> = Vec::new();
    let mut transactions = Vec::new();
    let mut payouts = Vec::new();
    for (at, event) in events {
        match event {
            Money::Sale(mut t) => {
                balance += t.net();
                t.new_balance = balance;
                cleared.push((t.at_ms, t.net()));
                transactions.push(t);
            }
            Money::Payout => {
                let matured: i64 = cleared
                    .iter()
                    .filter(|(when, _)| *when <= at - PENDING_MS)
                    .map(|(_, net)| net)
                    .sum();
                let amount = matured - paid_out;
                if amount >= MIN_PAYOUT {
                    paid_out += amount;
                    balance -= amount;
                    payouts.push(Payout {
                        id: ids.at(at),
                        amount,
                        at_ms: at,
                    });
                }
            }
        }
    }
    (transactions, payouts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANCHOR: i64 = 1_780_358_400_000; // 2026-06-02T00:00:00Z

    fn sample(seed: u64) -> Business {
        let fans: Vec<u64> = (1..=200)
            .map(|i| snowflake_at(1_704_067_200_000 + i * 3_600_000, i as u64))
            .collect();
        Business::generate(42, seed, &fans, &[43], ANCHOR)
    }

    #[test]
    fn the_same_day_gives_the_same_business() {
        let started = std::time::Instant::now();
        let (a, b) = (sample(0), sample(0));
        eprintln!("two businesses generated in {:?}", started.elapsed());
        for x in [&a, &sample(1)] {
            eprintln!(
                "followers {} subscriptions {} (active {}) transactions {} payouts {} lists {} links {}",
                x.follows.len(),
                x.subscriptions.len(),
                x.subscriptions.iter().filter(|s| s.active).count(),
                x.transactions.len(),
                x.payouts.len(),
                x.lists.len(),
                x.links.len()
            );
        }
        let ids = |x: &Business| x.transactions.iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(a.payouts.len(), b.payouts.len());
        assert_ne!(
            ids(&a),
            ids(&sample(1)),
            "each creator has its own business"
        );
        let all: BTreeSet<u64> = a
            .transactions
            .iter()
            .map(|t| t.id)
            .chain(a.payouts.iter().map(|p| p.id))
            .chain(a.subscriptions.iter().map(|s| s.id))
            .chain(a.follows.iter().map(|f| f.id))
            .collect();
        assert_eq!(
            all.len(),
            a.transactions.len() + a.payouts.len() + a.subscriptions.len() + a.follows.len(),
            "ids are unique"
        );
    }

    #[test]
    fn running_balances_follow_sales_and_payouts() {
        let b = sample(0);
        let mut balance = 0;
        let mut payouts = b.payouts.iter().peekable();
        for t in &b.transactions {
            while let Some(p) = payouts.next_if(|p| p.at_ms < t.at_ms) {
                balance -= p.amount;
            }
            balance += t.net();
            assert_eq!(t.new_balance, balance, "transaction {}", t.id);
        }
        let paid: i64 = b.payouts.iter().map(|p| p.amount).sum();
        assert_eq!(
            b.total_balance(),
            balance - payouts.map(|p| p.amount).sum::<i64>()
        );
        assert!(paid > 0 && b.payouts.iter().all(|p| p.amount >= MIN_PAYOUT));
        // Nothing is paid out before it clears the hold.
        for p in &b.payouts {
            let cleared: i64 = b
                .transactions
                .iter()
                .filter(|t| t.at_ms <= p.at_ms - PENDING_MS)
                .map(Transaction::net)
                .sum();
            let paid_so_far: i64 = b
                .payouts
                .iter()
                .filter(|q| q.at_ms <= p.at_ms)
                .map(|q| q.amount)
                .sum();
            assert!(paid_so_far <= cleared);
        }
        assert!(
            b.subscriptions.iter().any(|s| s.active) && b.subscriptions.iter().any(|s| !s.active)
        );
        assert!(b.subscriptions.iter().any(|s| s.renewals > 0));
    }
}
