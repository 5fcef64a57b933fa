//! Assembles the sandbox's routes: every route file's `router()`, the
//! plain-text 404 fallback, the middleware that logs requests and
//! applies faults (`control::intercept`), and, outermost, gzip/br
//! compression of answers whose request asked for it (Fansly's CDN
//! compresses; the log and the HAR keep the plain bodies).

use axum::Router;

use crate::state::AppState;
use crate::{
    accounts_api, business_api, content_api, control, drift_api, fan_control, groups_api,
    login_api, mass_api, media_api, messages_api, ws,
};

pub fn router(state: AppState) -> Router {
    accounts_api::router()
        .merge(groups_api::router())
        .merge(login_api::router())
        .merge(messages_api::router())
        .merge(media_api::router())
        .merge(business_api::fans::router())
        .merge(business_api::earnings::router())
        .merge(business_api::lists::router())
        .merge(business_api::tracking::router())
        .merge(business_api::insights::router())
        .merge(content_api::walls::router())
        .merge(content_api::posts::router())
        .merge(content_api::post_stats::router())
        .merge(content_api::vault::router())
        .merge(content_api::stories::router())
        .merge(fan_control::router())
        .merge(mass_api::router())
        .merge(control::router())
        .merge(drift_api::router())
        .merge(ws::protocol::router())
        .merge(ws::control::router())
        .merge(ws::events::router())
        .fallback(crate::envelope::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            control::intercept,
        ))
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}
