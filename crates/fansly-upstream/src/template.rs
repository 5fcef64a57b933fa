//! Route templates: a request path with its ids replaced (what traces,
//! metrics, the drift guard and the request budgets key on), and which
//! budget bucket a request spends from.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

/// A request path as traces show it: every segment that holds a digit
/// (Fansly's ids, percent-encoded caller input), except an API version like
/// `v1`, becomes `{id}`. A `Display`, so it is only written out where a
/// string is wanted (the client's calls share one per route, [`intern`]).
pub struct RouteTemplate<'a>(pub &'a str);

impl std::fmt::Display for RouteTemplate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.0.split(['?', '#']).next().unwrap_or_default();
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            let version = segment
                .strip_prefix('v')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !version && segment.bytes().any(|b| b.is_ascii_digit()) {
                f.write_str("{id}")?;
            } else {
                f.write_str(segment)?;
            }
        }
        Ok(())
    }
}

/// A route template kept for the life of the process ([`intern`]): its
/// text and its request metrics.
pub(crate) struct Template {
    text: Box<str>,
    pub(crate) metrics: crate::observe::RouteMetrics,
}

impl Template {
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The bucket a request of `method` on this route spends from
    /// ([`budget_bucket`], without building the template again).
    pub(crate) fn bucket(&self, method: &str) -> Option<&str> {
        bucket_of(method, &self.text)
    }
}

/// How many distinct templates are kept. Fansly's client uses a few dozen
/// routes; a path segment of caller input without a digit stays in its
/// template, so the set is not closed, and past this bound a template is
/// made per call and not kept.
const KEPT_TEMPLATES: usize = 1024;

/// The template of `path`, shared: each call of the client needs it for its
/// trace, metrics, drift records and budget bucket, and building it (a
/// `String` grown by formatting, twice with the bucket's) then its metrics'
/// keys was ~14 of a users lookup's ~175 allocations (BENCHMARKS.md,
/// sixteenth round). Written into this thread's buffer and looked up; a
/// new one is allocated once.
pub(crate) fn intern(path: &str) -> Arc<Template> {
    static KEPT: LazyLock<RwLock<HashMap<Box<str>, Arc<Template>>>> =
        LazyLock::new(Default::default);
    thread_local! {
        static TEXT: RefCell<String> = const { RefCell::new(String::new()) };
    }
    TEXT.with_borrow_mut(|text| {
        text.clear();
        let _ = write!(text, "{}", RouteTemplate(path));
        let kept = KEPT.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(template) = kept.get(text.as_str()) {
            return template.clone();
        }
        drop(kept);
        let made = Arc::new(Template {
            text: text.as_str().into(),
            metrics: Default::default(),
        });
        let mut kept = KEPT.write().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= KEPT_TEMPLATES {
            return made;
        }
        kept.entry(text.as_str().into()).or_insert(made).clone()
    })
}

/// The chat reads share one bucket on Fansly's side: HUB's production data
/// shows `/messaging/groups`, `/group/{id}` and `GET /message` limited
/// together (~20/min, burst ~10; spec §3.3, INFERRED from that data).
pub const CHAT_BUCKET: &str = "chat";

/// The per-route budget bucket a request spends from, or `None` when it
/// spends only from the account-wide budget. Only reads have per-route
/// buckets: the evidence (HUB's long-running read traffic, scrapers pacing
/// 2–5 s) is about reads, and no public client shows a per-route write limit.
pub fn budget_bucket(method: &str, path: &str) -> Option<String> {
    bucket_of(method, &RouteTemplate(path).to_string()).map(str::to_owned)
}

/// [`budget_bucket`]'s rule, given the route's template: the template
/// itself, [`CHAT_BUCKET`] for the chat reads, `None` for writes.
fn bucket_of<'t>(method: &str, template: &'t str) -> Option<&'t str> {
    if !method.eq_ignore_ascii_case("GET") {
        return None;
    }
    let chat = matches!(
        template,
        "/api/v1/messaging/groups" | "/api/v1/group/{id}" | "/api/v1/message"
    );
    Some(if chat { CHAT_BUCKET } else { template })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traced_routes_carry_no_ids_or_queries() {
        for (path, shown) in [
            ("/api/v1/account/me", "/api/v1/account/me"),
            ("/api/v1/group/720167541418237953", "/api/v1/group/{id}"),
            (
                "/api/v1/account/720167541418237953/followersnew",
                "/api/v1/account/{id}/followersnew",
            ),
            ("/api/v1/post/12/stats", "/api/v1/post/{id}/stats"),
            ("/api/v1/media/upload/u-9f3a", "/api/v1/media/upload/{id}"),
            ("/api/v1/group/a%2Fb", "/api/v1/group/{id}"),
            ("/api/v1/account?ids=1,2&token=x", "/api/v1/account"),
            ("/", "/"),
        ] {
            assert_eq!(RouteTemplate(path).to_string(), shown, "{path}");
        }
    }

    #[test]
    fn a_route_is_interned_once_with_the_same_bucket_rule() {
        let one = intern("/api/v1/group/7201675414182379");
        let other = intern("/api/v1/group/42?ngsw-bypass=true");
        assert!(Arc::ptr_eq(&one, &other), "one template per route");
        assert_eq!(one.as_str(), "/api/v1/group/{id}");
        for (method, path) in [
            ("GET", "/api/v1/group/7201675414182379"),
            ("GET", "/api/v1/account/12/followersnew"),
            ("POST", "/api/v1/message"),
        ] {
            assert_eq!(
                intern(path).bucket(method),
                budget_bucket(method, path).as_deref(),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn chat_reads_share_a_bucket_and_writes_have_none() {
        assert_eq!(
            budget_bucket("GET", "/api/v1/group/7201675414182379"),
            Some(CHAT_BUCKET.into())
        );
        assert_eq!(
            budget_bucket("GET", "/api/v1/messaging/groups"),
            budget_bucket("GET", "/api/v1/message")
        );
        assert_eq!(
            budget_bucket("GET", "/api/v1/account/12/followersnew"),
            Some("/api/v1/account/{id}/followersnew".into())
        );
        assert_eq!(budget_bucket("POST", "/api/v1/message"), None);
    }
}
