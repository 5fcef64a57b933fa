//! `/lists/...`: the creator's custom fan lists and their members.

use axum::extract::Path;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::core::ids::FanslyId;
use crate::fansly::lists;
use crate::http::envelope::Metered;
use crate::http::extract::ApiJson;
use crate::http::paging::NextPage;
use crate::http::params::Params;
use crate::http::routes::declare::endpoint;
use crate::http::scope::{AccountScope, Rows};
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_lists, create_list))
        .routes(routes!(reorder_lists))
        .routes(routes!(update_list, delete_list))
        .routes(routes!(list_items, add_items, remove_items))
        .routes(routes!(remove_item))
}

/// Longest label accepted (Fansly's own limit is unknown; INFERRED).
const MAX_LABEL: usize = 100;
/// Users per add/remove call, as for lookups.
const MAX_USERS: usize = 100;

fn label(raw: &str) -> Result<String, ApiError> {
    let label = raw.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL {
        return Err(ApiError::Unprocessable(format!(
            "label must be 1 to {MAX_LABEL} characters"
        )));
    }
    Ok(label.to_owned())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateListBody {
    /// The list's name.
    #[schema(example = "VIP")]
    label: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateListBody {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
// Distinct schema name: vault.rs has a ReorderBody of another shape, and one
// name in components/schemas would document both as whichever came last.
#[schema(as = ListReorderBody)]
#[serde(deny_unknown_fields)]
pub struct ReorderBody {
    /// Current 0-based position of the list.
    from: u32,
    /// Position it moves to.
    to: u32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsersBody {
    /// Fansly account ids (strings of digits), at most 100.
    #[schema(example = json!(["800000000000000002"]))]
    user_ids: Vec<String>,
}

impl UsersBody {
    fn ids(self) -> Result<Vec<String>, ApiError> {
        let mut ids: Vec<String> = Vec::new();
        for raw in &self.user_ids {
            let id = FanslyId::parse("user_ids", raw)?.into_string();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() || ids.len() > MAX_USERS {
            return Err(ApiError::Unprocessable(format!(
                "user_ids must name 1 to {MAX_USERS} users"
            )));
        }
        Ok(ids)
    }
}

endpoint! {
    /// List Lists: the creator's custom lists in dashboard order.
    get "/api/fansly/{fanslyAccount}/lists" "listLists",
    responses((status = 200, description = "`data` is Fansly's array of lists", body = Object)),
    fn list_lists => prices::LISTS_LIST, lists::lists
}

endpoint! {
    /// Create List: `{label, description?}`; answers the new list.
    post "/api/fansly/{fanslyAccount}/lists" "createList",
    request_body = CreateListBody,
    responses((status = 200, description = "`data` is the new list", body = Object), (status = 422, description = "Bad label")),
    fn create_list(scope: AccountScope, ApiJson(body): ApiJson<CreateListBody>) {
        let label = label(&body.label)?;
        let description = body.description.unwrap_or_default();
        scope
            .call(prices::LISTS_CREATE, |f, a| async move {
                lists::create(&f, &a, &label, &description).await
            })
            .await
    }
}

endpoint! {
    /// Reorder Lists: `{from, to}` (0-based positions); answers the lists in their new order.
    post "/api/fansly/{fanslyAccount}/lists/reorder" "reorderLists",
    request_body = ReorderBody,
    responses((status = 200, description = "`data` is the lists in their new order", body = Object)),
    fn reorder_lists(scope: AccountScope, ApiJson(body): ApiJson<ReorderBody>) {
        scope
            .call(prices::LISTS_REORDER, |f, a| async move {
                lists::reorder(&f, &a, body.from, body.to).await
            })
            .await
    }
}

/// Update List: new `label` and/or `description`.
#[utoipa::path(
    put,
    path = "/api/fansly/{fanslyAccount}/lists/{list_id}",
    operation_id = "updateList",
    request_body = UpdateListBody,
    responses((status = 200, description = "`data` is the updated list", body = Object), (status = 404, description = "Unknown list")),
)]
async fn update_list(
    scope: AccountScope,
    Path((_account, list)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateListBody>,
) -> Result<Metered, ApiError> {
    let list = FanslyId::parse("list_id", &list)?;
    if body.label.is_none() && body.description.is_none() {
        return Err(ApiError::Unprocessable(
            "give label and/or description to change".into(),
        ));
    }
    let new_label = body.label.as_deref().map(label).transpose()?;
    scope
        .call(prices::LISTS_UPDATE, |f, a| async move {
            lists::update(
                &f,
                &a,
                &list,
                new_label.as_deref(),
                body.description.as_deref(),
            )
            .await
        })
        .await
}

endpoint! {
    /// Delete List.
    delete "/api/fansly/{fanslyAccount}/lists/{list_id}" "deleteList",
    responses((status = 200, description = "`data` is Fansly's answer", body = Object), (status = 404, description = "Unknown list")),
    fn delete_list(list: "list_id") => prices::LISTS_DELETE, lists::delete
}

endpoint! {
    /// List Items in List: members as Fansly's `[{id, sortId, listId, type, metadata}]`
    /// (`id` = the member's account id).
    get "/api/fansly/{fanslyAccount}/lists/{list_id}/items" "listItemsInList",
    params(
        ("limit" = Option<String>, Query, description = "1 - 100, default 20"),
        ("offset" = Option<String>, Query, description = "Default 0"),
    ),
    responses((status = 200, description = "`data` is Fansly's array of items", body = Object), (status = 404, description = "Unknown list")),
    fn list_items(
        scope: AccountScope,
        Path((_account, list)): Path<(String, String)>,
        next: NextPage,
        params: Params,
    ) {
        let list = FanslyId::parse("list_id", &list)?;
        let page = params.page(20, 100)?;
        // The gateway walks Fansly's cursor and cuts the window itself.
        let rows = Rows::cut(None);
        scope
            .call_paged(prices::LISTS_ITEMS, next, page, rows, move |f, a, p| {
                let list = list.clone();
                async move { lists::items(&f, &a, &list, &p).await }
            })
            .await
    }
}

endpoint! {
    /// Add Users to List: `{user_ids: [...]}`; unknown users are a 404 naming them.
    post "/api/fansly/{fanslyAccount}/lists/{list_id}/items" "addUsersToList",
    request_body = UsersBody,
    responses((status = 200, description = "`data` is Fansly's answer", body = Object), (status = 404, description = "Unknown list or user")),
    fn add_items(scope: AccountScope, Path((_account, list)): Path<(String, String)>, ApiJson(body): ApiJson<UsersBody>) => members(scope, list, body, false)
}

endpoint! {
    /// Remove Users from List: `{user_ids: [...]}`.
    delete "/api/fansly/{fanslyAccount}/lists/{list_id}/items" "removeUsersFromList",
    request_body = UsersBody,
    responses((status = 200, description = "`data` is Fansly's answer", body = Object), (status = 404, description = "Unknown list")),
    fn remove_items(scope: AccountScope, Path((_account, list)): Path<(String, String)>, ApiJson(body): ApiJson<UsersBody>) => members(scope, list, body, true)
}

/// Add Users to List and Remove Users from List: the list id, then the
/// users, then Fansly's add or remove at the endpoint's price.
async fn members(
    scope: AccountScope,
    list: String,
    body: UsersBody,
    remove: bool,
) -> Result<Metered, ApiError> {
    let list = FanslyId::parse("list_id", &list)?;
    let ids = body.ids()?;
    let price = if remove {
        prices::LISTS_ITEMS_REMOVE
    } else {
        prices::LISTS_ITEMS_ADD
    };
    scope
        .call(price, |f, a| async move {
            if remove {
                lists::remove(&f, &a, &list, &ids).await
            } else {
                lists::add(&f, &a, &list, &ids).await
            }
        })
        .await
}

endpoint! {
    /// Remove User from List: `item_id` is the member's Fansly account id.
    delete "/api/fansly/{fanslyAccount}/lists/{list_id}/items/{item_id}" "removeUserFromList",
    params(
        ("item_id" = String, Path, description = "The member's Fansly account ID"),
    ),
    responses((status = 200, description = "`data` is Fansly's answer", body = Object), (status = 404, description = "Unknown list")),
    fn remove_item(
        scope: AccountScope,
        Path((_account, list, item)): Path<(String, String, String)>,
    ) {
        let list = FanslyId::parse("list_id", &list)?;
        let item = FanslyId::parse("item_id", &item)?;
        scope
            .call(prices::LISTS_ITEMS_REMOVE_ONE, |f, a| async move {
                lists::remove(&f, &a, &list, &[item.into_string()]).await
            })
            .await
    }
}
