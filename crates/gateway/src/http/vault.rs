//! `/vault/albums`: the creator's vault albums — list and create.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::content;
use crate::error::ApiError;
use crate::http::calls::{call, endpoint};
use crate::http::envelope::Metered;
use crate::http::extract::{ApiJson, Authed};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_albums, create_album))
}

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

/// List Vault Albums: the creator's albums in dashboard order.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/vault/albums",
    tag = "Vault",
    operation_id = "listVaultAlbums",
    params(("fanslyAccount" = String, Path, description = "The Fansly Account ID")),
    responses((status = 200, description = "`data` is Fansly's answer to `/vault/albumsnew`", body = Object)),
    security(("default" = []))
)]
async fn list_albums(
    State(state): State<AppState>,
    authed: Authed,
    Path(account): Path<String>,
) -> Result<Metered, ApiError> {
    call(
        &state,
        authed,
        &account,
        endpoint("vault.albums.list"),
        |f, a| async move { content::albums(&f, &a).await },
    )
    .await
}

/// Create Vault Album: `{title?, description?}`; answers the new album.
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/vault/albums",
    tag = "Vault",
    operation_id = "createVaultAlbum",
    params(("fanslyAccount" = String, Path, description = "The Fansly Account ID")),
    request_body = CreateAlbumBody,
    responses(
        (status = 200, description = "`data` is the new album", body = Object),
        (status = 422, description = "Title or description too long"),
    ),
    security(("default" = []))
)]
async fn create_album(
    State(state): State<AppState>,
    authed: Authed,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<CreateAlbumBody>,
) -> Result<Metered, ApiError> {
    let title = body.title.unwrap_or_default().trim().to_owned();
    let description = body.description.unwrap_or_default();
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
    call(
        &state,
        authed,
        &account,
        endpoint("vault.albums.create"),
        |f, a| async move { content::create_album(&f, &a, &title, &description).await },
    )
    .await
}
