//! `Idempotency-Key` on every POST/PUT/PATCH/DELETE under `/api` (the IETF
//! httpapi draft, Stripe's semantics): the first answer is kept with the key
//! per team for 24 h and replayed to a repeat with the same request, without
//! a second Fansly call or charge. Same key, other request: 422. Same key
//! while the first is still running: 409. Rows live in the database
//! (`metering/idempotency.rs`) so this holds across instances and restarts.
//!
//! Answers that say "nothing was done, try again" are not kept (5xx, 401,
//! 402, 409, 429): the key is released and a retry runs the request anew.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::core::error::ApiError;
use crate::http::request_log::record;
use crate::http::state::AppState;
use crate::metering::idempotency::{self, Claim, Stored};

pub const HEADER: &str = "idempotency-key";
/// Set on an answer replayed from a stored key.
pub const REPLAYED: &str = "idempotent-replayed";
/// Longest key accepted (Stripe's limit).
pub const MAX_KEY_LEN: usize = 255;
/// Largest answer kept; a bigger one (none of the write routes answers one)
/// is sent but not kept, and the key released.
const MAX_STORED_BODY: usize = 1 << 20;

/// The middleware (`axum::middleware::from_fn_with_state`). What it wraps
/// starts with the request log's layer (`request_log::record`), called
/// here instead of being a layer of its own: every `from_fn` layer clones
/// the boxed services below it and boxes its future, on every request. A
/// replayed answer never reaches the request log, as when it was the
/// inner layer.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let writes = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !writes || !req.uri().path().starts_with("/api/") {
        return record(&state, req, next).await;
    }
    let Some(raw) = req.headers().get(HEADER) else {
        return record(&state, req, next).await;
    };
    let key = match valid_key(raw) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    // Keys are per team; an unknown key is left to the route (401 there).
    // Copied before awaiting: a `&Request` held across an await is not Send.
    let headers = req.headers().clone();
    let Some(team) = team_of(&state, &headers).await else {
        return record(&state, req, next).await;
    };
    let (parts, body) = req.into_parts();
    let (body, digest) = match read_body(&state, body).await {
        Ok(read) => read,
        Err(e) => return e.into_response(),
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b"\n");
    hasher.update(
        parts
            .uri
            .path_and_query()
            .map_or(parts.uri.path(), |p| p.as_str()),
    );
    hasher.update(b"\n");
    hasher.update(digest);
    let fingerprint = hex::encode(hasher.finalize());

    let lease =
        match idempotency::claim(&state.db, &team, &key, &fingerprint).await {
            Ok(Claim::Acquired { lease }) => lease,
            Ok(Claim::Replay(stored)) => return replay(stored),
            Ok(Claim::InProgress) => return ApiError::Conflict(
                "Idempotency-Key: a request with this key is still being processed; retry later"
                    .into(),
            )
            .into_response(),
            Ok(Claim::Mismatch) => {
                return ApiError::Unprocessable(
                    "Idempotency-Key: this key was already used with a different request \
                 (method, path or body); use a new key for a new request"
                        .into(),
                )
                .into_response()
            }
            Err(e) => return ApiError::from(e).into_response(),
        };

    // The rest runs in its own task: a client hanging up must not leave the
    // row `running` until its lease lapses.
    let req = Request::from_parts(parts, body);
    let task = tokio::spawn(async move {
        let resp = record(&state, req, next).await;
        settle(&state, &team, &key, &lease, resp).await
    });
    task.await.unwrap_or_else(|e| {
        ApiError::Internal(anyhow::anyhow!("idempotent call aborted: {e}")).into_response()
    })
}

/// Stores (or releases) the key with the answer and passes the answer on.
async fn settle(state: &AppState, team: &str, key: &str, lease: &str, resp: Response) -> Response {
    let status = resp.status();
    let kept = !(status.is_server_error()
        || matches!(
            status,
            StatusCode::UNAUTHORIZED
                | StatusCode::PAYMENT_REQUIRED
                | StatusCode::CONFLICT
                | StatusCode::TOO_MANY_REQUESTS
        ));
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            let _ = idempotency::release(&state.db, team, key, lease).await;
            return ApiError::Internal(anyhow::anyhow!("reading the answer: {e}")).into_response();
        }
    };
    let text = std::str::from_utf8(&bytes).ok().map(str::to_owned);
    match text.filter(|t| kept && t.len() <= MAX_STORED_BODY) {
        Some(body) => {
            let stored = Stored {
                status: status.as_u16(),
                headers: kept_headers(&parts.headers),
                body,
            };
            if let Err(e) = idempotency::complete(&state.db, team, key, lease, &stored).await {
                tracing::error!(error = %e, "storing an idempotent answer failed");
            }
        }
        None => {
            if let Err(e) = idempotency::release(&state.db, team, key, lease).await {
                tracing::error!(error = %e, "releasing an idempotency key failed");
            }
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Content type, metering headers and `Location`: what a replay must carry.
fn kept_headers(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            n == "content-type"
                || n == "location"
                || n.starts_with("x-rate-limit-")
                || n.starts_with("x-ofapi-")
        })
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

fn replay(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, stored.body).into_response();
    let headers = resp.headers_mut();
    headers.remove(CONTENT_TYPE);
    for (name, value) in stored.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(n, v);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}

/// 1–255 printable ASCII characters (the draft allows any string; bounding it
/// keeps what is stored sane).
fn valid_key(raw: &HeaderValue) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::Unprocessable(format!("Idempotency-Key: {why}"));
    let key = raw
        .to_str()
        .map_err(|_| bad("must be printable ASCII"))?
        .trim();
    // The draft writes the key as a structured-field string: "…"; accept both.
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or(key);
    if key.is_empty() {
        return Err(bad("must not be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(bad(&format!("must be at most {MAX_KEY_LEN} characters")));
    }
    if !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(bad("must be printable ASCII"));
    }
    Ok(key.to_owned())
}

/// The team the request acts for, resolved as the extractors resolve it
/// (a team key, or the operator token with `X-Team-Id`).
async fn team_of(state: &AppState, headers: &axum::http::HeaderMap) -> Option<String> {
    let presented = crate::http::extract::bearer(headers)?;
    match crate::http::operator::caller(state, headers, presented).await {
        Ok(caller) => caller.map(|c| c.team_id),
        Err(e) => {
            tracing::debug!(error = %e, "no team for Idempotency-Key");
            None
        }
    }
}

/// The body and its SHA-256. Bodies up to `max_body_bytes` stay in memory;
/// bigger ones (uploads, which stream) are spooled to an unnamed temp file
/// and streamed from it, bounded by the upload limit.
async fn read_body(state: &AppState, body: Body) -> Result<(Body, [u8; 32]), ApiError> {
    let in_memory = state.config.max_body_bytes;
    let limit = usize::try_from(state.config.media.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(1 << 20)
        .max(in_memory);
    let mut hasher = Sha256::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut spool: Option<tokio::fs::File> = None;
    let mut total = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        total += chunk.len();
        if total > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        hasher.update(&chunk);
        match spool.as_mut() {
            Some(file) => file.write_all(&chunk).await.map_err(spool_error)?,
            None if total > in_memory => {
                let mut file =
                    tokio::fs::File::from_std(tempfile::tempfile().map_err(spool_error)?);
                file.write_all(&buf).await.map_err(spool_error)?;
                file.write_all(&chunk).await.map_err(spool_error)?;
                buf = Vec::new();
                spool = Some(file);
            }
            None => buf.extend_from_slice(&chunk),
        }
    }
    let digest: [u8; 32] = hasher.finalize().into();
    let body = match spool {
        None => Body::from(Bytes::from(buf)),
        Some(mut file) => {
            file.flush().await.map_err(spool_error)?;
            file.rewind().await.map_err(spool_error)?;
            Body::from_stream(tokio_util::io::ReaderStream::new(file))
        }
    };
    Ok((body, digest))
}

fn spool_error(e: std::io::Error) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("spooling a request body: {e}"))
}

/// Adds the optional `Idempotency-Key` header parameter to every write
/// operation under `/api` in `/openapi.json`, so the document says it once
/// for all of them rather than per handler.
pub struct IdempotencyHeader;

impl utoipa::Modify for IdempotencyHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Required, Type};
        let param = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes this write safe to retry: the first answer is kept with the key for 24 h \
                 (per team) and returned to a repeat with the same request, without calling \
                 Fansly or charging again (`Idempotent-Replayed: true`). The same key with a \
                 different request answers 422; while the first call is still running, 409. \
                 1–255 printable ASCII characters, e.g. a UUID.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX_KEY_LEN)),
            ))
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/") {
                continue;
            }
            for op in [
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                op.parameters
                    .get_or_insert_with(Vec::new)
                    .push(param.clone());
            }
        }
    }
}
