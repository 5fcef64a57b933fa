//! `/earnings/...` and `/top-supporters/...`. Windows are `after`/`before`
//! in ISO 8601, sent to Fansly as Unix ms.

use axum::extract::Path;
use fansly_upstream::Window;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::core::ids::FanslyId;
use crate::core::time::now_ms;
use crate::fansly::earnings;
use crate::http::envelope::Metered;
use crate::http::paging::NextPage;
use crate::http::params::{days_before, start_of_year, Params};
use crate::http::routes::declare::endpoint;
use crate::http::scope::{AccountScope, Rows};
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_wallets))
        .routes(routes!(list_transactions))
        .routes(routes!(pending_earnings))
        .routes(routes!(list_payouts))
        .routes(routes!(earnings_stats))
        .routes(routes!(monthly_earnings))
        .routes(routes!(list_top_supporters))
        .routes(routes!(supporter_breakdown))
        .routes(routes!(supporter_monthly))
}

/// Default window of the top-supporter views and the stats: the last 30 days.
const RECENT_DAYS: i64 = 30;

endpoint! {
    /// List Wallets: Fansly's wallets (type 2 = earnings, "available for payout").
    get "/api/fansly/{fanslyAccount}/earnings/wallets" "listWallets",
    responses((status = 200, description = "`data` is Fansly's array of wallets", body = Object)),
    fn list_wallets => prices::EARNINGS_WALLETS, earnings::wallets
}

endpoint! {
    /// List Wallet Transactions: the ledger newest first with `total`.
    get "/api/fansly/{fanslyAccount}/earnings/transactions" "listWalletTransactions",
    responses((status = 200, description = "`{total, data: [transaction]}`", body = Object)),
    fn list_transactions(page(10, 100), Rows::of(Some("data"), Some("/total"))) => prices::EARNINGS_TRANSACTIONS, earnings::transactions
}

endpoint! {
    /// Get Pending Earnings: what is still in Fansly's 7-day hold.
    get "/api/fansly/{fanslyAccount}/earnings/pending" "getPendingEarnings",
    responses((status = 200, description = "`{pendingBalance}` in thousandths of a dollar", body = Object)),
    fn pending_earnings => prices::EARNINGS_PENDING, earnings::pending
}

endpoint! {
    /// List Payout Requests: newest first, Fansly's `{data, total}`.
    get "/api/fansly/{fanslyAccount}/earnings/payouts" "listPayoutRequests",
    responses((status = 200, description = "`data` is Fansly's payout page", body = Object)),
    fn list_payouts(page(10, 100), Rows::of(Some("data"), Some("/total"))) => prices::EARNINGS_PAYOUTS, earnings::payouts
}

endpoint! {
    /// Get Earnings Stats: totals per transaction type over a window (default:
    /// the last 30 days).
    get "/api/fansly/{fanslyAccount}/earnings/stats" "getEarningsStats",
    params(
        ("after" = Option<String>, Query, description = "ISO 8601; default 30 days before `before`"),
        ("before" = Option<String>, Query, description = "ISO 8601; default now"),
    ),
    responses((status = 200, description = "`data` is Fansly's stats answer", body = Object)),
    fn earnings_stats(scope: AccountScope, params: Params) {
        let window = params.window(days_before(RECENT_DAYS), now_ms())?;
        scope
            .call(prices::EARNINGS_STATS, |f, a| async move {
                earnings::stats(&f, &a, window).await
            })
            .await
    }
}

endpoint! {
    /// List Monthly Earnings: a rolling 30-day summary, then gross and net per month.
    get "/api/fansly/{fanslyAccount}/earnings/monthly" "listMonthlyEarnings",
    params(
        ("before" = Option<String>, Query, description = "ISO 8601; default now"),
        ("after" = Option<String>, Query, description = "ISO 8601; default start of the current year"),
    ),
    responses((status = 200, description = "Fansly's monthly statements", body = Object)),
    fn monthly_earnings(scope: AccountScope, params: Params) {
        let now = now_ms();
        let window = params.window(|_| start_of_year(now), now)?;
        scope
            .call(prices::EARNINGS_MONTHLY, |f, a| async move {
                earnings::monthly(&f, &a, window).await
            })
            .await
    }
}

/// List Top Supporters: fans ranked by gross spend in the window (default:
/// the last 30 days), aggregated by the gateway from Fansly's per-fan totals.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/top-supporters",
    tag = "Top Supporters",
    operation_id = "listTopSupporters",
    params(
        ("after" = Option<String>, Query, description = "ISO 8601; default 30 days before `before`"),
        ("before" = Option<String>, Query, description = "ISO 8601; default now"),
        ("limit" = Option<String>, Query, description = "1 - 100, default 20"),
        ("offset" = Option<String>, Query, description = "Default 0"),
    ),
    responses((status = 200, description = "`[{rank, accountId, username, displayName, totalGross, totalNet}]`", body = Object)),
)]
async fn list_top_supporters(
    scope: AccountScope,
    next: NextPage,
    params: Params,
) -> Result<Metered, ApiError> {
    let window = params.window(days_before(RECENT_DAYS), now_ms())?;
    let page = params.page(20, 100)?;
    // The ranking is cut from Fansly's whole per-fan list by the gateway, so
    // the row past a full page comes from the same list (no second fan-out).
    let rows = Rows::cut(None);
    scope
        .call_paged(
            prices::TOP_SUPPORTERS_LIST,
            next,
            page,
            rows,
            move |f, a, p| async move { earnings::top_supporters(&f, &a, window, &p).await },
        )
        .await
}

endpoint! {
    /// Get Top Supporter Breakdown: one fan's spend per transaction type in the
    /// window (default: the last 30 days, as the ranking).
    get "/api/fansly/{fanslyAccount}/top-supporters/{account_id}" "getTopSupporterBreakdown",
    tag = "Top Supporters",
    params(
        ("account_id" = String, Path, description = "Fansly account ID of the fan"),
        ("after" = Option<String>, Query, description = "ISO 8601; default 30 days before `before`"),
        ("before" = Option<String>, Query, description = "ISO 8601; default now"),
    ),
    responses((status = 200, description = "`{accountId, after, before, count, totalGross, totalNet, types: [{type, count, totalGross, totalNet}]}`", body = Object)),
    fn supporter_breakdown(
        scope: AccountScope,
        Path((_account, fan)): Path<(String, String)>,
        params: Params,
    ) {
        let fan = FanslyId::parse("account_id", &fan)?;
        let window: Window = params.window(days_before(RECENT_DAYS), now_ms())?;
        scope
            .call(prices::TOP_SUPPORTERS_BREAKDOWN, |f, a| async move {
                earnings::supporter_breakdown(&f, &a, &fan, window).await
            })
            .await
    }
}

endpoint! {
    /// Get Top Supporter Monthly Earnings: one fan's spend per calendar month
    /// (default window: the current year).
    get "/api/fansly/{fanslyAccount}/top-supporters/{account_id}/monthly" "getTopSupporterMonthlyEarnings",
    tag = "Top Supporters",
    params(
        ("account_id" = String, Path, description = "Fansly account ID of the fan"),
        ("after" = Option<String>, Query, description = "ISO 8601; default start of the current year"),
        ("before" = Option<String>, Query, description = "ISO 8601; default now"),
    ),
    responses((status = 200, description = "`[{year, month, count, totalGross, totalNet}]`, newest first", body = Object)),
    fn supporter_monthly(
        scope: AccountScope,
        Path((_account, fan)): Path<(String, String)>,
        params: Params,
    ) {
        let fan = FanslyId::parse("account_id", &fan)?;
        let now = now_ms();
        let window = params.window(|_| start_of_year(now), now)?;
        scope
            .call(prices::TOP_SUPPORTERS_MONTHLY, |f, a| async move {
                earnings::supporter_monthly(&f, &a, &fan, window).await
            })
            .await
    }
}
