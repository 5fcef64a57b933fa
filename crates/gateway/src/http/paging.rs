//! [`NextPage`]: `_pagination.next_page`, the absolute URL of the following
//! page, for offset paging (`offset=`) and cursor paging (`before=`); and
//! [`Lookahead`], how an offset page is fetched so its last page is known.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use fansly_upstream::Page;
use serde_json::Value;

use crate::http::state::AppState;

/// The URL of the page after this one: the request's own path and query (or
/// a query built with [`NextPage::only`]), with the paging parameter set.
#[derive(Clone, Debug)]
pub struct NextPage {
    base: String,
    path: String,
    query: Vec<(String, String)>,
}

impl FromRequestParts<AppState> for NextPage {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default();
        Ok(NextPage {
            base: state.public_url.clone(),
            path: parts.uri.path().to_owned(),
            query: url::form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        })
    }
}

impl NextPage {
    /// `path` on this gateway with an empty query.
    pub fn at(state: &AppState, path: impl Into<String>) -> NextPage {
        NextPage {
            base: state.public_url.clone(),
            path: path.into(),
            query: Vec::new(),
        }
    }

    /// The same path with the query replaced by `pairs` (absent values left out).
    pub fn only<V: ToString>(mut self, pairs: &[(&str, Option<V>)]) -> NextPage {
        self.query = pairs
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| ((*k).to_owned(), v.to_string())))
            .collect();
        self
    }

    /// Offset paging: the page after `page`, of which `returned` rows came
    /// back, when the caller knows `more` rows remain (see [`Lookahead`]).
    pub fn after(self, page: &Page, returned: usize, more: bool) -> Option<String> {
        let next = page.offset.saturating_add(returned as u32);
        (more && returned > 0).then(|| self.set("offset", next.to_string()))
    }

    /// Offset paging of rows the gateway keeps, fetched one more than
    /// `page` asks so an exactly full last page ends the paging: the extra
    /// row is cut off and says whether a next page exists.
    pub fn after_extra_row<T>(self, page: &Page, rows: &mut Vec<T>) -> Option<String> {
        let more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        self.after(page, rows.len(), more)
    }

    /// Cursor paging: `name` (`before`) set to `cursor` when there is one.
    pub fn cursor(self, name: &str, cursor: Option<String>) -> Option<String> {
        cursor.map(|c| self.set(name, c))
    }

    /// The URL with `name` moved to the end of the query and set to `value`.
    fn set(mut self, name: &str, value: String) -> String {
        self.query.retain(|(k, _)| k != name);
        self.query.push((name.to_owned(), value));
        self.url()
    }

    /// The absolute URL.
    pub fn url(&self) -> String {
        let mut url = format!("{}{}", self.base, self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        }
        url
    }
}

/// The next offset, or `None` on the last page: the page came back full, or
/// (when the source says how many there are) items remain.
pub fn next_offset(page: &Page, returned: usize, total: Option<u64>) -> Option<u32> {
    let next = page.offset.saturating_add(returned as u32);
    let more = match total {
        Some(total) => u64::from(next) < total,
        None => returned >= page.limit as usize,
    };
    (more && returned > 0).then_some(next)
}

/// Largest page Fansly serves on its offset lists (`limit` is capped there).
pub const FANSLY_MAX_PAGE: u32 = 100;

/// How one offset page is fetched so that an exactly full last page is known
/// to be the last: one row more than asked, or, where the source cannot serve
/// that many (`cap`), the page itself and then a small probe past its end.
#[derive(Clone, Debug)]
pub struct Lookahead {
    pub asked: Page,
    /// The page to fetch: `asked` with one more row when the cap allows it.
    pub fetch: Page,
}

impl Lookahead {
    /// `cap`: the largest `limit` the source serves (`None`: no cap, as for
    /// lists the gateway cuts from a longer answer itself).
    pub fn new(asked: &Page, cap: Option<u32>) -> Lookahead {
        let limit = asked.limit.saturating_add(1);
        Lookahead {
            asked: asked.clone(),
            fetch: Page {
                limit: cap.map_or(limit, |cap| limit.min(cap.max(asked.limit))),
                offset: asked.offset,
            },
        }
    }

    /// After `got` rows came back for [`Self::fetch`]: whether only a probe
    /// past the page can tell if more exist (a full page at the cap).
    pub fn needs_probe(&self, got: usize) -> bool {
        self.fetch.limit == self.asked.limit && got >= self.asked.limit as usize
    }

    /// The probe: the rows just past the asked page (two, as Fansly may
    /// answer a one-row page with nothing; spec §6.4).
    pub fn probe(&self) -> Page {
        Page {
            limit: 2,
            offset: self.asked.offset.saturating_add(self.asked.limit),
        }
    }

    /// Whether rows remain after the asked page, given `got` rows for
    /// [`Self::fetch`] and, when probed, `probed` rows past it.
    pub fn more(&self, got: usize, probed: Option<usize>) -> bool {
        got > self.asked.limit as usize || probed.is_some_and(|n| n > 0)
    }
}

/// Cuts the list at `key` of `data` (or `data` itself) to `limit` rows.
pub fn truncate(data: &mut Value, key: Option<&str>, limit: u32) {
    let list = match key {
        Some(k) => data.get_mut(k),
        None => Some(data),
    };
    if let Some(Value::Array(rows)) = list {
        rows.truncate(limit as usize);
    }
}

/// The length of the list at `key` of `data` (or of `data` itself).
pub fn count(data: &Value, key: Option<&str>) -> usize {
    key.map_or(Some(data), |k| data.get(k))
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(query: &[(&str, &str)]) -> NextPage {
        NextPage {
            base: "http://gw".into(),
            path: "/p".into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn next_offset_stops_on_short_or_exhausted_pages() {
        let page = Page {
            limit: 10,
            offset: 20,
        };
        assert_eq!(next_offset(&page, 10, None), Some(30));
        assert_eq!(next_offset(&page, 3, None), None);
        assert_eq!(next_offset(&page, 10, Some(30)), None);
        assert_eq!(next_offset(&page, 10, Some(31)), Some(30));
    }

    #[test]
    fn lookahead_asks_one_more_below_the_cap_and_probes_at_it() {
        let asked = Page {
            limit: 20,
            offset: 40,
        };
        let look = Lookahead::new(&asked, Some(FANSLY_MAX_PAGE));
        assert_eq!(look.fetch.limit, 21);
        assert!(!look.needs_probe(21));
        assert!(look.more(21, None));
        assert!(!look.more(20, None), "exactly full last page");
        let at_cap = Page {
            limit: 100,
            offset: 0,
        };
        let look = Lookahead::new(&at_cap, Some(FANSLY_MAX_PAGE));
        assert_eq!(look.fetch.limit, 100);
        assert!(look.needs_probe(100));
        assert!(!look.needs_probe(99));
        assert_eq!(look.probe().offset, 100);
        assert!(!look.more(100, Some(0)));
        assert!(look.more(100, Some(1)));
        assert_eq!(Lookahead::new(&at_cap, None).fetch.limit, 101);
    }

    #[test]
    fn offset_and_cursor_replace_their_parameter() {
        let page = Page {
            limit: 2,
            offset: 0,
        };
        let next = at(&[("offset", "0"), ("limit", "2"), ("q", "a b")]).after(&page, 2, true);
        assert_eq!(next.as_deref(), Some("http://gw/p?limit=2&q=a+b&offset=2"));
        assert_eq!(at(&[]).after(&page, 2, false), None);
        let next = at(&[("before", "5"), ("limit", "2")]).cursor("before", Some("3".into()));
        assert_eq!(next.as_deref(), Some("http://gw/p?limit=2&before=3"));
        assert_eq!(at(&[]).cursor("before", None), None);
    }
}
