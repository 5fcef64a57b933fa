//! The vendor's wire format: routes, extractors, the `{data, _meta}`
//! envelope and error bodies. One module per resource.

mod accounts;
mod calls;
mod chats;
mod connect;
mod earnings;
pub mod envelope;
pub mod extract;
mod fans;
mod health;
mod insights;
mod lists;
mod media;
mod messages;
mod params;
mod posts;
mod stories;
mod tracking_links;
mod users;
mod vault;
mod walls;
mod webhooks;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fansly-gateway",
        description = "Self-hosted, wire-compatible implementation of the vendor's Fansly API."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "Account", description = "Your linked Fansly accounts"),
        (name = "Connect Fansly Account", description = "Connecting accounts: login, 2FA, re-login"),
        (name = "Chats", description = "Fansly chats (messaging groups)"),
        (name = "Chat Messages", description = "Messages in a Fansly chat"),
        (name = "Media", description = "Uploads, account media and CDN downloads"),
        (name = "Users", description = "Fansly users"),
        (name = "Followers", description = "Accounts following the creator"),
        (name = "Following", description = "Accounts the creator follows"),
        (name = "Subscribers", description = "Subscriptions and subscription tiers"),
        (name = "Lists", description = "The creator's custom fan lists"),
        (name = "Earnings", description = "Wallets, ledger, payouts and earnings statistics"),
        (name = "Top Supporters", description = "Fans ranked by spend (aggregated by the gateway)"),
        (name = "Tracking Links", description = "Tracking links and their daily counters"),
        (name = "Profile Statistics", description = "Viewer statistics"),
        (name = "Walls", description = "The creator's profile walls (feeds)"),
        (name = "Posts", description = "The creator's wall posts"),
        (name = "Vault", description = "The creator's vault albums"),
        (name = "Stories", description = "The creator's stories"),
        (name = "Webhooks", description = "Webhook endpoints, event types, deliveries and redelivery"),
        (name = "Health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "default",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every route, and the OpenAPI document generated from the same list.
pub fn api() -> (Router<AppState>, OpenApiDoc) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(accounts::router())
        .merge(connect::router())
        .merge(chats::router())
        .merge(messages::router())
        .merge(media::router())
        .merge(users::router())
        .merge(fans::router())
        .merge(earnings::router())
        .merge(lists::router())
        .merge(tracking_links::router())
        .merge(insights::router())
        .merge(walls::router())
        .merge(posts::router())
        .merge(vault::router())
        .merge(stories::router())
        .merge(webhooks::router())
        .split_for_parts()
}

pub fn router(state: AppState) -> Router {
    let (routes, doc) = api();
    let doc = std::sync::Arc::new(doc);
    let request_id = HeaderName::from_static("x-request-id");
    routes
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
        .layer(CatchPanicLayer::custom(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "Internal server error"})),
            )
                .into_response()
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn not_found(req: Request) -> Response {
    ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
    .into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
    }
    .into_response()
}
