//! `/api/data-exports…`: the vendor's export flow for `fansly_chat_messages`
//! — create (free), list, read status and progress, start, retry, delete,
//! and download the result as CSV or JSON Lines. The work runs in the
//! background (`workers/data_exports.rs`); its credits are taken per 1,000
//! messages while it runs.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::Path;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::store as accounts;
use crate::core::error::ApiError;
use crate::core::ids::random_id;
use crate::core::ids::FanslyId;
use crate::exports::render::Format;
use crate::exports::store::{self, status, Export, NewExport, Options, CHAT_MESSAGES};
use crate::http::envelope::Metered;
use crate::http::extract::ApiJson;
use crate::http::paging::NextPage;
use crate::http::params::{instant, Params};
use crate::http::routes::declare::endpoint;
use crate::http::scope::TeamScope;
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(retrieve, delete))
        .routes(routes!(start))
        .routes(routes!(retry))
        .routes(routes!(download))
}

/// The vendor's cap on `options.maxMessages`.
const MAX_MESSAGES: i64 = 10_000_000;
const MAX_ACCOUNTS: usize = 20;
const MAX_CHAT_IDS: usize = 10_000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExportBody {
    /// `fansly_chat_messages`, the one export type concerning Fansly.
    #[serde(rename = "type")]
    #[schema(example = "fansly_chat_messages")]
    export_type: String,
    /// `fansly_acct_…` ids of the team's connected accounts (1–20).
    #[schema(min_items = 1, max_items = 20)]
    account_ids: Vec<String>,
    /// ISO 8601; messages sent at or after it.
    #[schema(example = "2026-07-01T00:00:00Z")]
    start_date: String,
    /// ISO 8601; messages sent at or before it.
    #[schema(example = "2026-07-31T23:59:59Z")]
    end_date: String,
    /// `csv` (default) or `jsonl`; either can be downloaded whatever is chosen.
    file_type: Option<String>,
    options: ExportOptions,
    /// Start at once (default `true`); `false` waits for `POST …/start`.
    auto_start: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExportOptions {
    /// At most this many messages (1 to 10,000,000).
    max_messages: i64,
    /// At most this many chats per account (the most recently active).
    max_chats: Option<i64>,
    /// Only these chats (Fansly group ids).
    chat_ids: Option<Vec<String>>,
}

/// The export object with its accounts' display names.
async fn export_json(state: &AppState, export: &Export) -> Result<Value, ApiError> {
    let names = team_names(state, &export.team_id).await?;
    Ok(export_with(state, export, &names))
}

/// The display names of the team's accounts, read once for a list of exports.
async fn team_names(state: &AppState, team: &str) -> Result<HashMap<String, String>, ApiError> {
    Ok(accounts::list(&state.db, team)
        .await?
        .into_iter()
        .map(|a| (a.id, a.display_name))
        .collect())
}

/// The export object, its accounts named from `names` (an account removed
/// since the export was made keeps its id with an empty name).
fn export_with(state: &AppState, export: &Export, names: &HashMap<String, String>) -> Value {
    let named: Vec<(String, String)> = export
        .account_ids
        .iter()
        .map(|id| (id.clone(), names.get(id).cloned().unwrap_or_default()))
        .collect();
    export.to_json(&named, &state.public_url)
}

/// Create Export: validates the request and queues it (or keeps it
/// `pending` with `auto_start: false`). Free; the run is charged.
#[utoipa::path(
    post,
    path = "/api/data-exports",
    operation_id = "createDataExport",
    request_body = CreateExportBody,
    responses(
        (status = 200, description = "`data` is the export: `{id, type, status, file_type, start_date, end_date, options, accounts, requires_scraping, credit_calculation_note, credit_cost, export_columns, progress_percentage, rows_processed, total_rows, failed_reason, created_at, completed_at, failed_at, expires_at, download_url}`", body = Object),
        (status = 404, description = "An account is not the team's"),
        (status = 422, description = "A field is missing or invalid (named)"),
        (status = 429, description = "Too many exports of the team are pending or running"),
    ),
)]
async fn create(
    scope: TeamScope,
    ApiJson(body): ApiJson<CreateExportBody>,
) -> Result<Metered, ApiError> {
    let state = &scope.state;
    let bad = |m: String| ApiError::Unprocessable(m);
    if body.export_type != CHAT_MESSAGES {
        return Err(bad(format!(
            "type must be {CHAT_MESSAGES:?}, got {:?}",
            body.export_type
        )));
    }
    let file_type = match body.file_type.as_deref() {
        None => Format::Csv,
        Some(raw) => Format::parse(raw)
            .ok_or_else(|| bad(format!("file_type must be csv or jsonl, got {raw:?}")))?,
    };
    if body.account_ids.is_empty() || body.account_ids.len() > MAX_ACCOUNTS {
        return Err(bad(format!(
            "account_ids must hold 1 to {MAX_ACCOUNTS} account ids"
        )));
    }
    let team = scope.team();
    let mut account_ids: Vec<String> = Vec::new();
    for id in &body.account_ids {
        accounts::get(&state.db, team, id).await?;
        if !account_ids.contains(id) {
            account_ids.push(id.clone());
        }
    }
    let start_ms = instant("start_date", &body.start_date)?;
    let end_ms = instant("end_date", &body.end_date)?;
    if start_ms > end_ms {
        return Err(bad("start_date must not be later than end_date".into()));
    }
    let o = &body.options;
    if !(1..=MAX_MESSAGES).contains(&o.max_messages) {
        return Err(bad(format!(
            "options.maxMessages must be between 1 and {MAX_MESSAGES}"
        )));
    }
    if o.max_chats.is_some_and(|n| n < 1) {
        return Err(bad("options.maxChats must be at least 1".into()));
    }
    if let Some(ids) = &o.chat_ids {
        if ids.is_empty() || ids.len() > MAX_CHAT_IDS {
            return Err(bad(format!(
                "options.chatIds must hold 1 to {MAX_CHAT_IDS} chat ids"
            )));
        }
        for id in ids {
            FanslyId::parse("options.chatIds", id)?;
        }
    }
    let options = Options {
        max_messages: o.max_messages,
        max_chats: o.max_chats,
        chat_ids: o.chat_ids.clone(),
    };
    let max = state.config.data_exports.max_active_per_team;
    let active = store::count_active(&state.db, team).await?;
    if active >= max {
        return Err(ApiError::RateLimited {
            message: format!(
                "the team has {active} data exports pending or running (the limit is {max}); wait for one to finish or delete one"
            ),
            retry_after_secs: 60,
        });
    }
    let id = random_id("export_", 20);
    store::insert(
        &state.db,
        &NewExport {
            id: &id,
            team_id: team,
            account_ids: &account_ids,
            file_type: file_type.name(),
            start_ms,
            end_ms,
            options: &options,
            auto_start: body.auto_start.unwrap_or(true),
        },
    )
    .await?;
    let export = store::get(&state.db, team, &id).await?;
    let data = export_json(state, &export).await?;
    scope.free(prices::DATA_EXPORTS_CREATE, data).await
}

endpoint! {
    /// List Exports: the team's exports, newest first.
    get "/api/data-exports" "listDataExports",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1–100, default 20"),
        ("offset" = Option<u32>, Query, maximum = 2147483647, description = "Default 0"),
    ),
    responses((status = 200, description = "`data` is a list of exports (as Create Export answers them)", body = Object)),
    fn list(team: TeamScope, params: Params, next: NextPage) {
        let state = &team.state;
        let page = params.page(20, 100)?;
        let mut rows = store::list(&state.db, team.team(), page.limit + 1, page.offset).await?;
        let next = next.after_extra_row(&page, &mut rows);
        let names = team_names(state, team.team()).await?;
        let data: Vec<Value> = rows.iter().map(|e| export_with(state, e, &names)).collect();
        team.free_page(prices::DATA_EXPORTS_LIST, json!(data), next).await
    }
}

endpoint! {
    /// Retrieve Export: status, progress and, when done, `download_url`.
    get "/api/data-exports/{export_id}" "retrieveDataExport",
    responses(
        (status = 200, description = "`data` is the export", body = Object),
        (status = 404, description = "Unknown export"),
    ),
    fn retrieve(team: TeamScope, Path(id): Path<String>) {
        let export = store::get(&team.state.db, team.team(), &id).await?;
        let data = export_json(&team.state, &export).await?;
        team.free(prices::DATA_EXPORTS_GET, data).await
    }
}

endpoint! {
    /// Delete Export: cancels it if running and deletes it with its result.
    delete "/api/data-exports/{export_id}" "deleteDataExport",
    responses(
        (status = 200, description = "`data` is `{id, deleted: true}`", body = Object),
        (status = 404, description = "Unknown export"),
    ),
    fn delete(team: TeamScope, Path(id): Path<String>) {
        store::delete(&team.state.db, team.team(), &id).await?;
        let data = json!({"id": id, "deleted": true});
        team.free(prices::DATA_EXPORTS_DELETE, data).await
    }
}

/// Moves `id` from `from` to `queued`, or a 409 naming its status.
async fn requeue(scope: &TeamScope, id: &str, from: &str, verb: &str) -> Result<Value, ApiError> {
    let (state, team) = (&scope.state, scope.team());
    let export = store::get(&state.db, team, id).await?;
    if !store::requeue(&state.db, team, id, from).await? {
        return Err(ApiError::Conflict(format!(
            "data export {id} is {}; only a {from} export can be {verb}",
            export.status
        )));
    }
    let export = store::get(&state.db, team, id).await?;
    export_json(state, &export).await
}

endpoint! {
    /// Start Export: queues a `pending` export (created with `auto_start: false`).
    post "/api/data-exports/{export_id}/start" "startDataExport",
    responses(
        (status = 200, description = "`data` is the export, now `queued`", body = Object),
        (status = 404, description = "Unknown export"),
        (status = 409, description = "The export is not pending"),
    ),
    fn start(team: TeamScope, Path(id): Path<String>) {
        let data = requeue(&team, &id, status::PENDING, "started").await?;
        team.free(prices::DATA_EXPORTS_START, data).await
    }
}

endpoint! {
    /// Retry Export: queues a `failed` export again from the start (credits
    /// already taken count towards it).
    post "/api/data-exports/{export_id}/retry" "retryDataExport",
    responses(
        (status = 200, description = "`data` is the export, now `queued`", body = Object),
        (status = 404, description = "Unknown export"),
        (status = 409, description = "The export has not failed"),
    ),
    fn retry(team: TeamScope, Path(id): Path<String>) {
        let data = requeue(&team, &id, status::FAILED, "retried").await?;
        team.free(prices::DATA_EXPORTS_RETRY, data).await
    }
}

/// Rows read from the database per chunk of a download.
const DOWNLOAD_CHUNK: i64 = 1_000;

/// Download Export: the finished result, streamed; `format=csv|jsonl`
/// (default: the export's `file_type`).
#[utoipa::path(
    get,
    path = "/api/data-exports/{export_id}/download",
    operation_id = "downloadDataExport",
    params(
        ("format" = Option<String>, Query, description = "csv | jsonl; default the export's file_type"),
    ),
    responses(
        (status = 200, description = "The rows: CSV with a header of `export_columns`, or one JSON object per line; oldest message first within each chat, chats by id", content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 404, description = "Unknown export"),
        (status = 409, description = "The export is not completed"),
        (status = 422, description = "Unknown format"),
    ),
)]
async fn download(
    team: TeamScope,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let export = store::get(&team.state.db, team.team(), &id).await?;
    let raw = params.get("format").unwrap_or(&export.file_type);
    let format = Format::parse(raw).ok_or_else(|| {
        ApiError::Unprocessable(format!("format must be csv or jsonl, got {raw:?}"))
    })?;
    if export.status != status::COMPLETED {
        return Err(ApiError::Conflict(format!(
            "data export {id} is {}; it can be downloaded once completed",
            export.status
        )));
    }
    let db = team.state.db.clone();
    let header = format.header();
    // (next seq, header still to send, finished)
    let stream =
        futures::stream::unfold((0i64, Some(header), false), move |(after, header, done)| {
            let (db, id) = (db.clone(), id.clone());
            async move {
                if let Some(h) = header {
                    return Some((Ok::<_, std::io::Error>(h.into_bytes()), (after, None, done)));
                }
                if done {
                    return None;
                }
                match store::rows_after(&db, &id, after, DOWNLOAD_CHUNK).await {
                    Ok(rows) if rows.is_empty() => None,
                    Ok(rows) => {
                        let last = rows.last().map_or(after, |(seq, _)| *seq);
                        let finished = (rows.len() as i64) < DOWNLOAD_CHUNK;
                        let text: String = rows.iter().map(|(_, line)| format.line(line)).collect();
                        Some((Ok(text.into_bytes()), (last, None, finished)))
                    }
                    Err(e) => Some((Err(std::io::Error::other(e)), (after, None, true))),
                }
            }
        });
    let mut resp = Body::from_stream(stream).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.{}\"",
        export.id,
        format.name()
    )) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    for (k, v) in crate::http::envelope::rate_headers(&team.authed.rate) {
        if let Some(k) = k {
            headers.insert(k, v);
        }
    }
    Ok(resp)
}
