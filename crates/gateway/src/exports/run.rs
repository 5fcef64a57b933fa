//! Running one `fansly_chat_messages` export: the account's chats (or the
//! `chatIds` asked for), each read newest first through Fansly's `before`
//! cursor within the time range, rows written per page with their credits,
//! through the account's own request budget (its throttle is waited out,
//! never exceeded) so the export cannot starve the account's API calls of
//! more than their share.

use std::time::Duration;

use fansly_upstream::{FanslyClient, GroupsQuery, UpstreamError};
use serde_json::{json, Value};

use crate::accounts::sessions::{ConnectedAccount, Sessions};
use crate::accounts::throttle::patiently;
use crate::core::db::Db;
use crate::core::time::iso;
use crate::exports::store::{self, Appended, Export, Progress};
use crate::fansly::answers::array_at;
use crate::metering::prices::DATA_EXPORTS_MESSAGES;

/// Everything a run uses.
pub struct Runner<'a> {
    pub db: &'a Db,
    pub fansly: &'a FanslyClient,
    pub sessions: &'a Sessions,
    pub owner: &'a str,
    pub lease_ms: i64,
    pub retention_ms: i64,
    /// Messages asked of Fansly per page (at most 100).
    pub page_size: u32,
}

/// Rows of one chat are numbered from `chat_index << 31` downwards from the
/// newest, so ordering by `seq` gives chats in order, each oldest first.
const CHAT_SPAN: i64 = 1 << 31;

/// Chats read per groups page.
const GROUPS_PAGE: u32 = 100;

/// A passing failure (5xx, timeout) is tried this many times in a row
/// before the export fails.
const ATTEMPTS: u32 = 5;

/// Why a run stopped early.
enum Stop {
    /// Deleted or taken over: leave it.
    Lost,
    Fail(String),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Db(e)
    }
}

struct Chat {
    account: String,
    id: String,
    partner_id: Option<String>,
    partner_username: Option<String>,
}

impl Runner<'_> {
    /// Runs `export` (claimed by this owner) to its end and records it.
    pub async fn run(&self, export: &Export) -> Result<(), sqlx::Error> {
        let outcome = self.collect(export).await;
        let reason = match outcome {
            Ok(()) => None,
            Err(Stop::Lost) => return Ok(()),
            Err(Stop::Db(e)) => return Err(e),
            Err(Stop::Fail(why)) => Some(why),
        };
        if let Some(why) = &reason {
            tracing::warn!(export = %export.id, reason = %why, "data export failed");
        }
        store::finish(
            self.db,
            &export.id,
            self.owner,
            reason.as_deref(),
            self.retention_ms,
        )
        .await
    }

    async fn collect(&self, export: &Export) -> Result<(), Stop> {
        let mut accounts = Vec::new();
        for id in &export.account_ids {
            let account = self
                .sessions
                .connected(&export.team_id, id)
                .await
                .map_err(|e| Stop::Fail(format!("account {id}: {e}")))?;
            accounts.push(account);
        }
        let mut chats = Vec::new();
        for account in &accounts {
            chats.extend(self.chats_of(export, account).await?);
        }
        let max_messages = export.options.max_messages;
        let mut progress = Progress {
            chats_total: chats.len() as i64,
            chats_done: 0,
            rows_processed: 0,
        };
        let mut charged = export.credits_charged;
        for (index, chat) in chats.iter().enumerate() {
            let Some(account) = accounts.iter().find(|a| a.id == chat.account) else {
                continue;
            };
            let mut before: Option<String> = None;
            let mut in_chat: i64 = 0;
            'pages: loop {
                let page = self
                    .read(account, || {
                        self.fansly.messages(
                            &account.session,
                            &chat.id,
                            before.as_deref(),
                            self.page_size,
                        )
                    })
                    .await
                    .map_err(|e| Stop::Fail(format!("chat {}: {e}", chat.id)))?;
                let messages = array_at(&page, "messages");
                let mut rows = Vec::new();
                let mut reached_start = false;
                for m in &messages {
                    let created_ms = m
                        .get("createdAt")
                        .and_then(Value::as_f64)
                        .map_or(0, |s| (s * 1000.0) as i64);
                    if created_ms > export.end_ms {
                        continue;
                    }
                    if created_ms < export.start_ms {
                        reached_start = true;
                        break;
                    }
                    if progress.rows_processed + rows.len() as i64 >= max_messages {
                        reached_start = true;
                        break;
                    }
                    let seq = index as i64 * CHAT_SPAN + (CHAT_SPAN - 1 - in_chat);
                    in_chat += 1;
                    rows.push((seq, row(chat, m, created_ms).to_string()));
                }
                progress.rows_processed += rows.len() as i64;
                let last_page = reached_start
                    || messages.len() < self.page_size as usize
                    || progress.rows_processed >= max_messages;
                if last_page {
                    progress.chats_done += 1;
                }
                let due = credits_for(progress.rows_processed) - charged;
                let charge = due.max(0);
                match store::append(
                    self.db,
                    export,
                    self.owner,
                    self.lease_ms,
                    &rows,
                    &progress,
                    charge,
                )
                .await?
                {
                    Appended::Kept => charged += charge,
                    Appended::Lost => return Err(Stop::Lost),
                    Appended::OutOfCredits => {
                        return Err(Stop::Fail(format!(
                            "out of credits after {} messages: the next {} cost {charge}",
                            progress.rows_processed - rows.len() as i64,
                            rows.len()
                        )))
                    }
                }
                if progress.rows_processed >= max_messages {
                    return Ok(());
                }
                if last_page {
                    break 'pages;
                }
                before = messages
                    .last()
                    .and_then(|m| m.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if before.is_none() {
                    break 'pages;
                }
            }
        }
        Ok(())
    }

    /// The chats to export for `account`: `chatIds` as given, or every chat
    /// Fansly lists (at most `maxChats`, in Fansly's order), then by id.
    async fn chats_of(
        &self,
        export: &Export,
        account: &ConnectedAccount,
    ) -> Result<Vec<Chat>, Stop> {
        let max_chats = export.options.max_chats.unwrap_or(i64::MAX).max(1) as usize;
        let mut listed = Vec::new();
        let mut offset = 0;
        loop {
            let query = GroupsQuery {
                limit: GROUPS_PAGE,
                offset,
                ..GroupsQuery::default()
            };
            let page = self
                .read(account, || {
                    self.fansly.messaging_groups(&account.session, &query)
                })
                .await
                .map_err(|e| Stop::Fail(format!("listing the chats of {}: {e}", account.id)))?;
            let items = array_at(&page, "data");
            for g in &items {
                let Some(id) = g.get("groupId").and_then(Value::as_str) else {
                    continue;
                };
                let text = |k: &str| g.get(k).and_then(Value::as_str).map(str::to_owned);
                listed.push(Chat {
                    account: account.id.clone(),
                    id: id.to_owned(),
                    partner_id: text("partnerAccountId"),
                    partner_username: text("partnerUsername"),
                });
            }
            let total = page
                .pointer("/aggregationData/total")
                .and_then(Value::as_u64);
            offset += items.len() as u32;
            let more = match total {
                Some(total) => u64::from(offset) < total,
                None => items.len() == GROUPS_PAGE as usize,
            };
            if items.is_empty()
                || !more
                || (export.options.chat_ids.is_none() && listed.len() >= max_chats)
            {
                break;
            }
        }
        let mut chats: Vec<Chat> = match &export.options.chat_ids {
            Some(wanted) => {
                let mut chosen = Vec::new();
                for id in wanted {
                    match listed.iter().position(|c| &c.id == id) {
                        Some(i) => chosen.push(listed.swap_remove(i)),
                        None => {
                            return Err(Stop::Fail(format!(
                                "chat {id} is not a chat of account {}",
                                account.id
                            )))
                        }
                    }
                }
                chosen
            }
            None => {
                listed.truncate(max_chats);
                listed
            }
        };
        chats.sort_by(|a, b| by_id(&a.id, &b.id));
        Ok(chats)
    }

    /// One read through the account's budget: throttling is waited out,
    /// transient failures (`UpstreamError::is_transient`) are tried again
    /// with a growing pause.
    async fn read<F, Fut>(
        &self,
        account: &ConnectedAccount,
        call: F,
    ) -> Result<Value, UpstreamError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Value, UpstreamError>>,
    {
        let mut attempt = 0;
        loop {
            match patiently(&call).await {
                Err(e) if e.is_transient() && attempt + 1 < ATTEMPTS => {
                    attempt += 1;
                    tracing::info!(account = %account.id, error = %e, attempt, "data export read failed; trying again");
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                }
                other => return other,
            }
        }
    }
}

/// Credits owed for `rows` exported messages.
pub fn credits_for(rows: i64) -> i64 {
    (rows + 999) / 1000 * DATA_EXPORTS_MESSAGES.cost
}

/// Fansly ids compare as numbers (shorter is smaller).
fn by_id(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// One exported message; the keys are [`store::COLUMNS`].
fn row(chat: &Chat, m: &Value, created_ms: i64) -> Value {
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    json!({
        "account_id": chat.account,
        "chat_id": chat.id,
        "partner_id": chat.partner_id,
        "partner_username": chat.partner_username,
        "message_id": text("id"),
        "sender_id": text("senderId"),
        "created_at": iso(created_ms),
        "content": text("content").unwrap_or_default(),
        "attachment_count": m.get("attachments").and_then(Value::as_array).map_or(0, Vec::len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_are_per_started_thousand() {
        assert_eq!(credits_for(0), 0);
        assert_eq!(credits_for(1), 1);
        assert_eq!(credits_for(1000), 1);
        assert_eq!(credits_for(1001), 2);
        assert_eq!(credits_for(5000), 5);
    }

    #[test]
    fn ids_sort_numerically() {
        let mut ids = vec!["20", "100", "3"];
        ids.sort_by(|a, b| by_id(a, b));
        assert_eq!(ids, ["3", "20", "100"]);
    }
}
