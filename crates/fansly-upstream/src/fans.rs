//! Followers, following, subscribers, tiers, lists and mutes (spec §5, §4.6).

use serde_json::{json, Value};

use crate::client::FanslyClient;
use crate::error::Answer;
use crate::session::Session;

/// The page size the web app and gallery-dl ask `/lists/itemsnew` for.
pub const LIST_ITEMS_PAGE: usize = 50;

/// The cursor of the page after `rows` (a `/lists/itemsnew` answer): the last
/// row's `sortId`, or `None` when the page is empty (the list ended).
pub fn list_items_cursor(rows: &Value) -> Option<String> {
    let last = rows.as_array()?.last()?;
    match last.get("sortId")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One page of a `limit`/`offset` list.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub limit: u32,
    pub offset: u32,
}

/// Which subscriptions `/subscribers` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriberStatus {
    Active,
    Expired,
    All,
}

impl FanslyClient {
    /// `GET /account/{id}/followersnew` → `{followers, aggregationData.accounts}`.
    /// `search` is INFERRED (the app filters the follower list by name).
    pub async fn followers(
        &self,
        session: &Session,
        account_id: &str,
        page: &Page,
        search: &str,
    ) -> Answer {
        let (limit, offset) = (page.limit.to_string(), page.offset.to_string());
        let mut query = vec![("offset", offset.as_str()), ("limit", limit.as_str())];
        if !search.is_empty() {
            query.push(("search", search));
        }
        self.get(
            session,
            &format!("/api/v1/account/{account_id}/followersnew"),
            &query,
        )
        .await
    }

    /// `GET /account/{id}/following?before=0&after=0&limit=&offset=` → `[{accountId}]`.
    pub async fn following(&self, session: &Session, account_id: &str, page: &Page) -> Answer {
        let (limit, offset) = (page.limit.to_string(), page.offset.to_string());
        self.get(
            session,
            &format!("/api/v1/account/{account_id}/following"),
            &[
                ("before", "0"),
                ("after", "0"),
                ("limit", &limit),
                ("offset", &offset),
            ],
        )
        .await
    }

    /// `GET /subscribers?status=3,4|5&limit=&offset=` → `{stats, subscriptions}`.
    /// `search` and `subscriptionTierId` are INFERRED.
    pub async fn subscribers(
        &self,
        session: &Session,
        status: SubscriberStatus,
        tier_id: Option<&str>,
        search: &str,
        page: &Page,
    ) -> Answer {
        let (limit, offset) = (page.limit.to_string(), page.offset.to_string());
        let mut query = Vec::new();
        match status {
            SubscriberStatus::Active => query.push(("status", "3,4")),
            SubscriberStatus::Expired => query.push(("status", "5")),
            SubscriberStatus::All => {}
        }
        if let Some(tier) = tier_id {
            query.push(("subscriptionTierId", tier));
        }
        if !search.is_empty() {
            query.push(("search", search));
        }
        query.push(("limit", &limit));
        query.push(("offset", &offset));
        self.get(session, "/api/v1/subscribers", &query).await
    }

    /// `GET /subscriptions/tiers` → tiers with their `plans`.
    pub async fn subscription_tiers(&self, session: &Session) -> Answer {
        self.get(session, "/api/v1/subscriptions/tiers", &[]).await
    }

    /// `POST /account/ignore {ignoredId, ignoreFlags}`; flags 0 lifts the mute
    /// (INFERRED, OPENF bundle).
    pub async fn set_ignore(&self, session: &Session, account_id: &str, flags: i64) -> Answer {
        let body = json!({"ignoredId": account_id, "ignoreFlags": flags});
        self.post(session, "/api/v1/account/ignore", &body).await
    }

    /// `GET /lists/account` → the creator's own lists.
    pub async fn lists(&self, session: &Session) -> Answer {
        self.get(session, "/api/v1/lists/account", &[("itemId", "")])
            .await
    }

    /// `GET /lists/itemsnew?listId=&limit=50&sortMode=3[&after=]`: one page of
    /// a list's members, `[{id, sortId, ...}]`. CONFIRMED (gallery-dl's
    /// `lists_itemsnew`, HUB-SPEC §2.11): Fansly has no `offset` here (it
    /// ignores one and answers page one again); the next page is asked with
    /// `after` = the last row's `sortId`, and an empty page ends the list.
    pub async fn list_items(
        &self,
        session: &Session,
        list_id: &str,
        after: Option<&str>,
    ) -> Answer {
        let limit = LIST_ITEMS_PAGE.to_string();
        let mut query = vec![
            ("listId", list_id),
            ("limit", limit.as_str()),
            ("sortMode", "3"),
        ];
        if let Some(after) = after {
            query.push(("after", after));
        }
        self.get(session, "/api/v1/lists/itemsnew", &query).await
    }

    /// `POST /lists {label, description}` → the new list.
    pub async fn create_list(&self, session: &Session, label: &str, description: &str) -> Answer {
        let body = json!({"label": label, "description": description});
        self.post(session, "/api/v1/lists", &body).await
    }

    /// `POST /lists/update {id, label, description}` (route INFERRED).
    /// Evidence searched (issue 13): the bundle's list writes are `/lists`
    /// (create `{label}`), `/lists/items/add {listItems}`, `/lists/commands`,
    /// `/lists/items/remove`, `/lists/remove` and `/lists/order {oldPos,
    /// newPos}` (openFansly); none edits a list. Kept.
    pub async fn update_list(
        &self,
        session: &Session,
        list_id: &str,
        label: Option<&str>,
        description: Option<&str>,
    ) -> Answer {
        let mut body = json!({ "id": list_id });
        if let Some(label) = label {
            body["label"] = json!(label);
        }
        if let Some(description) = description {
            body["description"] = json!(description);
        }
        self.post(session, "/api/v1/lists/update", &body).await
    }

    /// `POST /lists/remove {listId}` (INFERRED, OPENF bundle).
    pub async fn delete_list(&self, session: &Session, list_id: &str) -> Answer {
        self.post(
            session,
            "/api/v1/lists/remove",
            &json!({ "listId": list_id }),
        )
        .await
    }

    /// `POST /lists/order {oldPos, newPos}` (INFERRED, OPENF bundle).
    pub async fn reorder_lists(&self, session: &Session, old_pos: u32, new_pos: u32) -> Answer {
        let body = json!({"oldPos": old_pos, "newPos": new_pos});
        self.post(session, "/api/v1/lists/order", &body).await
    }

    /// `POST /lists/commands`, one add command per account (the shape of
    /// spec §5.7: adds and removes are written differently).
    pub async fn add_to_list(
        &self,
        session: &Session,
        list_id: &str,
        account_ids: &[String],
    ) -> Answer {
        let commands: Vec<Value> = account_ids
            .iter()
            .map(|id| json!({"type": 1, "listItem": {"id": id, "listId": list_id}}))
            .collect();
        self.post(
            session,
            "/api/v1/lists/commands",
            &json!({ "listCommands": commands }),
        )
        .await
    }

    /// `POST /lists/commands` with one remove command for all `account_ids`.
    pub async fn remove_from_list(
        &self,
        session: &Session,
        list_id: &str,
        account_ids: &[String],
    ) -> Answer {
        let body = json!({"listCommands": [
            {"type": 2, "listId": list_id, "itemIds": account_ids}
        ]});
        self.post(session, "/api/v1/lists/commands", &body).await
    }
}
