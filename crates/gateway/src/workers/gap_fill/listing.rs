//! Newest-first walks of the lists Fansly keeps per creator and announces
//! on the socket one row at a time: followers, subscriptions, the earnings
//! ledger and payout requests. A walk pages down to the source's mark (the
//! newest upstream time a complete walk covered; payouts have none) or the
//! fill's floor, one request of the fill's allowance per page, and raises
//! the mark only once it got there.
//!
//! Rows at the mark's own millisecond are read again: two rows may share
//! it, and the socket's dedup keys make a row recorded twice one event.

use fansly_upstream::ids::snowflake_time_ms;
use fansly_upstream::{Page, SubscriberStatus, UpstreamError};
use serde_json::Value;

use crate::events::marks;
use crate::fansly::answers::array_at;
use crate::workers::gap_fill::fill::{id_of, time_ms, Advance, Fill, Stop};

/// A list the fill walks.
#[derive(Clone, Copy, Debug)]
pub enum Listing {
    /// `account/{id}/followersnew`, newest first.
    Followers,
    /// `/subscribers` (every status), most recently changed first.
    Subscriptions,
    /// The earnings ledger, newest first.
    Transactions,
    /// Payout requests, newest first.
    Payouts,
}

impl Listing {
    /// The source whose mark the walk stops at.
    pub fn source(self) -> &'static str {
        match self {
            Listing::Followers => "followers",
            Listing::Subscriptions => "subscriptions",
            Listing::Transactions => "transactions",
            Listing::Payouts => "payouts",
        }
    }

    /// Whether the walk stops at a mark. Payout requests are few and change
    /// after they are made (paid days later), so every one inside the
    /// horizon is read each time: a mark by creation time would hide the
    /// update of one made before it.
    fn marked(self) -> bool {
        !matches!(self, Listing::Payouts)
    }

    fn page_size(self) -> u32 {
        match self {
            Listing::Followers | Listing::Subscriptions | Listing::Transactions => 50,
            Listing::Payouts => 20,
        }
    }

    /// When the row happened upstream (Unix ms): a subscription when it
    /// last changed, a follow when it was made (its id's time when the row
    /// has no date), anything else when it was created.
    fn time_of(self, row: &Value) -> Option<i64> {
        match self {
            Listing::Subscriptions => {
                time_ms(row, "updatedAt").or_else(|| time_ms(row, "createdAt"))
            }
            Listing::Followers => {
                time_ms(row, "createdAt").or_else(|| id_of(row, "id").map(snowflake_time_ms))
            }
            Listing::Transactions | Listing::Payouts => time_ms(row, "createdAt"),
        }
    }

    async fn page(self, fill: &Fill<'_>, offset: u32) -> Result<Vec<Value>, UpstreamError> {
        let (fansly, session) = (&fill.deps.fansly, &fill.session);
        let page = Page {
            limit: self.page_size(),
            offset,
        };
        let (answer, rows) = match self {
            Listing::Followers => (
                fansly
                    .followers(session, &fill.account.fansly_id, &page, "")
                    .await?,
                "followers",
            ),
            Listing::Subscriptions => (
                fansly
                    .subscribers(session, SubscriberStatus::All, None, "", &page)
                    .await?,
                "subscriptions",
            ),
            Listing::Transactions => (fansly.earnings_transactions(session, &page).await?, "data"),
            Listing::Payouts => (fansly.payout_requests(session, &page).await?, "data"),
        };
        Ok(array_at(&answer, rows))
    }
}

/// The rows of `listing` at or after its mark and the floor, each with its
/// upstream time, newest first; the mark's advance is pushed once the walk
/// got down to it (a walk the allowance cut short looks again next time).
pub async fn walk(
    fill: &mut Fill<'_>,
    listing: Listing,
    advances: &mut Vec<Advance>,
) -> Result<Vec<(Value, i64)>, Stop> {
    let source = listing.source();
    let mark = if listing.marked() {
        marks::marks(&fill.deps.db, &fill.account.account_id, source)
            .await?
            .get(source)
            .copied()
    } else {
        None
    };
    let mut found = Vec::new();
    let mut offset = 0;
    'pages: loop {
        fill.spend()?;
        let rows = listing.page(fill, offset).await?;
        for row in &rows {
            let Some(at) = listing.time_of(row) else {
                continue;
            };
            if at < fill.floor || mark.is_some_and(|m| at < m) {
                break 'pages;
            }
            found.push((row.clone(), at));
        }
        if rows.len() < listing.page_size() as usize {
            break;
        }
        offset += listing.page_size();
    }
    let newest = found.iter().map(|(_, at)| *at).max();
    if let Some(mark) = newest.filter(|_| listing.marked()) {
        advances.push(Advance::Mark {
            source: source.into(),
            mark,
        });
    }
    Ok(found)
}
