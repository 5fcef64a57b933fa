//! Every route and the OpenAPI document generated from the same list, behind
//! the tower layers every request passes (request id, tracing, panic → JSON
//! 500, body limit).

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

use crate::core::error::ApiError;
use crate::http::routes;
use crate::http::state::AppState;

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
        (name = "Mass Messaging", description = "Broadcasts to lists, tiers and fans, scheduled and fanned out by the gateway"),
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
    let (routes, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::health::router())
        .merge(routes::accounts::router())
        .merge(routes::connect::router())
        .merge(routes::chats::router())
        .merge(routes::messages::router())
        .merge(routes::media::router())
        .merge(routes::users::router())
        .merge(routes::fans::router())
        .merge(routes::earnings::router())
        .merge(routes::lists::router())
        .merge(routes::tracking_links::router())
        .merge(routes::insights::router())
        .merge(routes::walls::router())
        .merge(routes::posts::router())
        .merge(routes::vault::router())
        .merge(routes::stories::router())
        .merge(routes::mass_messaging::router())
        .merge(routes::webhooks::router())
        .split_for_parts();
    // Added to the merged document: a modifier on ApiDoc would run before the routes exist.
    crate::http::idempotency::IdempotencyHeader.modify(&mut doc);
    (routes, doc)
}

pub fn router(state: AppState) -> Router {
    let (routes, doc) = api();
    let doc = std::sync::Arc::new(doc);
    let request_id = HeaderName::from_static("x-request-id");
    let app = routes
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::idempotency::layer,
        ))
        .with_state(state.clone())
        .layer(CatchPanicLayer::custom(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "Internal server error"})),
            )
                .into_response()
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid));
    crate::http::mcp::server::mount(app, state)
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
