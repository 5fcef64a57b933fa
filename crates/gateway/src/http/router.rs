//! Every route and the OpenAPI document generated from the same list, behind
//! the tower layers every request passes (request id, tracing, panic → JSON
//! 500, body limit).

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::{RefOr, Response as DocResponse};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::core::error::ApiError;
use crate::http::openapi::tagged;
use crate::http::routes;
use crate::http::state::AppState;
use crate::metering::prices::{self, Price};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fansly-gateway",
        description = "Self-hosted, wire-compatible implementation of the vendor's Fansly API."
    ),
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
        (name = "Data exports", description = "Chat message exports (fansly_chat_messages), run in the background, downloaded as CSV or JSON Lines"),
        (name = "Health", description = "Liveness and readiness"),
        (name = "Console", description = "The gateway's own team routes behind the web console (/console): keys, ledger, usage, recent requests, sandbox controls"),
    )
)]
struct ApiDoc;

/// What every authenticated operation shares, stated once: the bearer
/// scheme, and the 401/402/404/422/429 answers where they apply (an
/// operation's own description of a status, when it has one, is kept).
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "default",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                let public = op
                    .tags
                    .as_ref()
                    .is_some_and(|t| t.iter().any(|t| t == "Health"));
                if public {
                    continue;
                }
                op.security = Some(vec![SecurityRequirement::new(
                    "default",
                    Vec::<String>::new(),
                )]);
                let charged = op
                    .operation_id
                    .as_deref()
                    .and_then(prices::by_operation)
                    .is_some_and(|p| matches!(p, Price::Metered(e) if e.cost > 0));
                let mut shared = vec![
                    ("401", "Missing, invalid or revoked API key"),
                    (
                        "422",
                        "A malformed parameter or body (the message names it)",
                    ),
                    ("429", "Rate limited (team or Fansly)"),
                ];
                if charged {
                    shared.push(("402", "Out of credits"));
                }
                if path.contains("{fanslyAccount}") {
                    shared.push(("404", "Unknown account"));
                }
                for (status, description) in shared {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(DocResponse::new(description)));
                }
            }
        }
    }
}

/// Every route, and the OpenAPI document generated from the same list: each
/// resource's routes with the tag (of `ApiDoc`'s list) its operations get
/// unless they name their own.
pub fn api() -> (Router<AppState>, OpenApiDoc) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::health::router())
        .merge(tagged("Account", routes::accounts::router()))
        .merge(tagged("Connect Fansly Account", routes::connect::router()))
        .merge(tagged("Chats", routes::chats::router()))
        .merge(tagged("Chat Messages", routes::messages::router()))
        .merge(tagged("Media", routes::media::router()))
        .merge(tagged("Users", routes::users::router()))
        .merge(tagged("Subscribers", routes::fans::router()))
        .merge(tagged("Earnings", routes::earnings::router()))
        .merge(tagged("Lists", routes::lists::router()))
        .merge(tagged("Tracking Links", routes::tracking_links::router()))
        .merge(tagged("Profile Statistics", routes::insights::router()))
        .merge(tagged("Walls", routes::walls::router()))
        .merge(tagged("Posts", routes::posts::router()))
        .merge(tagged("Vault", routes::vault::router()))
        .merge(tagged("Stories", routes::stories::router()))
        .merge(tagged("Mass Messaging", routes::mass_messaging::router()))
        .merge(tagged("Webhooks", routes::webhooks::router()))
        .merge(tagged("Data exports", routes::data_exports::router()))
        .merge(tagged("Console", routes::console_api::router()))
        .merge(tagged("Console", routes::console_mcp::router()))
        .merge(tagged("Console", routes::console_sandbox::router()))
        .split_for_parts();
    // After the merge: a modifier in `#[openapi(modifiers(…))]` runs before
    // the routes' operations are added.
    let mut doc = doc;
    SharedResponses.modify(&mut doc);
    crate::http::idempotency::IdempotencyHeader.modify(&mut doc);
    (router, doc)
}

pub fn router(state: AppState) -> Router {
    let (routes, mut doc) = api();
    crate::http::openapi::finish(&mut doc);
    let doc = std::sync::Arc::new(doc);
    let request_id = HeaderName::from_static("x-request-id");
    // Each `Router::layer` (and `route_layer`) call wraps every route in one
    // more boxed service, and a request clones the boxed chain below each
    // layer it passes: with a call per layer that was ~60 allocations per
    // request, the largest share of the gateway's (BENCHMARKS.md, thirteenth
    // round). So each group of layers is one `ServiceBuilder`, one box per
    // route. In a `ServiceBuilder` the first layer is the outermost.
    let app = routes
        // Only where a route matched: a method or path the API lacks is a
        // 405/404 whatever Idempotency-Key it carries, never a key conflict.
        // The idempotency layer runs the request log's inside it (one
        // layer, not two: see `idempotency::layer`).
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::idempotency::layer,
        ))
        .merge(crate::http::console::pages::router())
        .merge(crate::http::docs::router())
        .merge(crate::http::observe::router())
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .layer(
            ServiceBuilder::new()
                // tower's `map_request`, not axum's: a plain function of the
                // request needs no boxed future or clone of what it wraps.
                .map_request(crate::http::hardening::sanitize_request_id)
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                // One request span, opened by `track` (request id, route,
                // account, team); the trace layer logs its events inside it
                // instead of opening a second span with the same fields.
                .layer(axum::middleware::from_fn(crate::http::observe::track))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|_: &Request| tracing::Span::current()),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(|_| {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(json!({"error": "Internal server error"})),
                    )
                        .into_response()
                }))
                // Outside the idempotency layer: a stored answer is replayed
                // through the same JSON-error shaping as the first. In this
                // group, not a `layer` call of its own: one boxed service
                // per route fewer to clone on every request.
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    crate::http::hardening::json_errors,
                ))
                .layer(DefaultBodyLimit::max(state.config.max_body_bytes)),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation of `/openapi.json` has a price, and every price names
    /// an operation: a new route without a price fails here. A price marked
    /// as a read (run beside its reservation) serves GET operations only.
    #[test]
    fn every_operation_has_a_price() {
        let (_, doc) = api();
        let mut seen = Vec::new();
        let mut missing = Vec::new();
        let mut writes_priced_as_reads = Vec::new();
        for (path, item) in &doc.paths.paths {
            let operations = [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
            ];
            for (method, op) in operations {
                let Some(op) = op else { continue };
                let id = op.operation_id.clone().unwrap_or_default();
                match prices::by_operation(&id) {
                    None => missing.push(format!("{path} ({id})")),
                    Some(prices::Price::Metered(e)) if e.read && method != "GET" => {
                        writes_priced_as_reads.push(format!("{method} {path} ({id})"));
                    }
                    Some(_) => {}
                }
                let public = op
                    .tags
                    .as_ref()
                    .is_some_and(|t| t.iter().any(|t| t == "Health"));
                assert!(
                    public || (op.security.is_some() && op.responses.responses.contains_key("401")),
                    "{path} ({id}) lacks the shared security and responses"
                );
                seen.push(id);
            }
        }
        assert!(
            missing.is_empty(),
            "operations without a price: {missing:?}"
        );
        assert!(
            writes_priced_as_reads.is_empty(),
            "not GET, yet priced as a read: {writes_priced_as_reads:?}"
        );
        let stale: Vec<_> = prices::BY_OPERATION
            .iter()
            .filter(|(id, _)| !seen.iter().any(|s| s == id))
            .map(|(id, _)| *id)
            .collect();
        assert!(stale.is_empty(), "prices for no operation: {stale:?}");
    }
}
