//! `/api/fansly/{fanslyAccount}/media/…` and `/account-media/{ids}`.

use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path, RawQuery};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::core::ids::{is_media_id, new_media_id, FanslyId};
use crate::http::paging::NextPage;
use crate::http::scope::AccountScope;
use crate::http::state::AppState;
use crate::media::{self, Incoming, Spool};
use crate::metering::meta::Endpoint;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        // The file is streamed and bounded by `media.max_upload_bytes`, not
        // by the JSON body limit.
        .routes(routes!(upload).layer(DefaultBodyLimit::disable()))
        .routes(routes!(upload_status))
        .routes(routes!(account_media))
        .routes(routes!(download))
}

const UPLOAD: Endpoint = prices::MEDIA_UPLOAD;
/// Small form fields (`file_url`, `async`) are read up to this size.
const MAX_FIELD_BYTES: usize = 8 * 1024;

/// The parsed form: exactly one of `file` / `file_url`, `async`, and (for
/// vault uploads) `album_id`.
struct UploadForm {
    file: Option<Incoming>,
    file_url: Option<String>,
    background: bool,
    album_id: Option<String>,
}

async fn read_form(state: &AppState, mut form: Multipart) -> Result<UploadForm, ApiError> {
    let max = state.config.media.max_upload_bytes;
    let dir = state.config.data_dir.join("uploads");
    let mut out = UploadForm {
        file: None,
        file_url: None,
        background: false,
        album_id: None,
    };
    while let Some(field) = form.next_field().await.map_err(bad_form)? {
        match field.name().unwrap_or_default() {
            "file" => {
                if out.file.is_some() {
                    return Err(ApiError::Unprocessable(
                        "file: give one file per upload".into(),
                    ));
                }
                let name = media::clean_file_name(field.file_name());
                let declared = field.content_type().map(str::to_owned);
                let mut spool = Spool::new(&dir, max, "file").await?;
                if let Err(e) = spool.fill(field).await {
                    // Read what the client is still sending so it gets the
                    // answer instead of a reset connection.
                    drain(form, max).await;
                    return Err(e);
                }
                out.file = Some(spool.finish(name, declared.as_deref()).await?);
            }
            "file_url" => out.file_url = Some(small_text(field).await?),
            "album_id" => {
                let raw = small_text(field).await?;
                let raw = raw.trim();
                if !raw.is_empty() {
                    out.album_id = Some(FanslyId::parse("album_id", raw)?.into_string());
                }
            }
            "async" => {
                let raw = small_text(field).await?;
                out.background = match raw.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    other => {
                        return Err(ApiError::Unprocessable(format!(
                            "async must be true or false, got {other:?}"
                        )))
                    }
                };
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Discards the rest of a refused upload, up to a bound.
async fn drain(mut form: Multipart, max: u64) {
    let mut seen = 0u64;
    while let Ok(Some(mut field)) = form.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            seen += chunk.len() as u64;
            if seen > max.saturating_mul(2) {
                return;
            }
        }
    }
}

fn bad_form(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(format!("file: {}", e.body_text()))
    } else {
        ApiError::BadRequest(format!(
            "the multipart body is malformed: {}",
            e.body_text()
        ))
    }
}

async fn small_text(mut field: Field<'_>) -> Result<String, ApiError> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
        buf.extend_from_slice(&chunk);
        if buf.len() > MAX_FIELD_BYTES {
            return Err(ApiError::Unprocessable(format!(
                "{name} is longer than {MAX_FIELD_BYTES} bytes"
            )));
        }
    }
    String::from_utf8(buf).map_err(|_| ApiError::Unprocessable(format!("{name} is not UTF-8 text")))
}

/// Upload Media: a multipart `file` (streamed to disk, never held in memory)
/// or a `file_url`, pushed to Fansly's vault. Credits are per megabyte.
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/media/upload",
    operation_id = "uploadMedia",
    request_body(content_type = "multipart/form-data", description = "`file` (binary, max 100 MB) or `file_url`; optional `async=true`"),
    responses(
        (status = 200, description = "Bare `{prefixed_id, file_name, media_id, media, credits_used}`; with async: `{status, prefixed_id, polling_url}`", body = Object),
        (status = 402, description = "Not enough credits for the file's size"),
        (status = 413, description = "File over the limit"),
        (status = 422, description = "Neither or both of file / file_url, an empty or non-media file"),
    ),
)]
async fn upload(
    scope: AccountScope,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    run_upload(scope, form, false).await
}

/// Upload Media and Upload Media to Vault: one pipeline. The albums (the
/// "All" album always, the form's `album_id` when given) are checked before
/// anything is charged or pushed, and the pushed media is added to them as
/// part of the upload; with `into_album` the answer names the album.
pub(crate) async fn run_upload(
    scope: AccountScope,
    form: Result<Multipart, MultipartRejection>,
    into_album: bool,
) -> Result<Response, ApiError> {
    let form = form.map_err(|e| {
        ApiError::UnsupportedMediaType(format!(
            "send multipart/form-data with a file or file_url field ({})",
            e.body_text()
        ))
    })?;
    let AccountScope {
        authed,
        account,
        state,
    } = scope;
    let form = read_form(&state, form).await?;
    let settings = state.config.media.clone();
    let file = match (form.file, form.file_url) {
        (Some(file), None) => file,
        (None, Some(url)) => {
            let dir = state.config.data_dir.join("uploads");
            media::fetch_url(
                url.trim(),
                &dir,
                settings.max_upload_bytes,
                settings.allow_private_file_urls,
            )
            .await?
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::Unprocessable(
                "give either file or file_url, not both".into(),
            ))
        }
        (None, None) => {
            return Err(ApiError::Unprocessable(
                "file is required unless file_url is given".into(),
            ))
        }
    };
    // Every upload joins the "All" album (else Fansly does not list it in
    // the vault); a vault upload names its album in the answer: the one
    // asked for, else "All". Read once the file is in hand (a refused
    // file_url reaches no Fansly) and before anything is charged.
    let (all_album, named) = crate::fansly::content::upload_albums(
        &state.fansly,
        &account,
        form.album_id.as_deref().filter(|_| into_album),
    )
    .await?;
    let album = into_album.then(|| named.clone().unwrap_or_else(|| all_album.clone()));
    let targets = UploadAlbums {
        all: all_album,
        named,
    };
    let cost = media::upload_cost(file.size, settings.credits_per_mb);
    let id = new_media_id();
    let team = authed.caller.team_id.clone();
    let fansly = state.fansly.clone();
    let db = state.db.clone();

    if form.background {
        let reservation = authed.reserve(&state, UPLOAD, cost).await?;
        // Not recorded, not run: the credits go back (dropping the
        // reservation would keep them).
        if let Err(e) =
            media::insert(&db, &id, &team, &account.id, &file, cost, media::PENDING).await
        {
            reservation.refund().await;
            return Err(e);
        }
        let polling_url = NextPage::at(
            &state,
            format!("/api/fansly/{}/media/uploads/{id}/status", account.id),
        )
        .url();
        let task_id = id.clone();
        tokio::spawn(async move {
            let outcome = async {
                media::update(&db, &task_id, media::PROCESSING, None, None).await?;
                push_into(&fansly, &account, &file, &settings, &targets).await
            }
            .await;
            let stored = match &outcome {
                Ok((media_id, m)) => {
                    media::update(&db, &task_id, media::COMPLETED, Some((media_id, m)), None).await
                }
                Err(e) => {
                    reservation.refund().await;
                    media::update(&db, &task_id, media::FAILED, None, Some(&e.to_string())).await
                }
            };
            if let Err(e) = stored {
                tracing::error!(error = %e, upload = task_id, "recording an upload's outcome failed");
            }
        });
        let mut body =
            json!({"status": media::PENDING, "prefixed_id": id, "polling_url": polling_url});
        if let Some(album) = album {
            body["album_id"] = json!(album);
        }
        return Ok((StatusCode::OK, axum::Json(body)).into_response());
    }

    // Recorded as processing for the duration and removed again if it fails,
    // all inside the billed task, so a failed synchronous upload leaves no
    // handle behind even when the client hangs up.
    let metered = authed
        .bill_cost(&state, UPLOAD, cost, async move {
            media::insert(&db, &id, &team, &account.id, &file, cost, media::PROCESSING).await?;
            let pushed = push_into(&fansly, &account, &file, &settings, &targets).await;
            let stored = match &pushed {
                Ok((media_id, m)) => {
                    media::update(&db, &id, media::COMPLETED, Some((media_id, m)), None).await
                }
                Err(_) => media::remove(&db, &id).await,
            };
            let (media_id, m) = pushed?;
            stored?;
            let mut out = json!({
                "prefixed_id": id,
                "file_name": file.file_name,
                "media_id": media_id,
                "media": m,
                "credits_used": cost
            });
            if let Some(album) = album {
                out["album_id"] = json!(album);
            }
            Ok(out)
        })
        .await?;
    Ok(metered.bare())
}

/// The albums an upload joins: "All" always, and the one the caller named.
struct UploadAlbums {
    all: String,
    named: Option<String>,
}

/// Pushes the file to Fansly and adds it to the "All" album and to the
/// named album, in one call each; a failure to add fails the upload (the
/// media stays on Fansly).
async fn push_into(
    fansly: &fansly_upstream::FanslyClient,
    account: &crate::accounts::sessions::ConnectedAccount,
    file: &Incoming,
    settings: &crate::core::config::MediaSettings,
    albums: &UploadAlbums,
) -> Result<(String, Value), ApiError> {
    let (media_id, m) = media::push(fansly, account, file, settings).await?;
    let extra = albums.named.as_deref().filter(|n| *n != albums.all);
    for album in std::iter::once(albums.all.as_str()).chain(extra) {
        fansly
            .album_media(
                &account.session,
                album,
                std::slice::from_ref(&media_id),
                false,
            )
            .await
            .map_err(|e| ApiError::upstream(&account.id, e))?;
    }
    Ok((media_id, m))
}

/// Get Upload Status (no credits): pending | processing | completed | failed.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/media/uploads/{upload}/status",
    operation_id = "getUploadStatus",
    params(
        ("upload" = String, Path, description = "The fansly_media_ id of the upload"),
    ),
    responses(
        (status = 200, description = "Bare `{status, prefixed_id}`; completed adds `file_name`, `media_id`, `media`; failed adds `error`", body = Object),
        (status = 404, description = "Unknown account or upload (another team's upload too)"),
        (status = 422, description = "Not a fansly_media_ id"),
    ),
)]
async fn upload_status(
    scope: AccountScope,
    Path((_account, upload)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !is_media_id(&upload) {
        return Err(ApiError::Unprocessable(format!(
            "upload must be a fansly_media_ id, got {upload:?}"
        )));
    }
    let db = scope.state.db.clone();
    let team = scope.team().to_owned();
    let metered = scope
        .call(prices::MEDIA_UPLOAD_STATUS, |_, account| async move {
            let handle = media::find(&db, &team, &account.id, &upload)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("upload {upload} not found")))?;
            Ok(media::status_json(&handle))
        })
        .await?;
    Ok(metered.bare())
}

/// Get Account Media: one credit for up to 100 comma-separated ids. The
/// answer is Fansly's own `{"success": true, "response": [...]}`.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/account-media/{ids}",
    operation_id = "getAccountMedia",
    params(
        ("ids" = String, Path, description = "An accountMedia id, or a comma-separated list of ids"),
    ),
    responses(
        (status = 200, description = "Fansly's envelope with the accountMedia records found", body = Object),
        (status = 422, description = "Malformed ids, or more than 100"),
    ),
)]
async fn account_media(
    scope: AccountScope,
    Path((_account, ids)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let ids: Vec<String> = ids.split(',').map(|s| s.trim().to_owned()).collect();
    if ids.len() > 100 {
        return Err(ApiError::Unprocessable(format!(
            "ids holds {} ids; at most 100",
            ids.len()
        )));
    }
    for id in &ids {
        FanslyId::parse("ids", id)?;
    }
    let metered = scope
        .call(prices::MEDIA_ACCOUNT_MEDIA, |fansly, account| async move {
            let found = fansly
                .account_media(&account.session, &ids)
                .await
                .map_err(|e| ApiError::upstream(&account.id, e))?;
            Ok(json!({"success": true, "response": found}))
        })
        .await?;
    Ok(metered.bare())
}

/// Download Media from the Fansly CDN: a 302 to the file (one credit).
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/media/download/{*cdnUrl}",
    operation_id = "downloadMediaFromTheFanslyCDN",
    params(
        ("cdnUrl" = String, Path, description = "The Fansly CDN URL, percent-encoded or as is"),
    ),
    responses(
        (status = 302, description = "Redirect to the file"),
        (status = 422, description = "Not a Fansly CDN URL"),
    ),
)]
async fn download(
    scope: AccountScope,
    Path((_account, cdn_url)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    // An unencoded URL brings its own query (the CDN signature) along as ours.
    let full = match query {
        Some(q) if !cdn_url.contains('?') => format!("{cdn_url}?{q}"),
        _ => cdn_url,
    };
    let target = cdn_target(&scope.state, &full)?;
    let location: HeaderValue = target
        .parse()
        .map_err(|_| ApiError::Unprocessable("cdnUrl is not a valid URL".into()))?;
    let metered = scope
        .call(prices::MEDIA_DOWNLOAD, |_, _| async move {
            Ok(Value::String(target))
        })
        .await?;
    let mut resp = metered.bare();
    *resp.status_mut() = StatusCode::FOUND;
    resp.headers_mut().insert(LOCATION, location);
    Ok(resp)
}

/// Only Fansly's CDN (or, in sandbox mode, the configured media host) is a
/// download target: anything else would make the gateway an open redirect.
fn cdn_target(state: &AppState, raw: &str) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::Unprocessable(format!("cdnUrl {why}, got {raw:?}"));
    // Some clients and proxies collapse `https://` to `https:/` in a path.
    let fixed = raw
        .strip_prefix("https:/")
        .filter(|r| !r.starts_with('/'))
        .map(|r| format!("https://{r}"))
        .unwrap_or_else(|| raw.to_owned());
    let url = url::Url::parse(&fixed).map_err(|_| bad("must be a full URL"))?;
    let host = url.host_str().unwrap_or_default();
    let fansly_cdn =
        url.scheme() == "https" && host.starts_with("cdn") && host.ends_with(".fansly.com");
    let sandbox = state.config.sandbox.enabled
        && url::Url::parse(&state.config.upstream.media_base).is_ok_and(|m| {
            m.host_str() == Some(host) && m.port_or_known_default() == url.port_or_known_default()
        });
    if fansly_cdn || sandbox {
        Ok(url.to_string())
    } else {
        Err(bad("must be a Fansly CDN URL (https://cdn*.fansly.com/…)"))
    }
}
