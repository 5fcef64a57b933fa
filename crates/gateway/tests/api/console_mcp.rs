//! The console's MCP page data (`GET /api/console/mcp`: the endpoint and
//! client configurations that work as printed) and the per-key MCP
//! read-only switch over REST (`PUT /api/console/keys/{key_id}/mcp`).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, assert_error_naming, spawn_app, SendJson, TestApp};
use crate::mcp::{call, connect, error_text, structured};

async fn data(app: &TestApp, method: Method, path: &str, key: &str, body: Option<Value>) -> Value {
    let resp = app.request(method, path, Some(key), body.as_ref()).await;
    assert_eq!(resp.status(), 200, "{path}: {}", resp.text().await.unwrap());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["_meta"]["_credits"]["used"], 0, "{path} is free");
    body["data"].clone()
}

async fn set_read_only(app: &TestApp, key_id: &str, on: bool) -> reqwest::Response {
    app.put(
        &format!("/api/console/keys/{key_id}/mcp"),
        &json!({ "read_only": on }),
    )
    .await
}

#[tokio::test]
async fn the_mcp_page_shows_the_endpoint_and_snippets_that_work() {
    let app = spawn_app().await;
    let setup = data(&app, Method::GET, "/api/console/mcp", &app.team.key, None).await;
    let url = format!("{}/mcp", app.address);
    assert_eq!(setup["url"], url.as_str());
    assert_eq!(setup["transport"], "streamable-http");
    assert_eq!(setup["key_read_only"], false);
    let snippets = setup["snippets"].as_array().unwrap();
    let ids: Vec<&str> = snippets.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&"claude-desktop") && ids.contains(&"streamable-http"),
        "{ids:?}"
    );
    for s in snippets {
        let text = s["text"].as_str().unwrap();
        assert!(text.contains(&url), "{text}");
        if s["language"] == "json" {
            serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }
    // The generic snippet, with a real key in place of the placeholder, is
    // what a client needs: its URL and header reach the tools.
    let generic = snippets
        .iter()
        .find(|s| s["id"] == "streamable-http")
        .unwrap();
    let config: Value = serde_json::from_str(generic["text"].as_str().unwrap()).unwrap();
    let server = &config["mcpServers"]["fansly"];
    assert_eq!(server["type"], "http");
    let auth = server["headers"]["Authorization"].as_str().unwrap();
    let key = auth
        .strip_prefix("Bearer ")
        .unwrap()
        .replace("fgw_YOUR_API_KEY", &app.team.key);
    let tools: Value = reqwest::Client::new()
        .post(server["url"].as_str().unwrap())
        .bearer_auth(&key)
        .header("Accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "snippet", "version": "0"}}}),
        )
        .send_json()
        .await;
    assert_eq!(
        tools["result"]["serverInfo"]["name"], "fansly-gateway",
        "{tools}"
    );
}

#[tokio::test]
async fn a_keys_mcp_switch_is_set_over_rest_within_the_team() {
    let app = spawn_app().await;
    let chat = app.open_chat(1).await;
    let agent = data(
        &app,
        Method::POST,
        "/api/console/keys",
        &app.team.key,
        Some(json!({"name": "agent"})),
    )
    .await;
    let (id, secret) = (
        agent["id"].as_str().unwrap(),
        agent["key"].as_str().unwrap(),
    );

    let on: Value = set_read_only(&app, id, true).await.json().await.unwrap();
    assert_eq!(on["data"], json!({"id": id, "mcp_read_only": true}));
    let keys = data(&app, Method::GET, "/api/console/keys", &app.team.key, None).await;
    let listed = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap();
    assert_eq!(listed["mcp_read_only"], true);
    let mine = data(&app, Method::GET, "/api/console/mcp", secret, None).await;
    assert_eq!(mine["key_read_only"], true);

    let client = connect(&app, secret).await;
    let args = json!({"account": app.team.account_id, "chat_id": chat, "text": "switch"});
    let refused = call(&client, "send_message", args.clone()).await;
    assert!(error_text(&refused).contains("read-only"));
    assert_eq!(app.copies(&chat, "switch").await, 0);

    let off = set_read_only(&app, id, false).await;
    assert_eq!(off.status(), 200);
    structured(&call(&client, "send_message", args).await);
    assert_eq!(app.copies(&chat, "switch").await, 1);

    // Another team's key, an unknown one and a revoked one are not found.
    let other = app.new_team(10, 2).await;
    let keys = data(&app, Method::GET, "/api/console/keys", &other.key, None).await;
    let foreign = keys[0]["id"].as_str().unwrap();
    assert_error(set_read_only(&app, foreign, true).await, 404).await;
    let still: Value = data(&app, Method::GET, "/api/console/keys", &other.key, None).await;
    assert_eq!(still[0]["mcp_read_only"], false);
    assert_error(set_read_only(&app, "key_nope", true).await, 404).await;
    let revoke = app.delete(&format!("/api/console/keys/{id}")).await;
    assert_eq!(revoke.status(), 200);
    assert_error(set_read_only(&app, id, true).await, 404).await;

    // The body is `{read_only: bool}`, nothing else.
    let own = app.team.key.clone();
    let keys = data(&app, Method::GET, "/api/console/keys", &own, None).await;
    let live = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["revoked_at"].is_null())
        .unwrap();
    let path = format!("/api/console/keys/{}/mcp", live["id"].as_str().unwrap());
    for bad in [
        json!({"read_only": "yes"}),
        json!({}),
        json!({"read_only": true, "x": 1}),
    ] {
        let resp = app
            .request(Method::PUT, &path, Some(&own), Some(&bad))
            .await;
        assert_error_naming(resp, 422, "read_only").await;
    }
}

#[tokio::test]
async fn the_switch_and_the_page_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/openapi.json").await;
    let put = &doc["paths"]["/api/console/keys/{key_id}/mcp"]["put"];
    assert_eq!(put["operationId"], "consoleSetKeyMcp");
    assert!(put["requestBody"].is_object());
    assert_eq!(
        doc["paths"]["/api/console/mcp"]["get"]["operationId"],
        "consoleMcpSetup"
    );
}
