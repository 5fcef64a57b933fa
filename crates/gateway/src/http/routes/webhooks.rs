//! `/api/webhooks/...`: the team's webhook endpoints, the event catalog,
//! example payloads, the delivery log and redelivery. Team-level (not under
//! `/api/fansly`) as the vendor has them, and free of credits: deliveries
//! are what is metered.

use axum::extract::{Path, State};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::events::catalog::CATALOG;
use crate::http::envelope::Metered;
use crate::http::extract::{ApiJson, Authed};
use crate::http::openapi::tagged;
use crate::http::paging::NextPage;
use crate::http::params::Params;
use crate::http::state::AppState;
use crate::metering::prices;
use crate::webhooks::deliveries as deliver;
use crate::webhooks::endpoints::{self, Changes};
use crate::webhooks::examples;
use crate::webhooks::store;

pub fn router() -> OpenApiRouter<AppState> {
    tagged(
        "Webhooks",
        OpenApiRouter::new()
            .routes(routes!(list_webhooks, create_webhook))
            .routes(routes!(list_event_types))
            .routes(routes!(get_webhook, update_webhook, delete_webhook))
            .routes(routes!(list_deliveries))
            .routes(routes!(get_delivery))
            .routes(routes!(redeliver))
            .routes(routes!(example_payload)),
    )
}

/// A webhook endpoint to create, or the fields to change (PUT: absent
/// fields stay as they are).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// Where events are POSTed (http or https; `url` is accepted too).
    #[schema(example = "https://bot.example/webhooks/onlyfansapi/fansly")]
    #[serde(default)]
    endpoint_url: Option<String>,
    #[serde(default)]
    url: Option<String>,
    /// `fansly.*` event types (GET /api/webhooks/events).
    #[schema(example = json!(["fansly.messages.received"]))]
    #[serde(default)]
    events: Option<Vec<String>>,
    /// `global`, `inclusive` (only `account_ids`) or `exclusive` (all but them).
    #[schema(example = "inclusive")]
    #[serde(default)]
    account_scope: Option<String>,
    /// `fansly_acct_…` ids of the team; required unless the scope is global.
    #[schema(example = json!(["fansly_acct_123"]))]
    #[serde(default)]
    account_ids: Option<Vec<String>>,
    /// At least 32 characters; signs every delivery. `null` or `""` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    signing_secret: Option<Option<String>>,
    /// New endpoints are disabled unless this says `true`.
    #[serde(default)]
    enabled: Option<bool>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl WebhookBody {
    async fn changes(self, state: &AppState) -> Result<Changes, ApiError> {
        let allow_private = state.config.webhooks.allow_private_targets;
        let url = match (self.endpoint_url, self.url) {
            (Some(a), Some(b)) if a.trim() != b.trim() => {
                return Err(ApiError::Unprocessable(
                    "endpoint_url and url differ; send one of them".into(),
                ))
            }
            (Some(u), _) | (None, Some(u)) => {
                Some(endpoints::validate_url(&u, allow_private).await?)
            }
            (None, None) => None,
        };
        Ok(Changes {
            url,
            events: self
                .events
                .as_deref()
                .map(endpoints::validate_events)
                .transpose()?,
            account_scope: self
                .account_scope
                .as_deref()
                .map(endpoints::validate_scope)
                .transpose()?,
            account_ids: self.account_ids,
            secret: self
                .signing_secret
                .map(|s| {
                    s.filter(|s| !s.is_empty())
                        .map(|s| endpoints::validate_secret(&s))
                        .transpose()
                })
                .transpose()?,
            enabled: self.enabled,
        })
    }
}

/// List Webhooks: the team's endpoints, oldest first.
#[utoipa::path(
    get,
    path = "/api/webhooks",
    operation_id = "listWebhooks",
    responses((status = 200, description = "`data` is `[{id, url, endpoint_url, events, has_signing_secret, enabled, account_scope, account_ids, disabled_reason, failing_since, created_at, updated_at}]`", body = Object)),
)]
async fn list_webhooks(State(state): State<AppState>, authed: Authed) -> Result<Metered, ApiError> {
    let hooks = store::list(&state.db, &authed.caller.team_id).await?;
    let data: Vec<Value> = hooks.iter().map(store::Webhook::to_json).collect();
    authed
        .free(&state, prices::WEBHOOKS_LIST, json!(data))
        .await
}

/// Create Webhook: `endpoint_url`, `events`, `account_scope` required;
/// `account_ids` unless global; `signing_secret` and `enabled` optional.
#[utoipa::path(
    post,
    path = "/api/webhooks",
    operation_id = "createWebhook",
    request_body = WebhookBody,
    responses(
        (status = 200, description = "`data` is the new endpoint", body = Object),
        (status = 422, description = "A field is missing or wrong (the message names it)"),
    ),
)]
async fn create_webhook(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<WebhookBody>,
) -> Result<Metered, ApiError> {
    let changes = body.changes(&state).await?;
    let hook = endpoints::create(
        &state.db,
        state.sessions.keyring.as_deref(),
        &authed.caller.team_id,
        changes,
    )
    .await?;
    authed
        .free(&state, prices::WEBHOOKS_CREATE, hook.to_json())
        .await
}

/// The event types an endpoint can subscribe to: `[{value, description}]`.
#[utoipa::path(
    get,
    path = "/api/webhooks/events",
    operation_id = "listWebhookEvents",
    responses((status = 200, description = "`data` is `[{value, description}]`", body = Object)),
)]
async fn list_event_types(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Metered, ApiError> {
    let data: Vec<Value> = CATALOG
        .iter()
        .map(|t| json!({"value": t.name, "description": t.description}))
        .collect();
    authed
        .free(&state, prices::WEBHOOKS_EVENTS, json!(data))
        .await
}

/// Get Webhook.
#[utoipa::path(
    get,
    path = "/api/webhooks/{webhook_id}",
    operation_id = "getWebhook",
    params(("webhook_id" = String, Path, description = "Webhook id (wh_…)")),
    responses((status = 200, description = "`data` is the endpoint", body = Object), (status = 404, description = "Unknown webhook")),
)]
async fn get_webhook(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<Metered, ApiError> {
    let hook = store::get(&state.db, &authed.caller.team_id, &id).await?;
    authed
        .free(&state, prices::WEBHOOKS_GET, hook.to_json())
        .await
}

/// Update Webhook: any of the create fields; the answer echoes them all.
/// `enabled: true` re-enables an endpoint the gateway disabled and sends
/// the deliveries it held.
#[utoipa::path(
    put,
    path = "/api/webhooks/{webhook_id}",
    operation_id = "updateWebhook",
    params(("webhook_id" = String, Path, description = "Webhook id (wh_…)")),
    request_body = WebhookBody,
    responses(
        (status = 200, description = "`data` is the updated endpoint", body = Object),
        (status = 404, description = "Unknown webhook"),
        (status = 422, description = "A field is wrong (the message names it)"),
    ),
)]
async fn update_webhook(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WebhookBody>,
) -> Result<Metered, ApiError> {
    store::get(&state.db, &authed.caller.team_id, &id).await?;
    let changes = body.changes(&state).await?;
    let hook = endpoints::update(
        &state.db,
        state.sessions.keyring.as_deref(),
        &authed.caller.team_id,
        &id,
        changes,
    )
    .await?;
    if hook.enabled {
        state.events.recorded().notify_waiters();
    }
    authed
        .free(&state, prices::WEBHOOKS_UPDATE, hook.to_json())
        .await
}

/// Delete Webhook, with its delivery log.
#[utoipa::path(
    delete,
    path = "/api/webhooks/{webhook_id}",
    operation_id = "deleteWebhook",
    params(("webhook_id" = String, Path, description = "Webhook id (wh_…)")),
    responses((status = 200, description = "`data` is `{id, deleted: true}`", body = Object), (status = 404, description = "Unknown webhook")),
)]
async fn delete_webhook(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<Metered, ApiError> {
    store::delete(&state.db, &authed.caller.team_id, &id).await?;
    authed
        .free(
            &state,
            prices::WEBHOOKS_DELETE,
            json!({"id": id, "deleted": true}),
        )
        .await
}

/// List Deliveries: newest first, each with every attempt made
/// (`limit` 1–100, default 20; `offset`). Kept for the configured retention.
#[utoipa::path(
    get,
    path = "/api/webhooks/{webhook_id}/deliveries",
    operation_id = "listWebhookDeliveries",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1–100, default 20"),
        ("offset" = Option<u32>, Query, maximum = 2147483647, description = "Default 0"),
    ),
    responses((status = 200, description = "`data` is `[{id, event, event_id, account_id, idempotency_key, redelivery_of, status, attempt_count, next_attempt_at, last_error, delivered_at, created_at, request_body, attempts: [{attempt, url, started_at, status_code, latency_ms, response_excerpt, error}]}]`", body = Object), (status = 404, description = "Unknown webhook")),
)]
async fn list_deliveries(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    params: Params,
    next: NextPage,
) -> Result<Metered, ApiError> {
    store::get(&state.db, &authed.caller.team_id, &id).await?;
    let page = params.page(20, 100)?;
    // One more than asked, so an exactly full last page ends the paging.
    let mut rows = deliver::list(&state.db, &id, page.limit + 1, page.offset).await?;
    let more = rows.len() > page.limit as usize;
    rows.truncate(page.limit as usize);
    let next = next.after(&page, rows.len(), more);
    Ok(authed
        .free(&state, prices::WEBHOOKS_DELIVERIES, json!(rows))
        .await?
        .with_next_page(next))
}

/// Get Delivery: one delivery with its attempts.
#[utoipa::path(
    get,
    path = "/api/webhooks/{webhook_id}/deliveries/{delivery_id}",
    operation_id = "getWebhookDelivery",
    params(
        ("delivery_id" = String, Path, description = "Delivery id"),
    ),
    responses((status = 200, description = "`data` is the delivery", body = Object), (status = 404, description = "Unknown webhook or delivery")),
)]
async fn get_delivery(
    State(state): State<AppState>,
    authed: Authed,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Metered, ApiError> {
    store::get(&state.db, &authed.caller.team_id, &id).await?;
    let data = deliver::get(&state.db, &id, &delivery)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("delivery {delivery} of webhook {id} not found"))
        })?;
    authed.free(&state, prices::WEBHOOKS_DELIVERY, data).await
}

/// Redeliver: sends the delivery again, verbatim (same body and
/// idempotency key), to the endpoint's current URL with its current secret
/// and `X-OFAPI-Redelivery-Of: <delivery_id>`. Billed like any delivery
/// once it succeeds. Answers the new delivery (pending).
#[utoipa::path(
    post,
    path = "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    operation_id = "redeliverWebhookDelivery",
    params(
        ("delivery_id" = String, Path, description = "The delivery to send again"),
    ),
    responses(
        (status = 200, description = "`data` is the new delivery", body = Object),
        (status = 404, description = "Unknown webhook or delivery"),
        (status = 409, description = "The webhook is disabled"),
    ),
)]
async fn redeliver(
    State(state): State<AppState>,
    authed: Authed,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Metered, ApiError> {
    let new_id = deliver::redeliver(&state.db, &authed.caller.team_id, &id, &delivery).await?;
    state.events.recorded().notify_waiters();
    let data = deliver::get(&state.db, &id, &new_id)
        .await?
        .unwrap_or(Value::Null);
    authed.free(&state, prices::WEBHOOKS_REDELIVER, data).await
}

/// Example Payload: the body a delivery of this event type carries
/// (`{event, account_id, payload}`), with a realistic Fansly-native payload.
#[utoipa::path(
    get,
    path = "/api/webhooks/{webhookEventType}/example-payload",
    operation_id = "getWebhookExamplePayload",
    params(("webhookEventType" = String, Path, description = "An event type, e.g. fansly.messages.received")),
    responses((status = 200, description = "`data` is `{event, account_id, payload}`", body = Object), (status = 404, description = "Unknown event type")),
)]
async fn example_payload(
    State(state): State<AppState>,
    authed: Authed,
    Path(event_type): Path<String>,
) -> Result<Metered, ApiError> {
    let name = endpoints::normalise_event(&event_type).ok_or_else(|| {
        ApiError::NotFound(format!(
            "unknown event type {event_type:?}; GET /api/webhooks/events lists them"
        ))
    })?;
    let payload = examples::payload(name).unwrap_or(Value::Null);
    let data = json!({"event": name, "account_id": "fansly_acct_123", "payload": payload});
    authed.free(&state, prices::WEBHOOKS_EXAMPLE, data).await
}
