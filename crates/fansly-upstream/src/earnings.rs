//! Wallets, the earnings ledger, payouts, earnings statistics and tracking
//! links (spec §7). Windows are Unix milliseconds; 0 means unbounded.

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::FanslyClient;
use crate::error::UpstreamError;
use crate::fans::Page;
use crate::session::Session;

/// A time window in Unix ms, as Fansly's money routes take it.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub after_ms: i64,
    pub before_ms: i64,
}

impl Window {
    fn query(&self) -> [(&'static str, String); 2] {
        [
            ("before", self.before_ms.to_string()),
            ("after", self.after_ms.to_string()),
        ]
    }
}

fn pairs<'a>(q: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    q.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

impl FanslyClient {
    /// `GET /account/{id}/wallets` → type 1 (spending) and type 2 (earnings) wallets.
    pub async fn wallets(
        &self,
        session: &Session,
        account_id: &str,
    ) -> Result<Value, UpstreamError> {
        self.get(
            session,
            &format!("/api/v1/account/{account_id}/wallets"),
            &[],
        )
        .await
    }

    /// `GET /account/wallets/earnings` → `{pendingBalance, …}`.
    pub async fn earnings(&self, session: &Session) -> Result<Value, UpstreamError> {
        self.get(session, "/api/v1/account/wallets/earnings", &[])
            .await
    }

    /// `GET /account/wallets/earnings/transactions?limit=&offset=` →
    /// `{total, data, aggregationData}`. No `before`/`after`: the app sends
    /// none and adding them makes `total` disagree (spec §7).
    pub async fn earnings_transactions(
        &self,
        session: &Session,
        page: &Page,
    ) -> Result<Value, UpstreamError> {
        let (limit, offset) = (page.limit.to_string(), page.offset.to_string());
        self.get(
            session,
            "/api/v1/account/wallets/earnings/transactions",
            &[("limit", &limit), ("offset", &offset)],
        )
        .await
    }

    /// `GET /account/wallets/earnings/transactions/accounts` for one fan,
    /// cursor-paged → `{data, hasMore, nextCursor?}`.
    pub async fn fan_transactions(
        &self,
        session: &Session,
        fan_id: &str,
        window: Window,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Value, UpstreamError> {
        let mut q = vec![("correlationAccountId", fan_id.to_owned())];
        q.extend(window.query());
        q.push(("cursor", cursor.unwrap_or("0").to_owned()));
        q.push(("limit", limit.to_string()));
        self.get(
            session,
            "/api/v1/account/wallets/earnings/transactions/accounts",
            &pairs(&q),
        )
        .await
    }

    /// `GET /account/wallets/earnings/accounts?after=&before=` → per-fan
    /// `{totalGross, totalNet, accountId, correlationAccountId}`.
    pub async fn earnings_by_fan(
        &self,
        session: &Session,
        window: Window,
    ) -> Result<Value, UpstreamError> {
        let q = window.query();
        self.get(
            session,
            "/api/v1/account/wallets/earnings/accounts",
            &pairs(&q),
        )
        .await
    }

    /// `GET /account/wallets/earnings/stats?before=&after=` (response INFERRED).
    pub async fn earnings_stats(
        &self,
        session: &Session,
        window: Window,
    ) -> Result<Value, UpstreamError> {
        let q = window.query();
        self.get(
            session,
            "/api/v1/account/wallets/earnings/stats",
            &pairs(&q),
        )
        .await
    }

    /// `GET /account/wallets/earnings/monthlystats?before=&after=`.
    pub async fn monthly_earnings(
        &self,
        session: &Session,
        window: Window,
    ) -> Result<Value, UpstreamError> {
        let q = window.query();
        self.get(
            session,
            "/api/v1/account/wallets/earnings/monthlystats",
            &pairs(&q),
        )
        .await
    }

    /// `GET /payments/payout/requests?before=&after=&limit=&offset=` with the
    /// empty window the app sends → `{data, total}`.
    pub async fn payout_requests(
        &self,
        session: &Session,
        page: &Page,
    ) -> Result<Value, UpstreamError> {
        let (limit, offset) = (page.limit.to_string(), page.offset.to_string());
        self.get(
            session,
            "/api/v1/payments/payout/requests",
            &[
                ("before", ""),
                ("after", ""),
                ("limit", &limit),
                ("offset", &offset),
            ],
        )
        .await
    }

    /// `GET /trackinglinks` → a bare array of links with their counters.
    pub async fn tracking_links(&self, session: &Session) -> Result<Value, UpstreamError> {
        self.get(session, "/api/v1/trackinglinks", &[]).await
    }

    /// `GET /trackinglinks/stats?trackingLinkId=&before=&after=` → day rows.
    pub async fn tracking_link_stats(
        &self,
        session: &Session,
        link_id: &str,
        window: Window,
    ) -> Result<Value, UpstreamError> {
        let mut q = vec![("trackingLinkId", link_id.to_owned())];
        q.extend(window.query());
        self.get(session, "/api/v1/trackinglinks/stats", &pairs(&q))
            .await
    }

    /// `GET /it/amoie/stats?beforeDate=&afterDate=&period=` (legacy account
    /// statistics; ms) → `{dataset}`.
    pub async fn account_stats(
        &self,
        session: &Session,
        window: Window,
        period_ms: i64,
    ) -> Result<Value, UpstreamError> {
        let q = [
            ("beforeDate", window.before_ms.to_string()),
            ("afterDate", window.after_ms.to_string()),
            ("period", period_ms.to_string()),
        ];
        self.get(session, "/api/v1/it/amoie/stats", &pairs(&q))
            .await
    }

    /// `POST /trackinglinks/update {id, label?, description?}` (route
    /// INFERRED: no source shows how links are edited).
    pub async fn update_tracking_link(
        &self,
        session: &Session,
        link_id: &str,
        label: Option<&str>,
        description: Option<&str>,
    ) -> Result<Value, UpstreamError> {
        let mut body = json!({ "id": link_id });
        if let Some(label) = label {
            body["label"] = json!(label);
        }
        if let Some(description) = description {
            body["description"] = json!(description);
        }
        self.send_json(
            session,
            Method::POST,
            "/api/v1/trackinglinks/update",
            &[],
            Some(&body),
        )
        .await
    }

    /// `GET /account/stats/summary?after=&before=` (ms, UTC midnights; the
    /// new statistics API, response INFERRED).
    pub async fn stats_summary(
        &self,
        session: &Session,
        window: Window,
    ) -> Result<Value, UpstreamError> {
        let q = window.query();
        self.get(session, "/api/v1/account/stats/summary", &pairs(&q))
            .await
    }
}
