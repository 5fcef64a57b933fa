//! Connecting accounts by login: password, e-mailed codes, authenticator
//! codes, wrong codes, wrong passwords, restarts.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, assert_error_naming, spawn_app, SendJson, TestApp};

/// Starts a login with `credentials` and waits for it to settle: the
/// account id and the settled status.
async fn settled_login(app: &TestApp, credentials: Value) -> (String, Value) {
    let id = app.authenticate(&app.team, credentials).await;
    let status = app.settled_status(&app.team, &id).await;
    (id, status)
}

/// [`settled_login`] of sandbox creator `n`, returned first.
async fn login(app: &TestApp, n: usize) -> (Value, String, Value) {
    let c = app.creator(n).await;
    let credentials = json!({"username": c["username"], "password": c["password"]});
    let (id, status) = settled_login(app, credentials).await;
    (c, id, status)
}

async fn put_code(app: &TestApp, account: &str, code: &str) -> reqwest::Response {
    app.send_as(
        &app.team,
        Method::PUT,
        &format!("/api/fansly/authenticate/{account}"),
        Some(&json!({ "code": code })),
    )
    .await
}

/// Submits `code` (accepted for checking) and waits for the login's outcome.
async fn code_outcome(app: &TestApp, account: &str, code: &str) -> Value {
    assert_eq!(put_code(app, account, code).await.status(), 200);
    app.settled_status(&app.team, account).await
}

async fn emailed_code(app: &TestApp, username: &str) -> String {
    let mails = app
        .sandbox_get(&format!("/_sandbox/emails?to={username}"))
        .await;
    mails
        .as_array()
        .unwrap()
        .last()
        .expect("a code was e-mailed")["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn totp_now(base32: &str) -> String {
    let secret = totp_rs::Secret::try_from_base32(base32).unwrap();
    totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .unwrap()
        .generate_current()
        .to_string()
}

#[tokio::test]
async fn password_only_login_connects_and_works() {
    let app = spawn_app().await;
    let (creator, id, status) = login(&app, 1).await;
    assert_eq!(status["status"], "authenticated", "{status}");
    assert_eq!(status["is_authenticated"], true);
    assert_eq!(status["needs_code"], false);
    assert_eq!(status["fansly_user_data"]["id"], creator["account_id"]);
    assert_eq!(status["display_name"], "sandbox_studio");

    let resp = app.get(&format!("/api/fansly/{id}/users/fan1")).await;
    assert_eq!(resp.status(), 200);
    let row = app.account_row(&id).await;
    assert_eq!(row["fansly_username"], "sandbox_studio");
    assert_eq!(row["authentication_progress"], "authenticated");
    // The device id is fetched once and reused.
    assert_eq!(
        app.upstream_count("GET", "/api/v1/device/id").await,
        2,
        "one per connected account"
    );
}

#[tokio::test]
async fn emailed_code_completes_the_login() {
    let app = spawn_app().await;
    let (creator, id, status) = login(&app, 2).await;
    assert_eq!(status["status"], "challenge-email", "{status}");
    assert_eq!(status["needs_code"], true);
    assert_eq!(status["twofa_type"], 2);
    assert_eq!(status["masked_email"], "s***************@s******.invalid");
    let code = emailed_code(&app, creator["username"].as_str().unwrap()).await;
    let resp = put_code(&app, &id, &code).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "verifying");
    let status = app.settled_status(&app.team, &id).await;
    assert_eq!(status["status"], "authenticated", "{status}");
    assert!(status["last_error"].is_null());
}

#[tokio::test]
async fn authenticator_code_completes_the_login() {
    let app = spawn_app().await;
    let (creator, id, status) = login(&app, 3).await;
    assert_eq!(status["status"], "challenge-authenticator", "{status}");
    assert_eq!(status["twofa_type"], 0);
    let code = totp_now(creator["totp_secret"].as_str().unwrap());
    let status = code_outcome(&app, &id, &code).await;
    assert_eq!(status["status"], "authenticated", "{status}");
}

#[tokio::test]
async fn a_wrong_code_keeps_the_challenge_then_the_right_one_passes() {
    let app = spawn_app().await;
    let (creator, id, _) = login(&app, 2).await;
    let code = emailed_code(&app, creator["username"].as_str().unwrap()).await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    let status = code_outcome(&app, &id, wrong).await;
    assert_eq!(status["status"], "challenge-email", "{status}");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("not accepted"),
        "{status}"
    );
    let status = code_outcome(&app, &id, &code).await;
    assert_eq!(status["status"], "authenticated", "{status}");
}

#[tokio::test]
async fn a_bad_password_fails_with_a_clear_error() {
    let app = spawn_app().await;
    let credentials = json!({"username": "sandbox_studio", "password": "nope"});
    let (id, status) = settled_login(&app, credentials).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["is_authenticated"], false);
    let err = status["last_error"].as_str().unwrap();
    assert!(
        err.contains("refused") && err.contains("invalid username or password"),
        "{err}"
    );
    // The failed account cannot be used, and says why.
    let msg = assert_error(app.get(&format!("/api/fansly/{id}/users/fan1")).await, 409).await;
    assert!(msg.contains(&id) && msg.contains("failed"), "{msg}");
}

#[tokio::test]
async fn bad_connect_requests_are_clear_4xx() {
    let app = spawn_app().await;
    let post = |body: Value| {
        let app = &app;
        async move { app.post("/api/fansly/authenticate", &body).await }
    };
    assert_error_naming(post(json!({"password": "x"})).await, 422, "username").await;
    assert_error_naming(
        post(json!({"username": "a", "password": ""})).await,
        422,
        "password",
    )
    .await;
    assert_error_naming(
        post(json!({"username": "a", "password": "b", "proxyCountry": "zz"})).await,
        422,
        "proxyCountry",
    )
    .await;
    let both = json!({"username": "a", "password": "b", "proxyCountry": "us", "customProxy": {"host": "h", "port": 1}});
    assert_error(post(both).await, 422).await;
    assert_error_naming(
        post(json!({"username": "a", "password": "b", "customProxy": {"host": "h", "port": 0}}))
            .await,
        422,
        "customProxy.port",
    )
    .await;

    let (_, id, _) = login(&app, 1).await;
    assert_error_naming(
        put_code(&app, &id, "123456").await,
        409,
        "not waiting for a code",
    )
    .await;
    assert_error_naming(put_code(&app, &id, "12ab").await, 422, "code").await;
    // Connecting the same login again needs force_connect.
    let c = app.creator(1).await;
    let again = post(json!({"username": c["username"], "password": c["password"]})).await;
    assert_error_naming(again, 409, "force_connect").await;
    let forced = app
        .authenticate(
            &app.team,
            json!({"username": c["username"], "password": c["password"], "force_connect": true}),
        )
        .await;
    assert_eq!(forced, id, "the same account is reconnected");
    assert_eq!(
        app.settled_status(&app.team, &id).await["status"],
        "authenticated"
    );
    // Another team cannot see it.
    let other = app.new_team(10, 0).await;
    let resp = app
        .get_as(&other, &format!("/api/fansly/authenticate/{id}"))
        .await;
    assert_error(resp, 404).await;
}

#[tokio::test]
async fn reauthenticate_logs_in_again_with_stored_credentials() {
    let app = spawn_app().await;
    let (_, id, _) = login(&app, 1).await;
    let before = app.upstream_count("POST", "/api/v1/login").await;
    assert_eq!(reauthenticate(&app, &id).await["status"], "authenticated");
    assert_eq!(
        app.upstream_count("POST", "/api/v1/login").await,
        before + 1
    );
    // A token-only account has nothing to log in with.
    let resp = app
        .send(
            Method::POST,
            &format!(
                "/api/fansly/authenticate/{}/reauthenticate",
                app.team.account_id
            ),
            None,
        )
        .await;
    assert_error_naming(resp, 409, "no stored password").await;
}

#[tokio::test]
async fn a_restart_during_a_pending_challenge_resumes_it() {
    use fansly_gateway::{tenancy, App, Config};
    let sandbox = crate::helpers::start_sandbox().await;
    let data = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::test_database_url().await;
    let config = || {
        let mut c = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_owned(),
            database_url: database_url.clone(),
            master_key_file: Some(data.path().join("master.key")),
            ..Config::default()
        };
        c.upstream.api_base = sandbox.url();
        c
    };
    std::fs::write(
        data.path().join("master.key"),
        fansly_gateway::core::crypto::Keyring::generate_entry(),
    )
    .unwrap();
    let http = reqwest::Client::new();

    // First life: start the login, reach the challenge, stop.
    let first = App::build(config()).await.unwrap();
    let base = format!("http://{}", first.address());
    let team = tenancy::create_team(&first.state().db, "t", 10, None)
        .await
        .unwrap();
    let key = tenancy::create_key(&first.state().db, &team.id, "k")
        .await
        .unwrap()
        .secret;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(first.run_until(async {
        let _ = stopped.await;
    }));
    let resp: Value = http
        .post(format!("{base}/api/fansly/authenticate"))
        .bearer_auth(&key)
        .json(&json!({"username": "sandbox_mailcode", "password": "sandbox_mailcode-password"}))
        .send_json()
        .await;
    let id = resp["account_id"].as_str().unwrap().to_owned();
    let poll = |base: String| {
        let (http, key, id) = (http.clone(), key.clone(), id.clone());
        async move {
            for _ in 0..200 {
                let s: Value = http
                    .get(format!("{base}/api/fansly/authenticate/{id}"))
                    .bearer_auth(&key)
                    .send_json()
                    .await;
                if !matches!(
                    s["status"].as_str(),
                    Some("queued" | "logging-in" | "verifying")
                ) {
                    return s;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            panic!("did not settle");
        }
    };
    assert_eq!(poll(base.clone()).await["status"], "challenge-email");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();

    // Second life: a new process on the same database takes the code.
    let second = App::build(config()).await.unwrap();
    let base = format!("http://{}", second.address());
    tokio::spawn(second.run_until_stopped());
    let mails = http
        .get(format!(
            "{}/_sandbox/emails?to=sandbox_mailcode",
            sandbox.url()
        ))
        .send_json()
        .await;
    let code = mails.as_array().unwrap().last().unwrap()["code"]
        .as_str()
        .unwrap();
    let resp = http
        .put(format!("{base}/api/fansly/authenticate/{id}"))
        .bearer_auth(&key)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(poll(base.clone()).await["status"], "authenticated");
    let users = http
        .get(format!("{base}/api/fansly/{id}/users/fan1"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200);
}

/// Starts a login of `sandbox_verify` (new devices get an e-mail check) and
/// waits for it to settle.
async fn login_new_device(app: &TestApp) -> (String, Value) {
    let credentials = json!({"username": "sandbox_verify", "password": "sandbox_verify-password"});
    settled_login(app, credentials).await
}

async fn new_device_mail(app: &TestApp) -> Value {
    let mails = app.sandbox_get("/_sandbox/emails?to=sandbox_verify").await;
    mails
        .as_array()
        .unwrap()
        .last()
        .expect("a check was e-mailed")
        .clone()
}

async fn reauthenticate(app: &TestApp, id: &str) -> Value {
    let resp = app
        .send(
            Method::POST,
            &format!("/api/fansly/authenticate/{id}/reauthenticate"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    app.settled_status(&app.team, id).await
}

#[tokio::test]
async fn a_new_device_e_mail_check_is_its_own_state_and_its_code_completes_the_login() {
    let app = spawn_app().await;
    let (id, status) = login_new_device(&app).await;
    assert_eq!(status["status"], "challenge-verification", "{status}");
    assert_eq!(status["needs_code"], true);
    assert_eq!(status["twofa_type"], 2);
    assert_eq!(status["masked_email"], "s*************@s******.invalid");
    let told = status["last_error"].as_str().unwrap();
    assert!(
        told.contains("confirm this login")
            && told.contains(&format!("PUT /api/fansly/authenticate/{id}")),
        "{status}"
    );
    // List Accounts shows the same state and instruction.
    let row = app.account_row(&id).await;
    assert_eq!(row["authentication_progress"], "challenge-verification");
    assert_eq!(row["needs_code"], true);
    assert_eq!(row["last_error"], status["last_error"]);

    let code = new_device_mail(&app).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = if code == "111111" { "222222" } else { "111111" };
    let status = code_outcome(&app, &id, wrong).await;
    assert_eq!(status["status"], "challenge-verification", "{status}");
    assert!(status["last_error"]
        .as_str()
        .unwrap()
        .contains("not accepted"));

    let status = code_outcome(&app, &id, &code).await;
    assert_eq!(status["status"], "authenticated", "{status}");
    assert!(status["last_error"].is_null());
    assert_eq!(status["fansly_user_data"]["username"], "sandbox_verify");
    let verify = app.upstream_requests().await;
    let sent: Vec<_> = verify
        .iter()
        .filter(|r| r.path == "/api/v1/login/email/verify")
        .collect();
    assert_eq!(sent.len(), 2, "the wrong code and the right one");
    assert!(sent
        .iter()
        .all(|r| r.headers.contains_key("fansly-client-check")));
    assert_eq!(app.upstream_count("POST", "/api/v1/login/twofa").await, 0);

    // The device is confirmed now: logging in again from it passes at once.
    assert_eq!(reauthenticate(&app, &id).await["status"], "authenticated");
    assert_eq!(
        app.upstream_count("POST", "/api/v1/login/email/verify")
            .await,
        2
    );
}

#[tokio::test]
async fn opening_the_e_mail_link_then_reauthenticating_completes_the_login() {
    let app = spawn_app().await;
    let (id, status) = login_new_device(&app).await;
    assert_eq!(status["status"], "challenge-verification", "{status}");
    assert!(status["last_error"]
        .as_str()
        .unwrap()
        .contains("/reauthenticate"));
    // The owner opens the link: the web app posts its token.
    let link = new_device_mail(&app).await["link_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .sandbox_post("/api/v1/login/email/verification", json!({ "token": link }))
        .await;
    assert_eq!(resp.status(), 200);
    let status = reauthenticate(&app, &id).await;
    assert_eq!(status["status"], "authenticated", "{status}");
    assert_eq!(
        app.upstream_count("POST", "/api/v1/login/email/verify")
            .await,
        0
    );
}
