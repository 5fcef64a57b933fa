//! `GET /docs`: the API reference, rendered in the browser from
//! `/openapi.json` by a vendored copy of Scalar's standalone bundle
//! (crates/gateway/assets/docs, MIT, notice beside it), compiled into the
//! binary so it works offline. A Content-Security-Policy confines the page to
//! this origin: whatever the bundle could reach for (fonts, Scalar's cloud,
//! its proxy), the browser loads and connects to nothing else.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::http::state::AppState;

const INDEX: &str = include_str!("../../assets/docs/index.html");
const INIT: &str = include_str!("../../assets/docs/init.js");
const SCALAR: &[u8] = include_bytes!("../../assets/docs/scalar-api-reference-1.46.4.min.js");

/// Only this origin. Inline styles: the bundle injects its stylesheet at run
/// time; `data:`/`blob:` images and workers are made in the page itself.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
     frame-ancestors 'self'; base-uri 'self'; form-action 'self'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/docs", get(index))
        .route("/docs/assets/init.js", get(init))
        .route("/docs/assets/scalar-api-reference.js", get(scalar))
}

async fn index() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CONTENT_SECURITY_POLICY, CSP),
            (CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

async fn init() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        INIT,
    )
        .into_response()
}

async fn scalar() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        SCALAR,
    )
        .into_response()
}
