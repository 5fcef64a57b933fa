//! `/api/webhooks/...`: the team's webhook endpoints, the event catalog,
//! example payloads, the delivery log and redelivery. Team-level (not under
//! `/api/fansly`) as the vendor has them, and free of credits: deliveries
//! are what is metered.

use axum::extract::Path;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::events::catalog::CATALOG;
use crate::http::extract::ApiJson;
use crate::http::paging::NextPage;
use crate::http::params::Params;
use crate::http::routes::declare::endpoint;
use crate::http::scope::TeamScope;
use crate::http::state::AppState;
use crate::metering::prices;
use crate::webhooks::deliveries as deliver;
use crate::webhooks::endpoints::{self, Changes};
use crate::webhooks::examples;
use crate::webhooks::store;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(list_event_types))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
        .routes(routes!(example_payload))
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

endpoint! {
    /// List Webhooks: the team's endpoints, oldest first.
    get "/api/webhooks" "listWebhooks",
    responses((status = 200, description = "`data` is `[{id, url, endpoint_url, events, has_signing_secret, enabled, account_scope, account_ids, disabled_reason, failing_since, created_at, updated_at}]`", body = Object)),
    fn list_webhooks(team: TeamScope) {
        let hooks = store::list(&team.state.db, team.team()).await?;
        let data: Vec<Value> = hooks.iter().map(store::Webhook::to_json).collect();
        team.free(prices::WEBHOOKS_LIST, json!(data)).await
    }
}

endpoint! {
    /// Create Webhook: `endpoint_url`, `events`, `account_scope` required;
    /// `account_ids` unless global; `signing_secret` and `enabled` optional.
    post "/api/webhooks" "createWebhook",
    request_body = WebhookBody,
    responses(
        (status = 200, description = "`data` is the new endpoint", body = Object),
        (status = 422, description = "A field is missing or wrong (the message names it)"),
    ),
    fn create_webhook(team: TeamScope, ApiJson(body): ApiJson<WebhookBody>) {
        let state = &team.state;
        let changes = body.changes(state).await?;
        let keyring = state.sessions.keyring.as_deref();
        let hook = endpoints::create(&state.db, keyring, team.team(), changes).await?;
        team.free(prices::WEBHOOKS_CREATE, hook.to_json()).await
    }
}

endpoint! {
    /// The event types an endpoint can subscribe to: `[{value, description}]`.
    get "/api/webhooks/events" "listWebhookEvents",
    responses((status = 200, description = "`data` is `[{value, description}]`", body = Object)),
    fn list_event_types(team: TeamScope) {
        let data: Vec<Value> = CATALOG
            .iter()
            .map(|t| json!({"value": t.name, "description": t.description}))
            .collect();
        team.free(prices::WEBHOOKS_EVENTS, json!(data)).await
    }
}

endpoint! {
    /// Get Webhook.
    get "/api/webhooks/{webhook_id}" "getWebhook",
    responses((status = 200, description = "`data` is the endpoint", body = Object), (status = 404, description = "Unknown webhook")),
    fn get_webhook(team: TeamScope, Path(id): Path<String>) {
        let hook = store::get(&team.state.db, team.team(), &id).await?;
        team.free(prices::WEBHOOKS_GET, hook.to_json()).await
    }
}

endpoint! {
    /// Update Webhook: any of the create fields; the answer echoes them all.
    /// `enabled: true` re-enables an endpoint the gateway disabled and sends
    /// the deliveries it held.
    put "/api/webhooks/{webhook_id}" "updateWebhook",
    request_body = WebhookBody,
    responses(
        (status = 200, description = "`data` is the updated endpoint", body = Object),
        (status = 404, description = "Unknown webhook"),
        (status = 422, description = "A field is wrong (the message names it)"),
    ),
    fn update_webhook(
        team: TeamScope,
        Path(id): Path<String>,
        ApiJson(body): ApiJson<WebhookBody>,
    ) {
        let state = &team.state;
        store::get(&state.db, team.team(), &id).await?;
        let changes = body.changes(state).await?;
        let keyring = state.sessions.keyring.as_deref();
        let hook = endpoints::update(&state.db, keyring, team.team(), &id, changes).await?;
        if hook.enabled {
            state.events.recorded().notify_waiters();
        }
        team.free(prices::WEBHOOKS_UPDATE, hook.to_json()).await
    }
}

endpoint! {
    /// Delete Webhook, with its delivery log.
    delete "/api/webhooks/{webhook_id}" "deleteWebhook",
    responses((status = 200, description = "`data` is `{id, deleted: true}`", body = Object), (status = 404, description = "Unknown webhook")),
    fn delete_webhook(team: TeamScope, Path(id): Path<String>) {
        store::delete(&team.state.db, team.team(), &id).await?;
        team.free(prices::WEBHOOKS_DELETE, json!({"id": id, "deleted": true})).await
    }
}

endpoint! {
    /// List Deliveries: newest first, each with every attempt made
    /// (`limit` 1–100, default 20; `offset`). Kept for the configured retention.
    get "/api/webhooks/{webhook_id}/deliveries" "listWebhookDeliveries",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1–100, default 20"),
        ("offset" = Option<u32>, Query, maximum = 2147483647, description = "Default 0"),
    ),
    responses((status = 200, description = "`data` is `[{id, event, event_id, account_id, idempotency_key, redelivery_of, status, attempt_count, next_attempt_at, last_error, delivered_at, created_at, request_body, attempts: [{attempt, url, started_at, status_code, latency_ms, response_excerpt, error}]}]`", body = Object), (status = 404, description = "Unknown webhook")),
    fn list_deliveries(team: TeamScope, Path(id): Path<String>, params: Params, next: NextPage) {
        let db = &team.state.db;
        store::get(db, team.team(), &id).await?;
        let page = params.page(20, 100)?;
        let mut rows = deliver::list(db, &id, page.limit + 1, page.offset).await?;
        let next = next.after_extra_row(&page, &mut rows);
        team.free_page(prices::WEBHOOKS_DELIVERIES, json!(rows), next).await
    }
}

endpoint! {
    /// Get Delivery: one delivery with its attempts.
    get "/api/webhooks/{webhook_id}/deliveries/{delivery_id}" "getWebhookDelivery",
    params(
        ("delivery_id" = String, Path, description = "Delivery id"),
    ),
    responses((status = 200, description = "`data` is the delivery", body = Object), (status = 404, description = "Unknown webhook or delivery")),
    fn get_delivery(team: TeamScope, Path((id, delivery)): Path<(String, String)>) {
        store::get(&team.state.db, team.team(), &id).await?;
        let data = deliver::get(&team.state.db, &id, &delivery)
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!("delivery {delivery} of webhook {id} not found"))
            })?;
        team.free(prices::WEBHOOKS_DELIVERY, data).await
    }
}

endpoint! {
    /// Redeliver: sends the delivery again, verbatim (same body and
    /// idempotency key), to the endpoint's current URL with its current secret
    /// and `X-OFAPI-Redelivery-Of: <delivery_id>`. Billed like any delivery
    /// once it succeeds. Answers the new delivery (pending).
    post "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver" "redeliverWebhookDelivery",
    params(
        ("delivery_id" = String, Path, description = "The delivery to send again"),
    ),
    responses(
        (status = 200, description = "`data` is the new delivery", body = Object),
        (status = 404, description = "Unknown webhook or delivery"),
        (status = 409, description = "The webhook is disabled"),
    ),
    fn redeliver(team: TeamScope, Path((id, delivery)): Path<(String, String)>) {
        let new_id = deliver::redeliver(&team.state.db, team.team(), &id, &delivery).await?;
        let data = queued(&team.state, &id, &new_id).await?;
        team.free(prices::WEBHOOKS_REDELIVER, data).await
    }
}

/// Wakes the delivery worker for a delivery just queued to `webhook`, and
/// answers it (pending) as the delivery log shows it.
pub(crate) async fn queued(
    state: &AppState,
    webhook: &str,
    delivery: &str,
) -> Result<Value, ApiError> {
    state.events.recorded().notify_waiters();
    Ok(deliver::get(&state.db, webhook, delivery)
        .await?
        .unwrap_or(Value::Null))
}

endpoint! {
    /// Example Payload: the body a delivery of this event type carries
    /// (`{event, account_id, payload}`), with a realistic Fansly-native payload.
    get "/api/webhooks/{webhookEventType}/example-payload" "getWebhookExamplePayload",
    params(("webhookEventType" = String, Path, description = "An event type, e.g. fansly.messages.received")),
    responses((status = 200, description = "`data` is `{event, account_id, payload}`", body = Object), (status = 404, description = "Unknown event type")),
    fn example_payload(team: TeamScope, Path(event_type): Path<String>) {
        let name = endpoints::normalise_event(&event_type).ok_or_else(|| {
            ApiError::NotFound(format!(
                "unknown event type {event_type:?}; GET /api/webhooks/events lists them"
            ))
        })?;
        let payload = examples::payload(name).unwrap_or(Value::Null);
        let data = json!({"event": name, "account_id": "fansly_acct_123", "payload": payload});
        team.free(prices::WEBHOOKS_EXAMPLE, data).await
    }
}
