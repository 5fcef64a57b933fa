//! Generating a creator's business history (see `business.rs` for what it
//! holds). The history covers the 365 days before the UTC midnight of the
//! start day and comes from a seeded RNG: the same day gives the same
//! business (ids included); a later day shifts it forward.

use fansly_upstream::ids::snowflake_at;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::business::{
    Business, FanList, Follow, LinkDay, Payout, Plan, Subscription, Tier, TrackingLink,
    Transaction, DAY_MS, FEE_PERCENT, PENDING_MS, TYPE_BUNDLE, TYPE_MEDIA, TYPE_SUBSCRIPTION,
    TYPE_TIP,
};

const HISTORY_DAYS: i64 = 365;
const MIN_PAYOUT: i64 = 50_000;

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
                    payouts.push(Payout::paid(ids.at(at), amount, at));
                }
            }
        }
    }
    (transactions, payouts)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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
