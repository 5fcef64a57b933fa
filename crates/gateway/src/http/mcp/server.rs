//! `/mcp`: the Streamable HTTP endpoint (`rmcp`, stateless, JSON answers),
//! its bearer-key check, and the handler that lists and runs the tools of
//! `tools.rs` and the resources of `resources.rs` as REST calls through the
//! gateway's own router.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::http::mcp::args::{ArgError, Args};
use crate::http::mcp::resources::{self, Target};
use crate::http::mcp::rest::{self, RestAnswer, RestCall};
use crate::http::mcp::tools::{self, ToolDef};
use crate::http::state::AppState;

/// Who called `/mcp`, put in the request's extensions by [`authenticate`].
#[derive(Clone, Debug)]
pub struct McpCaller {
    pub team_id: String,
    pub key_id: String,
    pub read_only: bool,
    /// Passed on unchanged to every REST call a tool makes.
    pub authorization: HeaderValue,
}

/// Adds `/mcp` to `app`; tools call back into `app` itself.
pub fn mount(app: Router, state: AppState) -> Router {
    let rest_router = app.clone();
    // Stateless: every request stands alone (MCP 2026-07-28 has no sessions),
    // so any instance behind a load balancer can answer any request.
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        // The Host allow-list guards unauthenticated local servers against DNS
        // rebinding; every /mcp request here needs a bearer key, which a
        // rebinding page cannot supply, and deployments use public hostnames.
        .disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || {
            Ok(McpServer {
                rest: rest_router.clone(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let mcp = Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(state, authenticate));
    app.merge(mcp)
}

/// 401 before any MCP work unless the request carries a valid API key.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Kept whole: tool calls replay it on the in-process REST requests.
    let header = req.headers().get(AUTHORIZATION).cloned();
    let presented = crate::http::extract::bearer(req.headers()).map(str::to_owned);
    let found = match presented {
        Some(key) => state.callers.authenticate(&state.db, &key).await,
        None => Ok(None),
    };
    let caller = match found {
        Ok(Some(c)) => c,
        Ok(None) => {
            let mut resp = (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "Unauthorized: send your API key as 'Authorization: Bearer <key>'"})),
            )
                .into_response();
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return resp;
        }
        Err(e) => return crate::core::error::ApiError::from(e).into_response(),
    };
    req.extensions_mut().insert(McpCaller {
        read_only: caller.mcp_read_only,
        team_id: caller.team_id,
        key_id: caller.key_id,
        authorization: header.expect("checked above"),
    });
    next.run(req).await
}

#[derive(Clone)]
pub struct McpServer {
    rest: Router,
}

fn caller(ctx: &RequestContext<RoleServer>) -> Result<McpCaller, ErrorData> {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<McpCaller>())
        .cloned()
        .ok_or_else(|| ErrorData::invalid_request("not authenticated", None))
}

fn tool_error(message: impl Into<String>, details: Value) -> CallToolResult {
    let message = message.into();
    let mut r = CallToolResult::error(vec![ContentBlock::text(message.clone())]);
    let mut structured = json!({"error": message});
    if !details.is_null() {
        structured["details"] = details;
    }
    r.structured_content = Some(structured);
    r
}

/// A REST answer as a tool result: `data`, `_meta` (credits, balance, rate
/// limit) and `_pagination` on success; the REST error (status and message,
/// with `_meta` where the REST answer had one) as a tool error otherwise.
fn from_answer(answer: RestAnswer) -> CallToolResult {
    if !answer.ok() {
        let message = answer.body["error"]
            .as_str()
            .unwrap_or("the call failed")
            .to_owned();
        return tool_error(
            format!("HTTP {}: {message}", answer.status),
            json!({"status": answer.status, "body": answer.body}),
        );
    }
    let mut out = match answer.body {
        Value::Object(mut m) if m.contains_key("data") => {
            let mut out = Map::new();
            for key in ["data", "_meta", "_pagination"] {
                if let Some(v) = m.remove(key) {
                    out.insert(key.to_owned(), v);
                }
            }
            out
        }
        // Answers without the envelope (List Accounts) are the data itself.
        other => Map::from_iter([("data".to_owned(), other)]),
    };
    if answer.replayed {
        out.insert("replayed".into(), json!(true));
    }
    CallToolResult::structured(Value::Object(out))
}

/// The key a write is sent with: the caller's, or one derived from the tool
/// and its arguments (so an identical retry is done once).
fn idempotency_key(tool: &ToolDef, args: &Args) -> Result<String, ArgError> {
    if let Some(k) = args.string("idempotency_key")? {
        if k.len() > 255 || !k.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(ArgError::new(
                "idempotency_key",
                "must be 1–255 printable ASCII characters",
            ));
        }
        return Ok(k);
    }
    let mut rest = args.0.clone();
    rest.remove("dry_run");
    // serde_json's map keeps insertion order; sort so key order does not matter.
    let sorted: std::collections::BTreeMap<_, _> = rest.into_iter().collect();
    let digest = Sha256::digest(format!("{}\n{}", tool.name, json!(sorted)).as_bytes());
    Ok(format!("mcp-{}-{}", tool.name, hex::encode(&digest[..16])))
}

impl McpServer {
    async fn run_tool(&self, who: &McpCaller, tool: &ToolDef, args: &Args<'_>) -> CallToolResult {
        let planned = args
            .only(&(tool.schema)())
            .and_then(|()| (tool.plan)(tool, args))
            .and_then(|call| Ok((call, args.flag("dry_run")?)));
        let (mut call, dry_run) = match planned {
            Ok(p) => p,
            Err(ArgError(message)) => return tool_error(message, Value::Null),
        };
        if tool.writes {
            if who.read_only && !dry_run {
                return tool_error(
                    format!(
                        "{} changes things and this API key is read-only for MCP; \
                         use dry_run to preview, or a key without the read-only switch",
                        tool.name
                    ),
                    Value::Null,
                );
            }
            match idempotency_key(tool, args) {
                Ok(k) => call.idempotency_key = Some(k),
                Err(ArgError(message)) => return tool_error(message, Value::Null),
            }
        }
        if dry_run {
            return CallToolResult::structured(json!({
                "dry_run": true,
                "would_send": call,
                "note": "nothing was sent or charged; call again without dry_run to do it",
            }));
        }
        let answer = rest::run(&self.rest, &who.authorization, &call).await;
        if tool.name == "find_fan" && answer.ok() {
            return self.with_spend(who, args, answer).await;
        }
        from_answer(answer)
    }

    /// find_fan's second step: the fan's spend (top-supporters breakdown).
    async fn with_spend(
        &self,
        who: &McpCaller,
        args: &Args<'_>,
        users: RestAnswer,
    ) -> CallToolResult {
        let fan = users.body["data"]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or(Value::Null);
        let Some(fan_id) = fan["id"].as_str().map(str::to_owned) else {
            return tool_error("no such fan", json!({"body": users.body}));
        };
        let account = args.string("account").ok().flatten().unwrap_or_default();
        let call = RestCall::new(
            axum::http::Method::GET,
            rest::fill(
                "/api/fansly/{fanslyAccount}/top-supporters/{account_id}",
                &[("fanslyAccount", &account), ("account_id", &fan_id)],
            ),
        )
        .query("after", args.string("after").ok().flatten())
        .query("before", args.string("before").ok().flatten());
        let spend = rest::run(&self.rest, &who.authorization, &call).await;
        let last_seen = fan.get("lastSeenAt").cloned().unwrap_or(Value::Null);
        let subscription = fan.get("subscription").cloned().unwrap_or(Value::Null);
        let spend_meta = spend.body.get("_meta").cloned();
        let spend_value = if spend.ok() {
            spend.body["data"].clone()
        } else {
            json!({"unavailable": spend.body["error"], "status": spend.status})
        };
        CallToolResult::structured(json!({
            "data": {
                "fan": fan,
                "subscription": subscription,
                "last_seen_at": last_seen,
                "spend": spend_value,
            },
            "_meta": users.body.get("_meta"),
            "_meta_spend": spend_meta,
        }))
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(
            "fansly-gateway",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(format!(
            "Tools over the creator accounts connected to your API key's team. Start with \
             list_accounts; pass its `id` as `account`. Every tool is one metered REST call: \
             results carry `data` and `_meta` (credits used, balance, rate limit). {} \
             Times you pass are ISO 8601 with a zone. Write tools (send_message, react, \
             create_post, schedule_mass_message) act for real; use dry_run to preview.",
            tools::UNITS
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let list = tools::TOOLS
            .iter()
            .map(|t| {
                let schema = match (t.schema)() {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                Tool::new(t.name, t.description, schema).with_annotations(
                    ToolAnnotations::new()
                        .read_only(!t.writes)
                        .destructive(false),
                )
            })
            .collect();
        Ok(ListToolsResult::with_all_items(list))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let who = caller(&ctx)?;
        let Some(tool) = tools::find(&request.name) else {
            return Ok(tool_error(
                format!("unknown tool {:?}; tools/list names them", request.name),
                Value::Null,
            )
            .into());
        };
        let empty = Map::new();
        let args = Args(request.arguments.as_ref().unwrap_or(&empty));
        Ok(self.run_tool(&who, tool, &args).await.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let who = caller(&ctx)?;
        let call = RestCall::new(axum::http::Method::GET, "/api/fansly/accounts".into());
        let answer = rest::run(&self.rest, &who.authorization, &call).await;
        let list = answer
            .body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let id = a["id"].as_str()?;
                let name = a["fansly_username"].as_str().unwrap_or(id);
                Some(
                    Resource::new(resources::profile_uri(id), format!("{name} (profile)"))
                        .with_mime_type("application/json"),
                )
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(list))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(resources::PROFILE_TEMPLATE, "creator profile")
                .with_description("A connected creator account: username, display name, authentication state (free).")
                .with_mime_type("application/json"),
            ResourceTemplate::new(resources::CHAT_TEMPLATE, "conversation")
                .with_description("The latest 50 messages of a conversation, newest first (1 credit).")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let who = caller(&ctx)?;
        let uri = request.uri.clone();
        let target = resources::parse(&uri).ok_or_else(|| {
            ErrorData::resource_not_found(
                format!("unknown resource {uri:?}; see resources/templates/list"),
                None,
            )
        })?;
        let answer = rest::run(&self.rest, &who.authorization, &resources::call(&target)).await;
        if !answer.ok() {
            return Err(ErrorData::resource_not_found(
                format!(
                    "{uri}: HTTP {}: {}",
                    answer.status,
                    answer.body["error"].as_str().unwrap_or("failed")
                ),
                None,
            ));
        }
        let content = resources::content(&target, answer.body).ok_or_else(|| {
            let (Target::Profile { account } | Target::Chat { account, .. }) = &target;
            ErrorData::resource_not_found(format!("no connected account {account}"), None)
        })?;
        Ok(ReadResourceResult::new(vec![ResourceContents::text(
            serde_json::to_string_pretty(&content).unwrap_or_default(),
            uri,
        )
        .with_mime_type("application/json")])
        .into())
    }
}
