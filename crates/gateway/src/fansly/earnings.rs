//! Earnings: wallets, the ledger, pending balance, payouts, statistics, and
//! the top-supporter views the vendor builds out of Fansly's per-fan data.

use std::collections::BTreeMap;

use fansly_upstream::{FanslyClient, Page, Window};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::fansly::answers::{ask, rows, Answer};
use crate::fansly::fans::require_users;

/// The keys of a ledger row in the vendor's example, in its order.
const TRANSACTION_KEYS: [&str; 8] = [
    "transactionId",
    "type",
    "destination",
    "amount",
    "destinationTax",
    "newBalance",
    "createdAt",
    "status",
];

/// Fansly pages one fan's ledger by cursor; this bounds how many pages one
/// call may walk (100 rows each).
const MAX_FAN_PAGES: usize = 100;

#[tracing::instrument(skip_all, fields(op = "earnings.wallets", account = %account.id))]
pub async fn wallets(fansly: &FanslyClient, account: &ConnectedAccount) -> Answer {
    ask(
        account,
        fansly.wallets(&account.session, &account.fansly_id),
    )
    .await
}

/// `{total, data}` with each row cut to the vendor's keys.
#[tracing::instrument(skip_all, fields(op = "earnings.transactions", account = %account.id))]
pub async fn transactions(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    page: &Page,
) -> Answer {
    let v = ask(
        account,
        fansly.earnings_transactions(&account.session, page),
    )
    .await?;
    let data: Vec<Value> = rows(&v, Some("data"), "the transaction list")?
        .iter()
        .map(|t| {
            let row: Map<String, Value> = TRANSACTION_KEYS
                .iter()
                .map(|k| ((*k).to_owned(), t.get(*k).cloned().unwrap_or(Value::Null)))
                .collect();
            Value::Object(row)
        })
        .collect();
    Ok(json!({"total": v["total"], "data": data}))
}

/// `{pendingBalance}` exactly as the vendor's example.
#[tracing::instrument(skip_all, fields(op = "earnings.pending", account = %account.id))]
pub async fn pending(fansly: &FanslyClient, account: &ConnectedAccount) -> Answer {
    let v = ask(account, fansly.earnings(&account.session)).await?;
    let pending = v["pendingBalance"].as_i64().ok_or_else(|| {
        ApiError::BadGateway("Fansly answered the earnings call without pendingBalance".into())
    })?;
    Ok(json!({ "pendingBalance": pending }))
}

#[tracing::instrument(skip_all, fields(op = "earnings.payouts", account = %account.id))]
pub async fn payouts(fansly: &FanslyClient, account: &ConnectedAccount, page: &Page) -> Answer {
    let v = ask(account, fansly.payout_requests(&account.session, page)).await?;
    rows(&v, Some("data"), "the payout list")?;
    Ok(v)
}

#[tracing::instrument(skip_all, fields(op = "earnings.stats", account = %account.id))]
pub async fn stats(fansly: &FanslyClient, account: &ConnectedAccount, window: Window) -> Answer {
    crate::fansly::earnings_window::stats(fansly, account, window).await
}

#[tracing::instrument(skip_all, fields(op = "earnings.monthly", account = %account.id))]
pub async fn monthly(fansly: &FanslyClient, account: &ConnectedAccount, window: Window) -> Answer {
    ask(account, fansly.monthly_earnings(&account.session, window)).await
}

/// Top supporters: Fansly's per-fan totals for the window, ranked by gross
/// (ties by account id), one page of them, with each fan's profile basics.
#[tracing::instrument(skip_all, fields(op = "earnings.top_supporters", account = %account.id))]
pub async fn top_supporters(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    window: Window,
    page: &Page,
) -> Answer {
    let v = crate::fansly::earnings_window::by_fan(fansly, account, window).await?;
    let mut fans: Vec<(String, i64, i64)> = rows(&v, None, "the per-fan earnings")?
        .iter()
        .filter_map(|r| {
            Some((
                r["correlationAccountId"].as_str()?.to_owned(),
                r["totalGross"].as_i64()?,
                r["totalNet"].as_i64()?,
            ))
        })
        .collect();
    fans.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let start = (page.offset as usize).min(fans.len());
    let slice = &fans[start..(start + page.limit as usize).min(fans.len())];
    // One Fansly lookup serves at most 100 ids; a page is at most 100 rows,
    // and a row past them is the caller's look past the page (its count is
    // all that is used), so it goes without a profile.
    let ids: Vec<String> = slice.iter().take(100).map(|f| f.0.clone()).collect();
    let profiles = if ids.is_empty() {
        Vec::new()
    } else {
        let found = ask(account, fansly.accounts_by_ids(&account.session, &ids)).await?;
        rows(&found, None, "the account lookup")?.to_vec()
    };
    let data: Vec<Value> = slice
        .iter()
        .enumerate()
        .map(|(i, (id, gross, net))| {
            let p = profiles.iter().find(|p| p["id"].as_str() == Some(id));
            json!({
                "rank": start + i + 1,
                "accountId": id,
                "username": p.map_or(Value::Null, |p| p["username"].clone()),
                "displayName": p.map_or(Value::Null, |p| p["displayName"].clone()),
                "totalGross": gross,
                "totalNet": net
            })
        })
        .collect();
    Ok(Value::Array(data))
}

/// One fan's ledger rows inside `window`, walking Fansly's cursor.
async fn fan_rows(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    fan_id: &str,
    window: Window,
) -> Result<Vec<Value>, ApiError> {
    require_users(fansly, account, &[fan_id.to_owned()]).await?;
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_FAN_PAGES {
        let v = ask(
            account,
            fansly.fan_transactions(&account.session, fan_id, window, cursor.as_deref(), 100),
        )
        .await?;
        out.extend(
            rows(&v, Some("data"), "the fan's transactions")?
                .iter()
                .cloned(),
        );
        cursor = v["nextCursor"].as_str().map(str::to_owned);
        if v["hasMore"] != json!(true) || cursor.is_none() {
            return Ok(out);
        }
    }
    Err(ApiError::BadGateway(format!(
        "Fansly kept paging the transactions of fan {fan_id} beyond {MAX_FAN_PAGES} pages"
    )))
}

#[derive(Default)]
struct Sum {
    count: u64,
    gross: i64,
    net: i64,
}

impl Sum {
    fn add(&mut self, row: &Value) {
        let gross = row["amount"].as_i64().unwrap_or(0);
        self.count += 1;
        self.gross += gross;
        self.net += gross - row["destinationTax"].as_i64().unwrap_or(0);
    }
}

/// What one fan spent in the window, in all and per transaction type.
#[tracing::instrument(skip_all, fields(op = "earnings.supporter_breakdown", account = %account.id))]
pub async fn supporter_breakdown(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    fan_id: &str,
    window: Window,
) -> Answer {
    let rows = fan_rows(fansly, account, fan_id, window).await?;
    let mut all = Sum::default();
    let mut by_type: BTreeMap<i64, Sum> = BTreeMap::new();
    for r in &rows {
        all.add(r);
        by_type
            .entry(r["type"].as_i64().unwrap_or(0))
            .or_default()
            .add(r);
    }
    Ok(json!({
        "accountId": fan_id,
        "after": window.after_ms,
        "before": window.before_ms,
        "count": all.count,
        "totalGross": all.gross,
        "totalNet": all.net,
        "types": by_type.into_iter().map(|(kind, s)| json!({
            "type": kind,
            "count": s.count,
            "totalGross": s.gross,
            "totalNet": s.net
        })).collect::<Vec<_>>()
    }))
}

/// What one fan spent per UTC calendar month (1-based `month`), newest first,
/// months without spending left out.
#[tracing::instrument(skip_all, fields(op = "earnings.supporter_monthly", account = %account.id))]
pub async fn supporter_monthly(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    fan_id: &str,
    window: Window,
) -> Answer {
    let rows = fan_rows(fansly, account, fan_id, window).await?;
    let mut months: BTreeMap<(i32, u8), Sum> = BTreeMap::new();
    for r in &rows {
        let at = utc(r["createdAt"].as_i64().unwrap_or(0));
        months
            .entry((at.year(), u8::from(at.month())))
            .or_default()
            .add(r);
    }
    Ok(months
        .into_iter()
        .rev()
        .map(|((year, month), s)| {
            json!({
                "year": year,
                "month": month,
                "count": s.count,
                "totalGross": s.gross,
                "totalNet": s.net
            })
        })
        .collect())
}

/// Unix ms → the UTC instant.
fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
