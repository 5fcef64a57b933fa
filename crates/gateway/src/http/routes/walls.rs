//! `/walls`: the creator's profile walls (feeds).

use fansly_upstream::NewWall;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::core::ids::FanslyId;
use crate::fansly::content;
use crate::http::extract::ApiJson;
use crate::http::routes::declare::endpoint;
use crate::http::scope::AccountScope;
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_walls, create_wall))
}

/// Longest wall name accepted (Fansly's own limit is unknown; INFERRED).
const MAX_NAME: usize = 100;
/// Longest description accepted (INFERRED).
const MAX_DESCRIPTION: usize = 1000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWallBody {
    /// Wall name.
    #[schema(example = "Behind the scenes")]
    name: String,
    #[serde(default)]
    description: Option<String>,
    /// Make this the Main Feed.
    #[serde(default, rename = "setAsDefault")]
    set_as_default: bool,
    /// Visible only to the creator.
    #[serde(default)]
    private: bool,
    /// Wall id to copy all posts from.
    #[serde(default, rename = "copyFrom")]
    copy_from: Option<String>,
}

impl CreateWallBody {
    fn into_wall(self) -> Result<NewWall, ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(ApiError::Unprocessable(format!(
                "name must be 1 to {MAX_NAME} characters"
            )));
        }
        let description = self.description.unwrap_or_default();
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(ApiError::Unprocessable(format!(
                "description must be at most {MAX_DESCRIPTION} characters"
            )));
        }
        let copy_from = self
            .copy_from
            .map(|raw| FanslyId::parse("copyFrom", &raw).map(String::from))
            .transpose()?;
        Ok(NewWall {
            name: name.to_owned(),
            description,
            private: self.private,
            set_as_default: self.set_as_default,
            copy_from,
        })
    }
}

endpoint! {
    /// List Walls: the creator's walls, the main one flagged `mainWall`.
    get "/api/fansly/{fanslyAccount}/walls" "listWalls",
    responses((status = 200, description = "`data` is Fansly's array of walls", body = Object)),
    fn list_walls => prices::WALLS_LIST, content::walls
}

endpoint! {
    /// Create Wall: answers the new wall.
    post "/api/fansly/{fanslyAccount}/walls" "createWall",
    request_body = CreateWallBody,
    responses(
        (status = 200, description = "`data` is the new wall", body = Object),
        (status = 404, description = "copyFrom names no wall of the creator"),
        (status = 422, description = "Bad name, description or copyFrom")
    ),
    fn create_wall(scope: AccountScope, ApiJson(body): ApiJson<CreateWallBody>) {
        let wall = body.into_wall()?;
        scope
            .call(prices::WALLS_CREATE, |f, a| async move {
                content::create_wall(&f, &a, wall).await
            })
            .await
    }
}
