//! Secrets at rest: sealed in the database, erased on disconnect, rotated
//! under a new master key, and refused without one.

use reqwest::Method;
use std::time::Duration;

use fansly_gateway::accounts::sessions::Sessions;
use fansly_gateway::core::crypto::Keyring;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// Every byte the database holds, as one string: the SQLite files (with the
/// WAL), or a pg_dump of the PostgreSQL database.
async fn database_bytes(app: &TestApp) -> Vec<u8> {
    let url = app.state.config.database_url();
    if url.starts_with("postgres") {
        let out = std::process::Command::new("pg_dump")
            .arg("--data-only")
            .arg(&url)
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return out.stdout;
    }
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
            bytes.extend(b);
        }
    }
    assert!(bytes.len() > 4096, "read the database");
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_password_or_token_is_stored_in_plaintext() {
    let app = spawn_app().await;
    let c = app.creator(1).await;
    let proxy_secret = "proxy-password-123";
    // Connect through a proxy whose credentials must be sealed too: the
    // sandbox itself serves absolute-form requests, so it can stand in.
    let port = app.sandbox_port();
    let id = app
        .authenticate(
            &app.team,
            json!({"username": c["username"], "password": c["password"],
                   "customProxy": {"host": "127.0.0.1", "port": port, "username": "u", "password": proxy_secret}}),
        )
        .await;
    assert_eq!(
        app.settled_status(&app.team, &id).await["status"],
        "authenticated"
    );
    // Every live token of both connected accounts, as the sandbox holds them
    // (the pasted one of creator 0, the logged-in ones of creator 1).
    let mut tokens = Vec::new();
    for n in [0, 1] {
        let creator = app.creator(n).await;
        let path = format!(
            "/_sandbox/sessions?account_id={}",
            creator["account_id"].as_str().unwrap()
        );
        let live: Vec<String> = serde_json::from_value(app.sandbox_get(&path).await).unwrap();
        tokens.extend(live);
    }
    assert!(
        tokens.len() >= 3,
        "seeded tokens of both and the login's: {}",
        tokens.len()
    );

    let bytes = database_bytes(&app).await;
    for secret in [c["password"].as_str().unwrap(), proxy_secret] {
        assert!(!contains(&bytes, secret), "{secret} found in the database");
    }
    for token in &tokens {
        assert!(
            !contains(&bytes, token),
            "a session token found in the database"
        );
    }
    assert!(contains(&bytes, "v1:"), "sealed values are there");
}

#[tokio::test]
async fn disconnect_closes_the_session_and_erases_the_account() {
    let app = spawn_app().await;
    let (c, id) = app.connect_by_login(1, json!({})).await;
    let resp = app.delete(&format!("/api/fansly/accounts/{id}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    assert_eq!(app.upstream_count("POST", "/api/v1/session/close").await, 1);
    let rows: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM fansly_accounts WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db().pool)
        .await
        .unwrap();
    assert_eq!(rows.0, 0);
    app.assert_refusals(vec![
        (
            Method::GET,
            format!("/api/fansly/authenticate/{id}"),
            None,
            404,
            "",
        ),
        (
            Method::GET,
            format!("/api/fansly/{id}/users/fan1"),
            None,
            404,
            "",
        ),
    ])
    .await;
    let bytes = database_bytes(&app).await;
    assert!(!contains(&bytes, c["password"].as_str().unwrap()));
}

#[tokio::test]
async fn rotating_the_master_key_reseals_everything() {
    let app = spawn_app().await;
    let (_, id) = app.connect_by_login(1, json!({})).await;

    let old = std::fs::read_to_string(app.state.config.data_dir.join("master.key")).unwrap();
    let new = Keyring::generate_entry();
    let both = Keyring::parse(&format!("{new}\n{old}")).unwrap();
    let rotated = fansly_gateway::core::crypto::rotate(app.db(), &both)
        .await
        .unwrap();
    assert!(rotated >= 3, "two tokens and a password, got {rotated}");
    assert_eq!(
        fansly_gateway::core::crypto::rotate(app.db(), &both)
            .await
            .unwrap(),
        0,
        "idempotent"
    );

    // A gateway holding only the new key uses both accounts.
    let only_new = Sessions::new(
        app.db().clone(),
        app.state.fansly.clone(),
        Some(std::sync::Arc::new(Keyring::parse(&new).unwrap())),
        app.state.config.upstream.throttle.to_config(),
        Duration::from_secs(1),
        app.state.events.clone(),
        None,
    );
    for account in [&id, &app.team.account_id] {
        let acct = only_new.connected(&app.team.id, account).await.unwrap();
        assert!(app.state.fansly.account_me(&acct.session).await.is_ok());
    }
}

#[tokio::test]
async fn without_a_master_key_credentials_are_refused_with_instructions() {
    let app = spawn_app().await;
    let keyless = Sessions::new(
        app.db().clone(),
        app.state.fansly.clone(),
        None,
        app.state.config.upstream.throttle.to_config(),
        Duration::from_secs(1),
        app.state.events.clone(),
        None,
    );
    let err = keyless
        .add_token(
            &app.team.id,
            secrecy::SecretString::from(app.creator_token(1).await),
            None,
        )
        .await
        .expect_err("refused");
    assert_eq!(err.status(), 503);
    assert!(err.to_string().contains("keys new-master"), "{err}");
}
