//! `/api/console/sandbox/...` (sandbox mode only, 404 otherwise): the
//! console's Sandbox page steers the in-process Fansly sandbox through these,
//! so a demo needs no curl and the browser no second origin. Each forwards
//! to the sandbox's own `/_sandbox` route and answers what it answered.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::http::params::Params;
use crate::http::routes::declare::endpoint;
use crate::http::scope::TeamScope;
use crate::http::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sandbox_event))
        .routes(routes!(sandbox_emails))
}

/// The sandbox's base URL, or 404 outside sandbox mode.
fn sandbox_base(state: &AppState) -> Result<String, ApiError> {
    if !state.config.sandbox.enabled {
        return Err(ApiError::NotFound(
            "the sandbox routes exist only in sandbox mode (serve --sandbox)".into(),
        ));
    }
    Ok(state
        .config
        .upstream
        .api_base
        .trim_end_matches('/')
        .to_owned())
}

async fn forward(req: reqwest::RequestBuilder) -> Result<Response, ApiError> {
    let resp = req
        .send()
        .await
        .map_err(|e| ApiError::BadGateway(format!("the sandbox did not answer: {e}")))?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let text = resp
        .text()
        .await
        .map_err(|e| ApiError::BadGateway(format!("reading the sandbox's answer: {e}")))?;
    let body = match serde_json::from_str::<Value>(&text) {
        Ok(v) if status.is_success() => serde_json::json!({ "data": v }),
        Ok(v) => serde_json::json!({ "error": v }),
        Err(_) => serde_json::json!({ "error": text }),
    };
    Ok((status, axum::Json(body)).into_response())
}

/// Sandbox Event: a fan acts on a sandbox creator — `kind` is one of the
/// sandbox's event kinds (`message`, `tip`, `subscription_new`, `follow`,
/// `purchase`, …); the JSON body is passed on (`creator`, `fan`, `text`,
/// `amount` in mills …). Sandbox mode only.
#[utoipa::path(
    post,
    path = "/api/console/sandbox/events/{kind}",
    operation_id = "consoleSandboxEvent",
    params(("kind" = String, Path, description = "message, tip, subscription_new, follow, purchase, …")),
    request_body(content = Object, description = "`{creator?, fan?, text?, amount?}`"),
    responses(
        (status = 200, description = "`data` is the sandbox's answer `{frames, …ids}`", body = Object),
        (status = 404, description = "Not in sandbox mode, or an unknown kind"),
    ),
)]
async fn sandbox_event(
    caller: TeamScope,
    Path(kind): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let base = sandbox_base(&caller.state)?;
    if !kind.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(ApiError::NotFound(format!("unknown event kind {kind:?}")));
    }
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else {
        body
    };
    forward(
        reqwest::Client::new()
            .post(format!("{base}/_sandbox/events/{kind}"))
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

endpoint! {
    /// Sandbox E-mails: what the sandbox has e-mailed (2FA codes), optionally
    /// only to the user `to`. Sandbox mode only.
    get "/api/console/sandbox/emails" "consoleSandboxEmails",
    params(("to" = Option<String>, Query, description = "A sandbox username")),
    responses(
        (status = 200, description = "`data` is the sandbox's e-mails", body = Object),
        (status = 404, description = "Not in sandbox mode"),
    ),
    fn sandbox_emails(caller: TeamScope, params: Params) -> Result<Response, ApiError> {
        let base = sandbox_base(&caller.state)?;
        let mut req = reqwest::Client::new().get(format!("{base}/_sandbox/emails"));
        if let Some(to) = params.get("to") {
            req = req.query(&[("to", to)]);
        }
        forward(req).await
    }
}
