//! Offset paging ends exactly: a last page that is exactly full advertises
//! no `next_page` (below Fansly's page cap the gateway asks for one row more;
//! at the cap it probes past the page), and a full page that is not the last
//! still does. Checked on every offset list over the sandbox's business.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_hooked_app, TestApp};

/// Where each list keeps its rows in `data` (`None`: `data` is the array).
const LISTS: &[(&str, Option<&str>)] = &[
    ("following", None),
    ("followers", Some("followers")),
    // A search narrows the list, so Fansly's stats give no total.
    ("subscribers?status=all&search=fan", Some("subscriptions")),
    ("subscribers?status=all", Some("subscriptions")),
    ("top-supporters", None),
    ("earnings/transactions", Some("data")),
    ("chats", Some("data")),
];

fn rows(body: &Value, at: Option<&str>) -> usize {
    at.map_or(&body["data"], |k| &body["data"][k])
        .as_array()
        .unwrap_or_else(|| panic!("no rows in {body}"))
        .len()
}

fn with(path: &str, query: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{query}")
}

async fn page(app: &TestApp, path: &str, at: Option<&str>) -> (usize, Option<String>) {
    let body = app.get_ok(path).await;
    let next = body["_pagination"]["next_page"].as_str().map(str::to_owned);
    (rows(&body, at), next)
}

#[tokio::test]
async fn an_exactly_full_last_page_ends_every_offset_list() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    for n in 1..=5 {
        let fan = app.fan_id(n).await;
        assert_eq!(app.create_chat(&fan).await.status(), 200);
    }
    for &(list, at) in LISTS {
        let base = format!("/api/fansly/{acct}/{list}");
        let total: usize = app
            .all_pages(&with(&base, "limit=7"), 200)
            .await
            .iter()
            .map(|p| rows(p, at))
            .sum();
        assert!(
            total >= 3,
            "{list}: the sandbox seeds more than {total} rows"
        );

        // The last page exactly full, below the cap.
        let k = total.min(40);
        let (n, next) = page(
            &app,
            &with(&base, &format!("limit={k}&offset={}", total - k)),
            at,
        )
        .await;
        assert_eq!(
            (n, next.as_deref()),
            (k, None),
            "{list}: limit {k} at {}",
            total - k
        );
        // A full page with rows after it still points at them.
        let (n, next) = page(&app, &with(&base, &format!("limit={}&offset=0", k - 1)), at).await;
        assert_eq!(n, k - 1, "{list}");
        let next = next.unwrap_or_else(|| panic!("{list}: rows remain after {n}"));
        assert!(next.contains(&format!("offset={}", k - 1)), "{next}");
        // At Fansly's cap (100) the page cannot ask for one more.
        if total >= 100 {
            let q = format!("limit=100&offset={}", total - 100);
            let (n, next) = page(&app, &with(&base, &q), at).await;
            assert_eq!((n, next.as_deref()), (100, None), "{list} at the cap");
            let q = format!("limit=100&offset={}", total - 101);
            let (_, next) = page(&app, &with(&base, &q), at).await;
            assert!(next.is_some(), "{list}: one row remains after the cap page");
        }
    }
}

#[tokio::test]
async fn webhook_deliveries_end_on_an_exactly_full_page() {
    // The receiver stays up so the test sends are delivered.
    let (app, _receiver, id) = spawn_hooked_app().await;
    for _ in 0..4 {
        let resp = app
            .send(Method::POST, &format!("/api/webhooks/{id}/test"), None)
            .await;
        assert_eq!(resp.status(), 200);
    }
    let path = format!("/api/webhooks/{id}/deliveries");
    let all = page(&app, &with(&path, "limit=100"), None).await.0;
    assert!(all >= 4, "{all} deliveries");
    let (n, next) = page(
        &app,
        &with(&path, &format!("limit=2&offset={}", all - 2)),
        None,
    )
    .await;
    assert_eq!((n, next), (2, None));
    let (_, next) = page(
        &app,
        &with(&path, &format!("limit=2&offset={}", all - 3)),
        None,
    )
    .await;
    assert!(next.is_some());
}
