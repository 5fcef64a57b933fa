//! The sandbox spoken to by the real upstream client over real HTTP.

use fansly_sandbox::{Sandbox, SandboxConfig};
use fansly_upstream::{FanslyClient, FanslyConfig, Session, UpstreamError};
use secrecy::SecretString;
use serde_json::Value;

async fn start() -> (Sandbox, FanslyClient) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = Sandbox::start(listener, SandboxConfig::default())
        .await
        .unwrap();
    let client = FanslyClient::new(FanslyConfig {
        api_base: sandbox.url().parse().unwrap(),
        ..FanslyConfig::default()
    })
    .unwrap();
    (sandbox, client)
}

async fn creator_session(sandbox: &Sandbox, client: &FanslyClient) -> (String, Session) {
    let creator = sandbox.creators().remove(0);
    let device = client.device_id(&Default::default()).await.unwrap();
    (
        creator.account_id,
        Session::new(SecretString::from(creator.token), device),
    )
}

#[tokio::test]
async fn create_group_is_idempotent_per_pair() {
    let (sandbox, client) = start().await;
    let (me, session) = creator_session(&sandbox, &client).await;
    let fans: Value = client
        .accounts_by_usernames(&session, &["fan1".into(), "nobody_here".into()])
        .await
        .unwrap();
    let fans = fans.as_array().unwrap();
    assert_eq!(fans.len(), 1, "unknown usernames are left out");
    let fan = fans[0]["id"].as_str().unwrap().to_owned();

    let first = client.create_group(&session, &me, &fan).await.unwrap();
    let again = client.create_group(&session, &me, &fan).await.unwrap();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["createdBy"], Value::String(me.clone()));
    let gid = first["id"].as_str().unwrap();
    // Show Chat answers the detail shape (per-user settings, no group-level
    // `userSettings`), not the create answer: the same group and members.
    let detail = client.group(&session, gid).await.unwrap();
    assert_eq!(detail["id"], first["id"]);
    assert_eq!(detail["createdBy"], first["createdBy"]);
    let members = |g: &Value| -> Vec<Value> {
        g["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userId"].clone())
            .collect()
    };
    assert_eq!(members(&detail), members(&first));
    assert_eq!(detail["dmPermissionFlags"], first["dmPermissionFlags"]);

    let groups = client
        .messaging_groups(&session, &Default::default())
        .await
        .unwrap();
    assert_eq!(groups["aggregationData"]["total"], 1);
    assert_eq!(groups["data"][0]["partnerAccountId"], Value::String(fan));
}

#[tokio::test]
async fn me_answers_the_session_account() {
    let (sandbox, client) = start().await;
    let (me, session) = creator_session(&sandbox, &client).await;
    let v = client.account_me(&session).await.unwrap();
    assert_eq!(v["account"]["id"], Value::String(me));
}

#[tokio::test]
async fn refuses_unknown_token_and_wrong_check_key() {
    let (sandbox, client) = start().await;
    let device = client.device_id(&Default::default()).await.unwrap();
    let stranger = Session::new(SecretString::from("bm9wZTox".to_owned()), device.clone());
    let err = client.account_me(&stranger).await.unwrap_err();
    assert!(
        matches!(err, UpstreamError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );

    // A web app that cannot be read (nothing listens on port 1): the
    // refusal of the stale key surfaces.
    let wrong_key = FanslyClient::new(FanslyConfig {
        api_base: sandbox.url().parse().unwrap(),
        web_base: "http://127.0.0.1:1/".parse().unwrap(),
        check_key: "oybZy8-fySzis-bubayf".into(),
        ..FanslyConfig::default()
    })
    .unwrap();
    let (_, session) = creator_session(&sandbox, &client).await;
    // The sandbox's own web app: the current key is read from its bundle
    // and the refused call repeated with it.
    let recovers = FanslyClient::new(FanslyConfig {
        api_base: sandbox.url().parse().unwrap(),
        web_base: sandbox.url().parse().unwrap(),
        check_key: "oybZy8-fySzis-bubayf".into(),
        ..FanslyConfig::default()
    })
    .unwrap();
    recovers.account_me(&session).await.unwrap();
    assert_eq!(recovers.check_key(), fansly_upstream::DEFAULT_CHECK_KEY);
    let err = wrong_key.account_me(&session).await.unwrap_err();
    match err {
        UpstreamError::Api {
            status: 400,
            code: Some(99),
            details,
        } => {
            assert!(details.contains("fansly-client-check"), "{details}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn missing_token_is_fanslys_code_99() {
    let (sandbox, _) = start().await;
    let resp = reqwest::get(format!("{}/api/v1/account/me", sandbox.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 99);
    assert_eq!(
        body["error"]["details"],
        "missing parameter \"sessionToken\""
    );
    let resp = reqwest::get(format!("{}/api/v1/nope", sandbox.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.unwrap(), "not found");
}

#[tokio::test]
async fn logins_are_throttled_per_login_name() {
    let (sandbox, client) = start().await;
    let device = client.device_id(&Default::default()).await.unwrap();
    let route = fansly_upstream::Route::default();
    for _ in 0..10 {
        let err = client
            .login(&route, &device, "sandbox_studio", "wrong")
            .await
            .unwrap_err();
        assert!(matches!(err, UpstreamError::Rejected(_)), "{err:?}");
    }
    let err = client
        .login(&route, &device, "sandbox_studio", "sandbox_studio-password")
        .await
        .unwrap_err();
    match err {
        UpstreamError::RateLimited { retry_after } => {
            assert!(retry_after.is_some_and(|d| d.as_secs() <= 60))
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    // Another login name is not affected.
    let ok = client
        .login(
            &route,
            &device,
            "sandbox_creator",
            "sandbox_creator-password",
        )
        .await
        .unwrap();
    assert!(matches!(ok, fansly_upstream::LoginStep::Authenticated(_)));
    drop(sandbox);
}

#[tokio::test]
async fn messages_follow_fanslys_quirks() {
    let (sandbox, client) = start().await;
    let (me, session) = creator_session(&sandbox, &client).await;
    let fans: Value = client
        .accounts_by_usernames(&session, &["fan9".into()])
        .await
        .unwrap();
    let fan = fans[0]["id"].as_str().unwrap().to_owned();
    let group = client.create_group(&session, &me, &fan).await.unwrap();
    let gid = group["id"].as_str().unwrap().to_owned();
    let mut sent = Vec::new();
    for n in 0..3 {
        let msg = fansly_upstream::NewMessage {
            group_id: gid.clone(),
            content: format!("m{n}"),
            ..Default::default()
        };
        let m = client.send_message(&session, &msg).await.unwrap();
        sent.push(m["id"].as_str().unwrap().to_owned());
    }
    let page = client.messages(&session, &gid, None, 25).await.unwrap();
    let ids: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [&sent[2], &sent[1], &sent[0]], "newest first");
    let older = client
        .messages(&session, &gid, Some(&sent[2]), 25)
        .await
        .unwrap();
    assert_eq!(older["messages"].as_array().unwrap().len(), 2, "before");
    let one = client.messages(&session, &gid, None, 1).await.unwrap();
    assert_eq!(one["messages"], Value::Array(vec![]), "limit=1 is empty");

    // Unknown group: 500 "error getting group…"; unknown message: 400 code 99.
    let err = client
        .messages(&session, "123456789012345678", None, 25)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Api { status: 500, details, .. } if details.starts_with("error getting group")),
        "{err:?}"
    );
    let err = client
        .ack_messages(&session, &["123456789012345678".into()], 2)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            UpstreamError::Api {
                status: 400,
                code: Some(99),
                ..
            }
        ),
        "{err:?}"
    );
    // Own messages cannot be liked; acks answer a bare success.
    assert!(client.like_message(&session, &sent[0], 1).await.is_err());
    let acked = client
        .ack_messages(&session, &[sent[0].clone()], 2)
        .await
        .unwrap();
    assert_eq!(acked, Value::Null);
}

/// Answers are compressed when the request asks (gzip or br), and plain
/// when it does not.
#[tokio::test]
async fn answers_are_compressed_when_asked() {
    let (sandbox, _) = start().await;
    let raw = reqwest::Client::builder()
        .gzip(false)
        .brotli(false)
        .build()
        .unwrap();
    let url = format!("{}/api/v1/device/id", sandbox.url().trim_end_matches('/'));
    for (asked, magic) in [
        ("gzip", &[0x1f_u8, 0x8b][..]),
        ("deflate", &[0x78][..]),
        ("br", &[][..]),
        ("zstd", &[0x28, 0xb5, 0x2f, 0xfd][..]),
    ] {
        let resp = raw
            .get(&url)
            .header("accept-encoding", asked)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-encoding"], asked);
        let bytes = resp.bytes().await.unwrap();
        assert!(bytes.starts_with(magic));
        assert!(
            serde_json::from_slice::<Value>(&bytes).is_err(),
            "not plain JSON"
        );
    }
    let plain = raw.get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let body: Value = plain.json().await.unwrap();
    assert_eq!(body["success"], true, "{body}");
}
