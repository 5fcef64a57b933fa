//! [`NextPage`]: `_pagination.next_page`, the absolute URL of the following
//! page, for offset paging (`offset=`) and cursor paging (`before=`).

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

    /// Offset paging: a next page exists when this one came back full, or
    /// (when Fansly says how many there are) when items remain; `returned`
    /// items came back for `page`.
    pub fn offset(self, page: &Page, returned: usize, total: Option<u64>) -> Option<String> {
        let next = next_offset(page, returned, total)?;
        Some(self.set("offset", next.to_string()))
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

/// The next offset, or `None` on the last page (see [`NextPage::offset`]).
pub fn next_offset(page: &Page, returned: usize, total: Option<u64>) -> Option<u32> {
    let next = page.offset.saturating_add(returned as u32);
    let more = match total {
        Some(total) => u64::from(next) < total,
        None => returned >= page.limit as usize,
    };
    (more && returned > 0).then_some(next)
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
    fn offset_and_cursor_replace_their_parameter() {
        let page = Page {
            limit: 2,
            offset: 0,
        };
        let next = at(&[("offset", "0"), ("limit", "2"), ("q", "a b")]).offset(&page, 2, None);
        assert_eq!(next.as_deref(), Some("http://gw/p?limit=2&q=a+b&offset=2"));
        let next = at(&[("before", "5"), ("limit", "2")]).cursor("before", Some("3".into()));
        assert_eq!(next.as_deref(), Some("http://gw/p?limit=2&before=3"));
        assert_eq!(at(&[]).cursor("before", None), None);
    }
}
