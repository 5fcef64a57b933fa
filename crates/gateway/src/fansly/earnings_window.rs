//! Whole earnings windows out of Fansly's capped pages: `/earnings/stats`
//! and `/earnings/accounts` answer at most 100 rows and ignore `offset`, so
//! a window whose answer comes back full is asked again day by day (a full
//! day in halves, down to a minute; a window over a month first in halves),
//! the way agency tools do (issue 13 row 7), and the pieces are merged: per-fan totals summed by fan, per-type
//! stats summed by type.

use std::collections::BTreeMap;

use fansly_upstream::{FanslyClient, Window, EARNINGS_PAGE};
use serde_json::{json, Value};

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::fansly::answers::{ask, rows, Answer};

const DAY_MS: i64 = 86_400_000;
/// A window this short is not split further, full or not.
const MIN_SPLIT_MS: i64 = 60_000;
/// Bounds the Fansly calls one window may cost (a year split by day, plus
/// some halving).
const MAX_PIECES: usize = 400;

/// Above this span a full window is halved (at a UTC midnight) rather than
/// cut into days, so a years-long window costs calls in proportion to its
/// rows, not to its days.
const DAY_SPLIT_MAX_MS: i64 = 31 * DAY_MS;

/// The pieces a full window is asked again in: two halves meeting at a UTC
/// midnight for a window over a month, whole UTC days (the first and last
/// cut at the window's ends) up to a month, two halves within a day. Bounds
/// are inclusive on Fansly's side, so pieces do not share a millisecond.
pub fn split(w: Window) -> Vec<Window> {
    if w.before_ms - w.after_ms < MIN_SPLIT_MS * 2 {
        return vec![w];
    }
    if w.before_ms - w.after_ms > DAY_SPLIT_MAX_MS {
        let mid = w.after_ms + (w.before_ms - w.after_ms) / 2;
        let mid = mid.div_euclid(DAY_MS) * DAY_MS;
        return vec![
            Window {
                after_ms: w.after_ms,
                before_ms: mid - 1,
            },
            Window {
                after_ms: mid,
                before_ms: w.before_ms,
            },
        ];
    }
    let first_midnight = (w.after_ms.div_euclid(DAY_MS) + 1) * DAY_MS;
    if first_midnight > w.before_ms {
        let mid = w.after_ms + (w.before_ms - w.after_ms) / 2;
        return vec![
            Window {
                after_ms: w.after_ms,
                before_ms: mid,
            },
            Window {
                after_ms: mid + 1,
                before_ms: w.before_ms,
            },
        ];
    }
    let mut out = Vec::new();
    let mut start = w.after_ms;
    let mut cut = first_midnight;
    while cut <= w.before_ms {
        out.push(Window {
            after_ms: start,
            before_ms: cut - 1,
        });
        start = cut;
        cut += DAY_MS;
    }
    out.push(Window {
        after_ms: start,
        before_ms: w.before_ms,
    });
    out
}

/// Every answer of `window`, each from a page that was not full (or from a
/// piece too short to split). `fetch` asks Fansly for one piece; `count`
/// says how many rows its answer holds.
async fn whole<F, Fut>(
    window: Window,
    count: fn(&Value) -> Result<usize, ApiError>,
    fetch: F,
) -> Result<Vec<Value>, ApiError>
where
    F: Fn(Window) -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let mut todo = vec![window];
    let mut done = Vec::new();
    let mut asked = 0;
    while let Some(w) = todo.pop() {
        asked += 1;
        if asked > MAX_PIECES {
            return Err(ApiError::BadGateway(format!(
                "Fansly's earnings pages stayed full after {MAX_PIECES} smaller windows; ask for a shorter window"
            )));
        }
        let answer = fetch(w).await?;
        let pieces = if count(&answer)? >= EARNINGS_PAGE {
            split(w)
        } else {
            vec![w]
        };
        if pieces.len() > 1 {
            tracing::debug!(
                after = w.after_ms,
                before = w.before_ms,
                pieces = pieces.len(),
                "earnings page full: asking again in smaller windows"
            );
            // Popped in time order.
            todo.extend(pieces.into_iter().rev());
        } else {
            done.push(answer);
        }
    }
    Ok(done)
}

/// `/earnings/accounts` over the whole window: one row per fan, totals
/// summed over the pieces, in fan-id order.
pub async fn by_fan(fansly: &FanslyClient, account: &ConnectedAccount, window: Window) -> Answer {
    let pages = whole(
        window,
        |v| Ok(rows(v, None, "the per-fan earnings")?.len()),
        |w| async move { ask(account, fansly.earnings_by_fan(&account.session, w)).await },
    )
    .await?;
    let mut merged: BTreeMap<String, Value> = BTreeMap::new();
    for page in &pages {
        for row in rows(page, None, "the per-fan earnings")? {
            let Some(fan) = row["correlationAccountId"].as_str() else {
                continue;
            };
            match merged.get_mut(fan) {
                None => {
                    merged.insert(fan.to_owned(), row.clone());
                }
                Some(seen) => add_sums(seen, row, &["totalGross", "totalNet"]),
            }
        }
    }
    Ok(Value::Array(merged.into_values().collect()))
}

/// `/earnings/stats` over the whole window: the totals summed, the per-type
/// rows summed by `type`; `after`/`before` those of the whole window.
pub async fn stats(fansly: &FanslyClient, account: &ConnectedAccount, window: Window) -> Answer {
    let pages = whole(
        window,
        |v| Ok(rows(v, Some("stats"), "the earnings stats")?.len()),
        |w| async move { ask(account, fansly.earnings_stats(&account.session, w)).await },
    )
    .await?;
    let mut pages = pages.into_iter();
    let Some(mut out) = pages.next() else {
        return Ok(json!({}));
    };
    if pages.len() == 0 {
        return Ok(out);
    }
    let mut by_type: BTreeMap<i64, Value> = BTreeMap::new();
    let keys = ["count", "totalGross", "totalNet"];
    for row in rows(&out, Some("stats"), "the earnings stats")? {
        by_type.insert(row["type"].as_i64().unwrap_or_default(), row.clone());
    }
    for page in pages {
        add_sums(&mut out, &page, &keys);
        if let Some(before) = page.get("before") {
            out["before"] = before.clone();
        }
        for row in rows(&page, Some("stats"), "the earnings stats")? {
            match by_type.entry(row["type"].as_i64().unwrap_or_default()) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(row.clone());
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    add_sums(e.get_mut(), row, &keys)
                }
            }
        }
    }
    out["stats"] = Value::Array(by_type.into_values().collect());
    Ok(out)
}

/// `into[k] += from[k]` for each integer field `k` present in both.
fn add_sums(into: &mut Value, from: &Value, keys: &[&str]) {
    for k in keys {
        if let (Some(a), Some(b)) = (into[*k].as_i64(), from[*k].as_i64()) {
            into[*k] = json!(a + b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_by_utc_day_without_shared_milliseconds() {
        let w = Window {
            after_ms: DAY_MS * 10 + 5_000,
            before_ms: DAY_MS * 12 + 7_000,
        };
        let parts = split(w);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].after_ms, w.after_ms);
        assert_eq!(parts[0].before_ms, DAY_MS * 11 - 1);
        assert_eq!(parts[1].after_ms, DAY_MS * 11);
        assert_eq!(parts[2].before_ms, w.before_ms);
        for pair in parts.windows(2) {
            assert_eq!(pair[0].before_ms + 1, pair[1].after_ms);
        }
    }

    #[test]
    fn halves_long_windows_at_a_midnight() {
        let w = Window {
            after_ms: 0,
            before_ms: DAY_MS * 9_000 + 5,
        };
        let parts = split(w);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].after_ms % DAY_MS, 0);
        assert_eq!(parts[0].before_ms + 1, parts[1].after_ms);
        assert_eq!(parts[1].before_ms, w.before_ms);
    }

    #[test]
    fn halves_within_a_day_and_stops_at_a_minute() {
        let w = Window {
            after_ms: DAY_MS * 10,
            before_ms: DAY_MS * 10 + 3_600_000,
        };
        let parts = split(w);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].before_ms + 1, parts[1].after_ms);
        let tiny = Window {
            after_ms: 0,
            before_ms: MIN_SPLIT_MS,
        };
        assert_eq!(split(tiny).len(), 1);
    }
}
