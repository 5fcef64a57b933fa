//! `/vault/...`: the creator's vault — albums (list, create, edit, order,
//! add and remove media), an album's media by cursor, and uploads straight
//! into an album.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path};
use axum::response::Response;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::core::ids::FanslyId;
use crate::fansly::content;
use crate::http::envelope::Metered;
use crate::http::extract::ApiJson;
use crate::http::paging::NextPage;
use crate::http::params::Params;
use crate::http::routes::declare::endpoint;
use crate::http::scope::AccountScope;
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_albums, create_album))
        .routes(routes!(update_album))
        .routes(routes!(reorder_albums))
        .routes(routes!(add_media, remove_media))
        .routes(routes!(list_media))
        // The file is streamed and bounded by `media.max_upload_bytes`.
        .routes(routes!(upload_media).layer(DefaultBodyLimit::disable()))
}

/// Most media ids one add or remove call takes (INFERRED).
const MAX_MEDIA_IDS: usize = 100;

/// Longest title and description accepted (Fansly's limits are unknown; INFERRED).
const MAX_TITLE: usize = 100;
const MAX_DESCRIPTION: usize = 1000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAlbumBody {
    /// Album title (optional).
    #[schema(example = "Beach set")]
    #[serde(default)]
    title: Option<String>,
    /// Album description (optional).
    #[serde(default)]
    description: Option<String>,
}

endpoint! {
    /// List Vault Albums: the creator's albums in dashboard order.
    get "/api/fansly/{fanslyAccount}/vault/albums" "listVaultAlbums",
    responses((status = 200, description = "`data` is Fansly's answer to `/vault/albumsnew`", body = Object)),
    fn list_albums => prices::VAULT_ALBUMS_LIST, content::albums
}

endpoint! {
    /// Create Vault Album: `{title?, description?}`; answers the new album.
    post "/api/fansly/{fanslyAccount}/vault/albums" "createVaultAlbum",
    request_body = CreateAlbumBody,
    responses(
        (status = 200, description = "`data` is the new album", body = Object),
        (status = 422, description = "Title or description too long"),
    ),
    fn create_album(scope: AccountScope, ApiJson(body): ApiJson<CreateAlbumBody>) {
        let (title, description) = album_text(body.title, body.description)?;
        scope
            .call(prices::VAULT_ALBUMS_CREATE, |f, a| async move {
                content::create_album(&f, &a, &title, &description).await
            })
            .await
    }
}

/// A trimmed title and a description within their limits.
fn album_text(
    title: Option<String>,
    description: Option<String>,
) -> Result<(String, String), ApiError> {
    let title = title.unwrap_or_default().trim().to_owned();
    let description = description.unwrap_or_default();
    for (name, value, max) in [
        ("title", &title, MAX_TITLE),
        ("description", &description, MAX_DESCRIPTION),
    ] {
        if value.chars().count() > max {
            return Err(ApiError::Unprocessable(format!(
                "{name} must be at most {max} characters"
            )));
        }
    }
    Ok((title, description))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAlbumBody {
    /// New title; omitted = keep the current one.
    #[schema(example = "Beach set (June)")]
    title: Option<String>,
    /// New description; omitted = keep the current one.
    description: Option<String>,
}

/// Update Vault Album: edits the title and/or description.
#[utoipa::path(
    put,
    path = "/api/fansly/{fanslyAccount}/vault/albums/{album_id}",
    operation_id = "updateVaultAlbum",
    request_body = UpdateAlbumBody,
    responses(
        (status = 200, description = "`data` is the album as Fansly answers the edit", body = Object),
        (status = 404, description = "Unknown account or album"),
        (status = 422, description = "Nothing to change, a malformed id, or a title or description too long"),
    ),
)]
async fn update_album(
    scope: AccountScope,
    Path((_account, album_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateAlbumBody>,
) -> Result<Metered, ApiError> {
    let album_id = FanslyId::parse("album_id", &album_id)?;
    if body.title.is_none() && body.description.is_none() {
        return Err(ApiError::Unprocessable(
            "give title and/or description to change".into(),
        ));
    }
    let (keep_title, keep_description) = (body.title.is_none(), body.description.is_none());
    let (title, description) = album_text(body.title, body.description)?;
    scope
        .call(prices::VAULT_ALBUMS_UPDATE, |f, a| async move {
            // Fansly's edit takes the whole album: keep what is not changed.
            let (mut title, mut description) = (title, description);
            if keep_title || keep_description {
                let current = content::album(&f, &a, "album_id", &album_id).await?;
                let field = |k: &str| {
                    current
                        .get(k)
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                if keep_title {
                    title = field("title");
                }
                if keep_description {
                    description = field("description");
                }
            }
            content::update_album(&f, &a, &album_id, &title, &description).await
        })
        .await
}

#[derive(Deserialize, ToSchema)]
// Distinct schema name: lists.rs has a ReorderBody {from, to}.
#[schema(as = VaultReorderBody)]
#[serde(deny_unknown_fields)]
pub struct ReorderBody {
    /// The album to move (body names INFERRED).
    album_id: String,
    /// Its new position, 0 = first.
    position: i64,
}

endpoint! {
    /// Reorder Vault Albums: moves one album to another position.
    post "/api/fansly/{fanslyAccount}/vault/albums/reorder" "reorderVaultAlbums",
    request_body = ReorderBody,
    responses(
        (status = 200, description = "`data` is Fansly's answer: the albums in their new order", body = Object),
        (status = 404, description = "Unknown account or album"),
        (status = 422, description = "A malformed album id or a position outside the albums"),
    ),
    fn reorder_albums(scope: AccountScope, ApiJson(body): ApiJson<ReorderBody>) {
        let album_id = FanslyId::parse("album_id", &body.album_id)?;
        let position = usize::try_from(body.position).map_err(|_| {
            ApiError::Unprocessable(format!("position must be 0 or more, got {}", body.position))
        })?;
        scope
            .call(prices::VAULT_ALBUMS_REORDER, |f, a| async move {
                content::move_album(&f, &a, &album_id, position).await
            })
            .await
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlbumMediaBody {
    /// Fansly vault media ids or `fansly_media_` upload handles.
    #[serde(default)]
    media_ids: Option<Vec<String>>,
    /// The same, under the name other endpoints use.
    #[serde(default, rename = "mediaFiles")]
    media_files: Option<Vec<String>>,
}

impl AlbumMediaBody {
    /// The named media as vault ids, in order and without repeats: handles
    /// must be this account's and processed; vault ids must be ids.
    async fn vault_ids(
        self,
        state: &AppState,
        team: &str,
        account: &str,
    ) -> Result<Vec<String>, ApiError> {
        let (field, raw) = match (self.media_ids, self.media_files) {
            (Some(_), Some(_)) => {
                return Err(ApiError::Unprocessable(
                    "give media_ids or mediaFiles, not both".into(),
                ))
            }
            (Some(ids), None) => ("media_ids", ids),
            (None, Some(ids)) => ("mediaFiles", ids),
            (None, None) => return Err(ApiError::Unprocessable("media_ids is required".into())),
        };
        if raw.is_empty() || raw.len() > MAX_MEDIA_IDS {
            return Err(ApiError::Unprocessable(format!(
                "{field} must hold 1 to {MAX_MEDIA_IDS} ids, got {}",
                raw.len()
            )));
        }
        let mut out: Vec<String> = Vec::with_capacity(raw.len());
        for id in raw {
            let id = id.trim();
            let vault_id = if crate::core::ids::is_media_id(id) {
                let handle = crate::media::find(&state.db, team, account, id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("{field}: media {id} not found")))?;
                match (handle.status.as_str(), handle.media_id) {
                    (crate::media::COMPLETED, Some(v)) => v,
                    (status, _) => {
                        return Err(ApiError::Conflict(format!(
                            "{field}: media {id} is not ready (status: {status})"
                        )))
                    }
                }
            } else {
                FanslyId::parse(field, id).map(String::from).map_err(|_| {
                    ApiError::Unprocessable(format!(
                        "{field}: {id:?} is neither a Fansly vault media id nor a fansly_media_ id"
                    ))
                })?
            };
            if !out.contains(&vault_id) {
                out.push(vault_id);
            }
        }
        Ok(out)
    }
}

endpoint! {
    /// Add Media to Album: existing vault media (vault ids or upload handles).
    post "/api/fansly/{fanslyAccount}/vault/albums/{album_id}/media" "addMediaToAlbum",
    request_body = AlbumMediaBody,
    responses(
        (status = 200, description = "`data` is Fansly's answer (the album)", body = Object),
        (status = 404, description = "Unknown account, album or media"),
        (status = 409, description = "An upload handle is not processed yet"),
        (status = 422, description = "No media, too many, or a malformed id"),
    ),
    fn add_media(
        scope: AccountScope,
        Path((_account, album_id)): Path<(String, String)>,
        ApiJson(body): ApiJson<AlbumMediaBody>,
    ) {
        album_media(scope, album_id, body, false).await
    }
}

endpoint! {
    /// Remove Media from Album: detaches media; they stay in the vault.
    delete "/api/fansly/{fanslyAccount}/vault/albums/{album_id}/media" "removeMediaFromAlbum",
    request_body = AlbumMediaBody,
    responses(
        (status = 200, description = "`data` is Fansly's answer (the album)", body = Object),
        (status = 404, description = "Unknown account or album, or media not in the album"),
        (status = 409, description = "An upload handle is not processed yet"),
        (status = 422, description = "No media, too many, or a malformed id"),
    ),
    fn remove_media(
        scope: AccountScope,
        Path((_account, album_id)): Path<(String, String)>,
        ApiJson(body): ApiJson<AlbumMediaBody>,
    ) {
        album_media(scope, album_id, body, true).await
    }
}

async fn album_media(
    scope: AccountScope,
    album_id: String,
    body: AlbumMediaBody,
    remove: bool,
) -> Result<Metered, ApiError> {
    let album_id = FanslyId::parse("album_id", &album_id)?;
    let media = body
        .vault_ids(&scope.state, scope.team(), &scope.account.id)
        .await?;
    let price = if remove {
        prices::VAULT_ALBUMS_MEDIA_REMOVE
    } else {
        prices::VAULT_ALBUMS_MEDIA_ADD
    };
    scope
        .call(price, |fansly, account| async move {
            content::album_media(&fansly, &account, &album_id, &media, remove).await
        })
        .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query for OpenAPI; read through `Params`
struct MediaQuery {
    /// The album to page through; omit for the whole vault.
    album_id: Option<String>,
    /// Id of the last albumMedia entry of the previous page; omit or 0 for the first page.
    before: Option<String>,
}

/// List Vault Media: an album's media, newest first, by cursor.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/vault/media",
    operation_id = "listVaultMedia",
    params(MediaQuery),
    responses(
        (status = 200, description = "`data` is Fansly's page `{albumMedia[], media[]}`; `_pagination.next_page` continues it", body = Object),
        (status = 404, description = "Unknown account or album"),
        (status = 422, description = "A malformed id"),
    ),
)]
async fn list_media(
    scope: AccountScope,
    params: Params,
    next: NextPage,
) -> Result<Metered, ApiError> {
    let album_id = params.snowflake("album_id")?;
    let before = params.snowflake("before")?.filter(|b| b != "0");
    if params.get("after").is_some() {
        return Err(ApiError::Unprocessable(
            "after is not supported; page with before".into(),
        ));
    }
    let album = album_id.clone();
    let metered = scope
        .call(prices::VAULT_MEDIA_LIST, |fansly, account| async move {
            content::vault_media(&fansly, &account, album.as_deref(), before.as_deref()).await
        })
        .await?;
    let next = next
        .only(&[("album_id", album_id.map(String::from))])
        .cursor("before", content::next_vault_before(&metered.data));
    Ok(metered.with_next_page(next))
}

/// Upload Media to Vault: Upload Media's pipeline (multipart `file` or
/// `file_url`, `async`), then the media is added to `album_id` (default:
/// the account's default vault album).
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/vault/media/upload",
    operation_id = "uploadMediaToVault",
    request_body(content_type = "multipart/form-data", description = "`file` (binary, max 100 MB) or `file_url`; optional `async=true`; optional `album_id`"),
    responses(
        (status = 200, description = "As Upload Media, plus `album_id`: bare `{prefixed_id, file_name, media_id, media, credits_used, album_id}`; with async: `{status, prefixed_id, polling_url, album_id}`", body = Object),
        (status = 402, description = "Not enough credits for the file's size"),
        (status = 404, description = "Unknown account or album"),
        (status = 413, description = "File over the limit"),
        (status = 422, description = "Neither or both of file / file_url, a non-media file, a malformed album_id"),
    ),
)]
async fn upload_media(
    scope: AccountScope,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    crate::http::routes::media::run_upload(scope, form, true).await
}
