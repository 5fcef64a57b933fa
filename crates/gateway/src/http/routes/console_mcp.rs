//! `/api/console/mcp` and `/api/console/keys/{key_id}/mcp`: what the console
//! shows about the MCP server (its URL and ready client configurations) and
//! the per-key MCP read-only switch. Free, team-scoped, `{data, _meta}`.

use axum::extract::Path;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::routes::declare::endpoint;
use crate::http::scope::TeamScope;
use crate::http::state::AppState;
use crate::metering::prices;
use crate::tenancy;

/// The server name the snippets register the gateway under.
const SERVER_NAME: &str = "fansly";
/// Stands where the client's API key goes: the console never has the
/// secret of any key but the one it is signed in with, and does not print it.
const KEY_PLACEHOLDER: &str = "fgw_YOUR_API_KEY";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mcp_setup))
        .routes(routes!(set_key_mcp))
}

endpoint! {
    /// MCP Setup: the `/mcp` endpoint's URL and client configurations to paste,
    /// and whether the calling key is MCP read-only.
    get "/api/console/mcp" "consoleMcpSetup",
    responses((status = 200, description = "`data` is `{url, transport, key_read_only, snippets: [{id, title, where, language, text}]}`", body = Object)),
    fn mcp_setup(team: TeamScope) {
        let url = format!("{}/mcp", team.state.public_url.trim_end_matches('/'));
        let read_only = team.authed.caller.mcp_read_only;
        let data = json!({
            "url": url,
            "transport": "streamable-http",
            "key_read_only": read_only,
            "snippets": snippets(&url),
        });
        team.free(prices::CONSOLE_MCP, data).await
    }
}

/// Client configurations for `url`, each as the text to paste.
fn snippets(url: &str) -> Vec<Value> {
    let auth = format!("Authorization: Bearer {KEY_PLACEHOLDER}");
    let http = json!({"mcpServers": {SERVER_NAME: {
        "type": "http",
        "url": url,
        "headers": {"Authorization": format!("Bearer {KEY_PLACEHOLDER}")},
    }}});
    // Claude Desktop's config file starts local (stdio) servers; the
    // `mcp-remote` bridge (npm) connects such a slot to a Streamable HTTP URL.
    let desktop = json!({"mcpServers": {SERVER_NAME: {
        "command": "npx",
        "args": ["-y", "mcp-remote", url, "--header", "Authorization:${FANSLY_GATEWAY_AUTH}"],
        "env": {"FANSLY_GATEWAY_AUTH": format!("Bearer {KEY_PLACEHOLDER}")},
    }}});
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    vec![
        json!({
            "id": "streamable-http",
            "title": "Any Streamable HTTP client (Claude Code, Cursor, VS Code, …)",
            "where": ".mcp.json / the client's mcpServers setting",
            "language": "json",
            "text": pretty(&http),
        }),
        json!({
            "id": "claude-desktop",
            "title": "Claude Desktop",
            "where": "claude_desktop_config.json (needs Node.js for npx)",
            "language": "json",
            "text": pretty(&desktop),
        }),
        json!({
            "id": "claude-code-cli",
            "title": "Claude Code, from the command line",
            "where": "a shell",
            "language": "sh",
            "text": format!("claude mcp add --transport http {SERVER_NAME} {url} --header \"{auth}\""),
        }),
        json!({
            "id": "curl",
            "title": "The raw protocol (initialize)",
            "where": "a shell",
            "language": "sh",
            "text": format!(
                "curl -s {url} -H \"{auth}\" -H 'Content-Type: application/json' \\\n  \
                 -H 'Accept: application/json, text/event-stream' \\\n  \
                 -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"0\"}}}}}}'"
            ),
        }),
    ]
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyMcpBody {
    /// `true`: the key's `/mcp` tools that write (send, react, create,
    /// schedule) are refused; its reads and the REST API are unchanged.
    read_only: bool,
}

endpoint! {
    /// Set Key MCP Mode: turns the MCP read-only switch of one of the team's
    /// active keys on or off; it applies from the key's next `/mcp` call.
    put "/api/console/keys/{key_id}/mcp" "consoleSetKeyMcp",
    request_body = KeyMcpBody,
    responses(
        (status = 200, description = "`data` is `{id, mcp_read_only}`", body = Object),
        (status = 404, description = "No active key of this team with that id"),
        (status = 422, description = "The body is not `{read_only: true|false}`"),
    ),
    fn set_key_mcp(
        team: TeamScope,
        Path(key_id): Path<String>,
        ApiJson(body): ApiJson<KeyMcpBody>,
    ) {
        let (state, read_only) = (&team.state, body.read_only);
        if !tenancy::set_team_mcp_read_only(&state.db, team.team(), &key_id, read_only).await? {
            return Err(ApiError::NotFound(format!("no active key {key_id}")));
        }
        // This instance answers with the new switch at once; others within
        // `key_cache_ms`, as with a revocation.
        state.callers.forget_all();
        let data = json!({"id": key_id, "mcp_read_only": read_only});
        team.free(prices::CONSOLE_KEYS_MCP, data).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_snippet_names_the_url_and_json_ones_parse() {
        for s in snippets("http://gw:1/mcp") {
            let text = s["text"].as_str().unwrap();
            assert!(text.contains("http://gw:1/mcp"), "{text}");
            assert!(text.contains(KEY_PLACEHOLDER), "{text}");
            if s["language"] == "json" {
                serde_json::from_str::<Value>(text).unwrap();
            }
        }
    }
}
