//! `/mcp` driven by a real MCP client (the official Rust SDK's, over
//! Streamable HTTP): initialize, tools and resources, a conversation read and
//! a message sent as REST would (same credits, `_meta`), a retried send
//! reaching the fan once, a read-only key refused, another team's account
//! refused, bad arguments as readable tool errors.

use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

pub(crate) type Client = RunningService<RoleClient, ()>;

pub(crate) async fn connect(app: &TestApp, key: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", app.address))
            .auth_header(key.to_owned()),
    );
    ().serve(transport).await.expect("MCP initialize")
}

pub(crate) async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: a protocol failure instead of a tool result: {e}"))
}

pub(crate) fn structured(r: &CallToolResult) -> Value {
    assert_ne!(r.is_error, Some(true), "tool error: {:?}", r.content);
    r.structured_content.clone().expect("structured result")
}

pub(crate) fn error_text(r: &CallToolResult) -> String {
    assert_eq!(r.is_error, Some(true), "expected a tool error: {r:?}");
    serde_json::to_string(&r.content).unwrap()
}

#[tokio::test]
async fn an_agent_reads_a_conversation_and_replies_once() {
    let app = spawn_app().await;
    let client = connect(&app, &app.team.key).await;
    let info = client.peer_info().expect("initialized");
    assert_eq!(info.server_info.as_ref().unwrap().name, "fansly-gateway");
    assert!(info.capabilities.tools.is_some() && info.capabilities.resources.is_some());

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "list_accounts",
        "find_fan",
        "list_chats",
        "read_conversation",
        "send_message",
        "react",
        "list_followers",
        "list_subscribers",
        "earnings_summary",
        "top_supporters",
        "list_posts",
        "create_post",
        "schedule_mass_message",
        "list_webhook_deliveries",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    for t in &tools {
        assert!(
            t.description.as_ref().is_some_and(|d| d.len() > 40),
            "{}",
            t.name
        );
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
    }

    let accounts = structured(&call(&client, "list_accounts", json!({})).await);
    assert_eq!(accounts["data"][0]["id"], app.team.account_id.as_str());

    // A fan writes; the agent finds the chat and reads it.
    let chat = app.open_chat(1).await;
    app.fan_writes(1, "are you there?", 3).await;
    let chats = structured(
        &call(
            &client,
            "list_chats",
            json!({"account": app.team.account_id}),
        )
        .await,
    );
    assert!(chats["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["groupId"] == chat.as_str()));

    let before = app.balance(&app.team.id).await;
    let read = structured(
        &call(
            &client,
            "read_conversation",
            json!({"account": app.team.account_id, "chat_id": chat, "limit": 2}),
        )
        .await,
    );
    let msgs = read["data"]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["content"], "are you there? 3");
    // Metered as the REST call: 1 credit, reported in _meta, in the ledger.
    assert_eq!(read["_meta"]["_credits"]["used"], 1);
    assert_eq!(app.balance(&app.team.id).await, before - 1);
    assert_eq!(read["_meta"]["_credits"]["balance"], before - 1);
    let ledger = app.ledger(&app.team.id).await;
    assert_eq!(
        ledger[0].endpoint.as_deref(),
        Some("messages.list"),
        "{ledger:?}"
    );
    assert!(read["_pagination"]["next_page"]
        .as_str()
        .unwrap()
        .contains("before="));
    // Paging backwards with `before`.
    let oldest = msgs[1]["id"].as_str().unwrap();
    let older = structured(
        &call(
            &client,
            "read_conversation",
            json!({"account": app.team.account_id, "chat_id": chat, "before": oldest}),
        )
        .await,
    );
    assert_eq!(older["data"]["messages"][0]["content"], "are you there? 1");

    // The reply: sent once, even when the agent retries the same call.
    app.clear_upstream_requests().await;
    let args = json!({"account": app.team.account_id, "chat_id": chat, "text": "yes, here!"});
    let sent = structured(&call(&client, "send_message", args.clone()).await);
    assert_eq!(sent["data"]["content"], "yes, here!");
    assert_eq!(sent["_meta"]["_credits"]["used"], 1);
    let balance = app.balance(&app.team.id).await;
    let retried = structured(&call(&client, "send_message", args.clone()).await);
    assert_eq!(retried["replayed"], true);
    assert_eq!(retried["data"], sent["data"]);
    assert_eq!(app.upstream_count("POST", "/api/v1/message").await, 1);
    assert_eq!(app.balance(&app.team.id).await, balance, "a retry is free");
    assert_eq!(app.copies(&chat, "yes, here!").await, 1);

    // An explicit key: a new client (as after a crash) retrying it.
    let keyed = json!({"account": app.team.account_id, "chat_id": chat, "text": "again", "idempotency_key": "reply-42"});
    structured(&call(&client, "send_message", keyed.clone()).await);
    let client2 = connect(&app, &app.team.key).await;
    let again = structured(&call(&client2, "send_message", keyed).await);
    assert_eq!(again["replayed"], true);
    assert_eq!(app.copies(&chat, "again").await, 1);

    // dry_run sends nothing.
    let dry = structured(
        &call(
            &client,
            "send_message",
            json!({"account": app.team.account_id, "chat_id": chat, "text": "draft", "dry_run": true}),
        )
        .await,
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["would_send"]["method"], "POST");
    assert_eq!(dry["would_send"]["body"]["text"], "draft");
    assert_eq!(app.copies(&chat, "draft").await, 0);
    assert_eq!(app.upstream_count("POST", "/api/v1/message").await, 2);
}

#[tokio::test]
async fn a_read_only_key_reads_but_cannot_send() {
    let app = spawn_app().await;
    let chat = app.open_chat(1).await;
    let key = fansly_gateway::tenancy::create_key(app.db(), &app.team.id, "agent")
        .await
        .unwrap();
    fansly_gateway::tenancy::set_mcp_read_only(app.db(), &key.info.id, true)
        .await
        .unwrap();
    let client = connect(&app, &key.secret).await;
    structured(
        &call(
            &client,
            "read_conversation",
            json!({"account": app.team.account_id, "chat_id": chat}),
        )
        .await,
    );
    app.clear_upstream_requests().await;
    let refused = call(
        &client,
        "send_message",
        json!({"account": app.team.account_id, "chat_id": chat, "text": "nope"}),
    )
    .await;
    assert!(error_text(&refused).contains("read-only"));
    let refused = call(
        &client,
        "schedule_mass_message",
        json!({"account": app.team.account_id, "text": "nope", "user_ids": ["1"]}),
    )
    .await;
    assert!(error_text(&refused).contains("read-only"));
    assert_eq!(app.upstream_count("POST", "/api/v1/message").await, 0);
    assert_eq!(app.copies(&chat, "nope").await, 0);
    // The same key still writes over REST: the switch is for the MCP surface.
    let rest = app
        .request(
            reqwest::Method::POST,
            &app.acct_path(&format!("chats/{chat}/messages")),
            Some(&key.secret),
            Some(&json!({"text": "by rest"})),
        )
        .await;
    assert_eq!(rest.status(), 200);
}

#[tokio::test]
async fn another_teams_account_and_bad_arguments_are_tool_errors() {
    let app = spawn_app().await;
    let other = app.new_team(100, 1).await;
    let client = connect(&app, &app.team.key).await;
    let before = app.balance(&app.team.id).await;

    let foreign = call(&client, "list_chats", json!({"account": other.account_id})).await;
    assert!(error_text(&foreign).contains("HTTP 404"), "{foreign:?}");
    let foreign = call(
        &client,
        "send_message",
        json!({"account": other.account_id, "chat_id": "123", "text": "hi"}),
    )
    .await;
    assert!(error_text(&foreign).contains("HTTP 404"));
    assert_eq!(app.balance(&app.team.id).await, before, "refusals are free");

    let cases = [
        (
            "read_conversation",
            json!({"account": app.team.account_id}),
            "chat_id",
        ),
        (
            "read_conversation",
            json!({"account": app.team.account_id, "chat_id": "abc"}),
            "chat_id",
        ),
        (
            "read_conversation",
            json!({"account": app.team.account_id, "chat_id": "1", "limit": 500}),
            "limit",
        ),
        (
            "list_chats",
            json!({"account": app.team.account_id, "colour": "red"}),
            "colour",
        ),
        (
            "send_message",
            json!({"account": app.team.account_id, "chat_id": "1"}),
            "text",
        ),
        (
            "send_message",
            json!({"account": app.team.account_id, "chat_id": "1", "text": "x", "media_files": ["nope"]}),
            "media_files",
        ),
        (
            "earnings_summary",
            json!({"account": app.team.account_id, "after": "last week"}),
            "after",
        ),
        (
            "schedule_mass_message",
            json!({"account": app.team.account_id, "text": "x", "price_usd": 0.5}),
            "price_usd",
        ),
        (
            "find_fan",
            json!({"account": app.team.account_id}),
            "username",
        ),
        (
            "react",
            json!({"account": app.team.account_id, "chat_id": "1", "message_id": "2", "reaction": "love"}),
            "reaction",
        ),
    ];
    for (tool, args, arg) in cases {
        let r = call(&client, tool, args).await;
        let text = error_text(&r);
        assert!(text.contains(&format!("`{arg}`")), "{tool}: {text}");
    }
    // A REST-level refusal (422 from the route) is a tool error too.
    let r = call(
        &client,
        "earnings_summary",
        json!({"account": app.team.account_id, "after": "2026-02-01T00:00:00Z", "before": "2026-01-01T00:00:00Z"}),
    )
    .await;
    assert!(error_text(&r).contains("HTTP 422"));
    assert_eq!(app.balance(&app.team.id).await, before);
}

#[tokio::test]
async fn resources_and_find_fan() {
    let app = spawn_app().await;
    let client = connect(&app, &app.team.key).await;
    let templates = client.list_resource_templates(None).await.unwrap();
    assert_eq!(templates.resource_templates.len(), 2);
    let listed = client.list_resources(None).await.unwrap();
    let uri = format!("fansly://accounts/{}/profile", app.team.account_id);
    assert!(listed.resources.iter().any(|r| r.uri == uri));
    let profile = client
        .read_resource(ReadResourceRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let text = serde_json::to_value(&profile.contents[0]).unwrap();
    let body: Value = serde_json::from_str(text["text"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], app.team.account_id.as_str());

    let chat = app.open_chat(1).await;
    app.fan_writes(1, "resource me", 1).await;
    let conv = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "fansly://accounts/{}/chats/{chat}",
            app.team.account_id
        )))
        .await
        .unwrap();
    let text = serde_json::to_value(&conv.contents[0]).unwrap();
    assert!(text["text"].as_str().unwrap().contains("resource me"));

    let other = app.new_team(10, 1).await;
    let refused = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "fansly://accounts/{}/profile",
            other.account_id
        )))
        .await;
    assert!(refused.is_err());

    let fan = structured(
        &call(
            &client,
            "find_fan",
            json!({"account": app.team.account_id, "username": "fan1"}),
        )
        .await,
    );
    assert_eq!(fan["data"]["fan"]["username"], "fan1");
    assert!(fan["data"].get("spend").is_some());
    let by_id = structured(
        &call(
            &client,
            "find_fan",
            json!({"account": app.team.account_id, "user_id": fan["data"]["fan"]["id"]}),
        )
        .await,
    );
    assert_eq!(by_id["data"]["fan"]["username"], "fan1");
}

#[tokio::test]
async fn mcp_needs_a_valid_key() {
    let app = spawn_app().await;
    for auth in [None, Some("Bearer fgw_nope")] {
        let mut req = app
            .http
            .post(format!("{}/mcp", app.address))
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
}

#[tokio::test]
async fn every_tool_names_an_operation_of_the_rest_api() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    for t in fansly_gateway::http::mcp::tools::TOOLS {
        let op = &doc["paths"][t.path][t.method.as_str().to_ascii_lowercase()];
        assert_eq!(
            op["operationId"], t.operation_id,
            "{}: {} {}",
            t.name, t.method, t.path
        );
        let writes = t.method != reqwest::Method::GET;
        assert_eq!(t.writes, writes, "{}", t.name);
    }
}
