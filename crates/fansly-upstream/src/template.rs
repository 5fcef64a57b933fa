//! Route templates: a request path with its ids replaced (what traces,
//! metrics, the drift guard and the request budgets key on), and which
//! budget bucket a request spends from.

/// A request path as traces show it: every segment that holds a digit
/// (Fansly's ids, percent-encoded caller input), except an API version like
/// `v1`, becomes `{id}`. A `Display`, so it is only written out where a
/// string is wanted (a request formats it once; see `send_json_on`).
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

/// The chat reads share one bucket on Fansly's side: HUB's production data
/// shows `/messaging/groups`, `/group/{id}` and `GET /message` limited
/// together (~20/min, burst ~10; spec §3.3, INFERRED from that data).
pub const CHAT_BUCKET: &str = "chat";

/// The per-route budget bucket a request spends from, or `None` when it
/// spends only from the account-wide budget. Only reads have per-route
/// buckets: the evidence (HUB's long-running read traffic, scrapers pacing
/// 2–5 s) is about reads, and no public client shows a per-route write limit.
pub fn budget_bucket(method: &str, path: &str) -> Option<String> {
    if !method.eq_ignore_ascii_case("GET") {
        return None;
    }
    let route = RouteTemplate(path).to_string();
    let chat = matches!(
        route.as_str(),
        "/api/v1/messaging/groups" | "/api/v1/group/{id}" | "/api/v1/message"
    );
    Some(if chat { CHAT_BUCKET.to_owned() } else { route })
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
