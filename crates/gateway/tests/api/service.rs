//! Routing, health, OpenAPI and the sandbox bootstrap.

use reqwest::Method;

use crate::helpers::{assert_error_naming, spawn_app};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let live = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(live.status(), 200);
    let ready = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status(), 200);
    app.db().pool.close().await;
    let ready = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let app = spawn_app().await;
    assert_error_naming(
        app.get("/api/fansly/nope/nothing/here").await,
        404,
        "/api/fansly/nope/nothing/here",
    )
    .await;
    let resp = app.delete(&app.acct_path("chats")).await;
    assert_error_naming(resp, 405, "DELETE").await;
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    // Every documented operation is routed: without a key it meets the
    // authentication check (or answers), never the "no route" fallback.
    for (path, ops) in paths {
        let concrete: String = path
            .split('/')
            .map(|seg| match seg {
                "{fanslyAccount}" => "fansly_acct_x".to_owned(),
                s if s.starts_with('{') => "1".to_owned(),
                s => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ops.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = app.request(method.clone(), &concrete, None, None).await;
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            assert!(
                !body.contains("no route for") && status != 405,
                "{method} {path} is documented but not routed ({status}: {body})"
            );
        }
    }
    for (path, method) in [
        ("/api/fansly/{fanslyAccount}/chats", "post"),
        ("/api/fansly/accounts", "get"),
        ("/api/fansly/{fanslyAccount}/users/{usernames}", "get"),
        ("/api/fansly/{fanslyAccount}/users/", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["default"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn sandbox_bootstrap_is_created_once_and_reused() {
    let data = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::test_database_url().await;
    let build = || {
        let mut c = fansly_gateway::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_owned(),
            database_url: database_url.clone(),
            ..Default::default()
        };
        c.sandbox.enabled = true;
        c
    };
    let config = build();
    let app = fansly_gateway::App::build(config).await.unwrap();
    let first = fansly_gateway::startup::bootstrap::sandbox_demo(&app)
        .await
        .unwrap();
    let key = first.new_key.clone().expect("a key on first start");
    assert_eq!(
        std::fs::read_to_string(&first.key_file).unwrap().trim(),
        key
    );
    drop(app);

    let app = fansly_gateway::App::build(build()).await.unwrap();
    let second = fansly_gateway::startup::bootstrap::sandbox_demo(&app)
        .await
        .unwrap();
    assert!(second.new_key.is_none(), "the key is reused");
    assert_eq!(second.team_id, first.team_id);
    assert_eq!(second.account_id, first.account_id);
    let balance = fansly_gateway::metering::credits::balance(&app.state().db, &second.team_id)
        .await
        .unwrap();
    assert_eq!(
        balance,
        Some(fansly_gateway::startup::bootstrap::DEMO_CREDITS)
    );
    assert!(app
        .state()
        .callers
        .authenticate(&app.state().db, &key)
        .await
        .unwrap()
        .is_some());
}
