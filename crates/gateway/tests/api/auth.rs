//! API keys: missing, malformed, unknown and revoked keys are 401; keys are stored only as hashes.

use fansly_gateway::tenancy;
use reqwest::Method;
use serde_json::json;

use std::time::{Duration, Instant};

use crate::helpers::{assert_error, assert_error_naming, spawn_app, spawn_app_on, spawn_app_with};

#[tokio::test]
async fn missing_malformed_and_unknown_keys_are_401() {
    let app = spawn_app().await;
    let path = "/api/fansly/accounts";
    assert_error_naming(
        app.request(Method::GET, path, None, None).await,
        401,
        "Bearer",
    )
    .await;
    let resp = app
        .http
        .get(format!("{}{path}", app.address))
        .header("authorization", format!("Basic {}", app.team.key))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401).await;
    let forged = format!("fgw_{}", "a".repeat(43));
    assert_error_naming(
        app.request(Method::GET, path, Some(&forged), None).await,
        401,
        "invalid or revoked",
    )
    .await;
    assert_error(
        app.request(Method::GET, path, Some("garbage"), None).await,
        401,
    )
    .await;
}

#[tokio::test]
async fn a_key_revoked_on_one_instance_is_refused_by_every_instance_within_the_cache_time() {
    // Two instances on one database, each serving keys from memory for 300 ms.
    let sandbox = fansly_sandbox::Sandbox::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Default::default(),
    )
    .await
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let url = crate::helpers::test_database_url().await;
    let ttl = Duration::from_millis(300);
    let cache = |c: &mut fansly_gateway::core::config::Config| c.key_cache_ms = 300;
    let one = spawn_app_on(&sandbox, data.path(), url.clone(), None, cache).await;
    let two = spawn_app_on(
        &sandbox,
        data.path(),
        url,
        Some(one.app.team.clone()),
        cache,
    )
    .await;
    let (a, b) = (&one.app, &two.app);
    let second = tenancy::create_key(a.db(), &a.team.id, "second")
        .await
        .unwrap();
    let path = "/api/fansly/accounts";
    for app in [a, b] {
        let ok = app
            .request(Method::GET, path, Some(&second.secret), None)
            .await;
        assert_eq!(ok.status(), 200, "both instances now remember the key");
    }

    // Revoked through the API of instance one (with the other key).
    let revoked = a
        .request(
            Method::DELETE,
            &format!("/api/console/keys/{}", second.info.id),
            Some(&a.team.key),
            None,
        )
        .await;
    assert_eq!(revoked.status(), 200);
    let at = Instant::now();
    // Instance one forgets it at once.
    assert_error(
        a.request(Method::GET, path, Some(&second.secret), None)
            .await,
        401,
    )
    .await;
    // Instance two refuses it as soon as its memory of the key is older
    // than the cache time: never later than that (plus a request's time).
    loop {
        let resp = b
            .request(Method::GET, path, Some(&second.secret), None)
            .await;
        if resp.status() == 401 {
            break;
        }
        assert_eq!(resp.status(), 200);
        assert!(
            at.elapsed() < ttl + Duration::from_millis(200),
            "instance two still accepts the revoked key after {:?}",
            at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The team's other key is untouched on both.
    assert_eq!(a.get(path).await.status(), 200);
    assert_eq!(b.get(path).await.status(), 200);
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn a_key_revoked_in_the_database_is_refused_after_the_cache_time() {
    // As the CLI does it (`keys revoke`, another process): no instance is told.
    let app = spawn_app_with(|c| c.key_cache_ms = 100).await;
    let second = tenancy::create_key(app.db(), &app.team.id, "second")
        .await
        .unwrap();
    let path = "/api/fansly/accounts";
    let ok = app
        .request(Method::GET, path, Some(&second.secret), None)
        .await;
    assert_eq!(ok.status(), 200);
    assert!(tenancy::revoke_key(app.db(), &second.info.id)
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_error(
        app.request(Method::GET, path, Some(&second.secret), None)
            .await,
        401,
    )
    .await;
    assert_eq!(app.get(path).await.status(), 200);
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let keys = tenancy::list_keys(app.db(), &app.team.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(app.team.key.starts_with(&keys[0].prefix));
    assert!(keys[0].prefix.len() < app.team.key.len() / 2);
    let row: (String,) = sqlx::query_as("SELECT key_hash FROM api_keys WHERE id = $1")
        .bind(&keys[0].id)
        .fetch_one(&app.db().pool)
        .await
        .unwrap();
    assert!(!row.0.contains(&app.team.key[4..]));
    assert_eq!(row.0.len(), 64, "a SHA-256 hex digest");
}

#[tokio::test]
async fn another_teams_account_is_404_exactly_like_a_missing_one() {
    let app = spawn_app().await;
    let other = app.new_team(100, 1).await;
    let body = json!({"user_id": app.fan_id(1).await});

    let foreign = app
        .post(&format!("/api/fansly/{}/chats", other.account_id), &body)
        .await;
    let missing = app
        .post("/api/fansly/fansly_acct_doesnotexist123/chats", &body)
        .await;
    let foreign_msg = assert_error(foreign, 404).await;
    let missing_msg = assert_error(missing, 404).await;
    assert_eq!(
        foreign_msg.replace(&other.account_id, "X"),
        missing_msg.replace("fansly_acct_doesnotexist123", "X")
    );
    let users = app
        .get(&format!("/api/fansly/{}/users/fan1", other.account_id))
        .await;
    assert_error(users, 404).await;
    // The other team's own key reaches it.
    assert_eq!(app.create_chat_as(&other, &body).await.status(), 200);
    assert_eq!(
        app.balance(&app.team.id).await,
        1_000 - 1,
        "only the fan lookup was billed"
    );
}
