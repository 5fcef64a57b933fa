//! Browser tests of the operator console: the gateway as `serve --sandbox`
//! builds it, driven in a real headless Chromium through chromedriver.
//! They run when FANSLY_GATEWAY_BROWSER_TESTS=1 (`.ci/run` sets it and
//! installs `chromium` and `chromium-driver`); otherwise they say they were
//! not run. Screenshots of each page go to the folder they print.

mod webdriver;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fansly_gateway::core::config::Config;
use fansly_gateway::startup::bootstrap;
use fansly_gateway::App;
use serde_json::{json, Value};

use webdriver::{Browser, Driver};

pub const BROWSER_ENV: &str = "FANSLY_GATEWAY_BROWSER_TESTS";
const OPERATOR_TOKEN: &str = "fgw_op_browser_test_0123456789abcdefghijklmnop";

fn enabled() -> bool {
    if std::env::var(BROWSER_ENV).as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "console browser tests NOT RUN: set {BROWSER_ENV}=1 (needs chromium and chromium-driver)"
    );
    false
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Gateway {
    url: String,
    sandbox: String,
    key: String,
    receiver: String,
    received: Arc<AtomicUsize>,
    _data: tempfile::TempDir,
}

/// A webhook receiver on loopback answering 200 and counting what it got.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                "thanks"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, count)
}

/// `serve --sandbox` on port 0: demo team, key file, connected sandbox creator.
async fn gateway() -> Gateway {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_owned(),
        operator_token: Some(OPERATOR_TOKEN.into()),
        ..Config::default()
    };
    config.sandbox.enabled = true;
    config.webhooks.allow_private_targets = true;
    config.webhooks.poll_interval_ms = 200;
    let app = App::build(config).await.expect("app builds");
    let demo = bootstrap::sandbox_demo(&app).await.expect("sandbox demo");
    let url = format!("http://{}", app.address());
    let sandbox = app.sandbox().unwrap().url();
    let key = std::fs::read_to_string(&demo.key_file)
        .unwrap()
        .trim()
        .to_owned();
    tokio::spawn(app.run_until_stopped());
    let (receiver, received) = receiver().await;
    Gateway {
        url,
        sandbox,
        key,
        receiver,
        received,
        _data: data,
    }
}

impl Gateway {
    /// A GET of the gateway's `path` with the demo team's key.
    async fn get(&self, http: &reqwest::Client, path: &str) -> reqwest::Response {
        let req = http.get(format!("{}{path}", self.url));
        req.bearer_auth(&self.key).send().await.unwrap()
    }
}

async fn shot(b: &Browser, name: &str) {
    // Grow the window to the page so the picture shows all of it.
    let height = b
        .js("return document.documentElement.scrollHeight;", json!([]))
        .await
        .as_u64()
        .unwrap_or(900)
        .clamp(600, 2400) as u32;
    let width = b
        .js("return window.outerWidth;", json!([]))
        .await
        .as_u64()
        .unwrap_or(1280) as u32;
    b.resize(width, height + 200).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let path = shots_dir().join(format!("{name}.png"));
    b.screenshot(&path).await;
    b.resize(width, 900).await;
}

async fn no_error(b: &Browser, page: &str) {
    if let Some(e) = b.error_banner().await {
        panic!("the {page} page shows an error: {e}");
    }
}

async fn go(b: &Browser, gw: &Gateway, page: &str) {
    b.goto(&format!("{}/console#/{page}", gw.url)).await;
    b.js("window.confirm = () => true;", json!([])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_end_to_end() {
    if !enabled() {
        return;
    }
    let gw = gateway().await;
    let driver = Driver::start().await;
    let b = driver.session(1280, 900).await;
    let http = reqwest::Client::new();
    println!("console screenshots: {}", shots_dir().display());

    // `/` leads to the sign-in form; a wrong key is refused in the page.
    b.goto(&format!("{}/", gw.url)).await;
    b.fill("#signin-key", "fgw_not_a_real_key").await;
    b.click("#signin-submit").await;
    b.wait_until("the refusal", "!document.querySelector('#error').hidden")
        .await;
    shot(&b, "signin").await;

    // Sign in with the sandbox key: sandbox_creator is connected, relay up.
    b.fill("#signin-key", &gw.key).await;
    b.click("#signin-submit").await;
    b.wait_until(
        "sandbox_creator connected with its relay",
        "[...document.querySelectorAll('.account[data-username=sandbox_creator] .badge')]\
           .some(e => e.textContent === 'relay connected') && \
         document.querySelector('.account[data-username=sandbox_creator]').textContent.includes('authenticated')",
    )
    .await;
    no_error(&b, "accounts").await;

    // The API reference renders offline (the browser reaches loopback only),
    // from this gateway's files alone, and "try it" carries the signed-in key.
    b.goto(&format!("{}/docs", gw.url)).await;
    b.wait_until(
        "the reference's operations",
        "document.body.innerText.includes('List Accounts') && \
         document.body.innerText.includes('/api/fansly/{fanslyAccount}/vault/albums')",
    )
    .await;
    let foreign = b
        .js(
            "return performance.getEntriesByType('resource')\
               .map(e => e.name).filter(u => !u.startsWith(location.origin));",
            json!([]),
        )
        .await;
    assert_eq!(foreign, json!([]), "the reference loaded from elsewhere");
    let stored = b
        .js("return sessionStorage.getItem('fgw.key');", json!([]))
        .await;
    assert_eq!(stored, json!(gw.key), "the key \"try it\" sends");
    shot(&b, "docs").await;

    // Connect sandbox_mailcode: the console asks for the e-mailed code.
    go(&b, &gw, "accounts").await;
    b.js("window.confirm = () => true;", json!([])).await;
    b.fill("#connect-username", "sandbox_mailcode").await;
    b.fill("#connect-password", "sandbox_mailcode-password")
        .await;
    b.click("#connect-submit").await;
    b.wait_for("#twofa-code").await;
    shot(&b, "accounts-2fa").await;
    let emails: Value = http
        .get(format!(
            "{}/_sandbox/emails?to=sandbox_mailcode",
            gw.sandbox
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = emails
        .as_array()
        .and_then(|a| a.last())
        .and_then(|m| m["code"].as_str())
        .unwrap_or_else(|| panic!("no e-mailed code: {emails}"))
        .to_owned();
    b.fill("#twofa-code", &code).await;
    b.click("#twofa-submit").await;
    b.wait_until(
        "sandbox_mailcode authenticated",
        "document.querySelector('#login-state[data-status=authenticated]') && \
         document.querySelector('.account[data-username=sandbox_mailcode]')",
    )
    .await;
    no_error(&b, "accounts").await;
    shot(&b, "accounts").await;

    // A webhook, then a fan message from the Sandbox page: a delivery with its attempt.
    go(&b, &gw, "webhooks").await;
    b.fill("#wh-url", &gw.receiver).await;
    b.click("#wh-save").await;
    b.wait_for(".webhook").await;
    no_error(&b, "webhooks").await;

    go(&b, &gw, "sandbox").await;
    b.wait_for("#sb-creator option").await;
    b.js(
        "const s = document.querySelector('#sb-creator'); s.value = 'sandbox_creator';",
        json!([]),
    )
    .await;
    b.fill("#sb-text", "hello from the browser test").await;
    b.click("#sb-message").await;
    b.wait_for("#sb-result [data-kind=message]").await;
    no_error(&b, "sandbox").await;
    shot(&b, "sandbox").await;

    go(&b, &gw, "webhooks").await;
    b.click(".webhook .wh-deliveries").await;
    b.wait_until(
        "a delivered delivery with its attempt",
        "document.querySelector('.delivery[data-status=delivered] .attempt')",
    )
    .await;
    assert!(gw.received.load(Ordering::SeqCst) >= 1);
    let attempt = b.text(".delivery[data-status=delivered] .attempt").await;
    assert!(attempt.contains("200"), "attempt row: {attempt}");
    b.click(".webhook .wh-test").await;
    b.wait_until(
        "the test delivery",
        "[...document.querySelectorAll('.delivery[data-status=delivered]')].some(d => d.textContent.includes('webhook.test'))",
    )
    .await;
    no_error(&b, "webhooks").await;
    shot(&b, "webhooks").await;

    // Create a key (shown once), check it works, revoke it, check it does not.
    go(&b, &gw, "keys").await;
    b.fill("#key-name", "browser test").await;
    b.click("#key-create-submit").await;
    let secret = b.text("#new-key-secret").await;
    assert!(secret.starts_with("fgw_"), "{secret}");
    let me = |key: String| {
        let http = http.clone();
        let url = format!("{}/api/console/me", gw.url);
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(me(secret.clone()).await, 200);
    // Its MCP read-only switch, from the keys table.
    b.click("tr[data-key-name='browser test'] .mcp-read-only")
        .await;
    b.wait_until(
        "the switch shown on after the reload",
        // The table is drawn anew once the switch is stored (the new key's
        // secret goes with the old one).
        "!document.querySelector('#new-key-secret') && \
         document.querySelector(\"tr[data-key-name='browser test'] .mcp-read-only\")?.checked === true",
    )
    .await;
    let keys: Value = gw
        .get(&http, "/api/console/keys")
        .await
        .json()
        .await
        .unwrap();
    let listed = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "browser test")
        .unwrap();
    assert_eq!(listed["mcp_read_only"], true, "{listed}");
    no_error(&b, "keys").await;
    shot(&b, "keys").await;

    // The MCP page: the endpoint and client configurations to paste.
    go(&b, &gw, "mcp").await;
    b.wait_for("#mcp-url").await;
    let url = format!("{}/mcp", gw.url);
    assert_eq!(b.text("#mcp-url").await, url);
    for snippet in ["streamable-http", "claude-desktop"] {
        let text = b.text(&format!("[data-snippet={snippet}] pre")).await;
        assert!(text.contains(&url) && text.contains("mcpServers"), "{text}");
    }
    no_error(&b, "mcp").await;
    shot(&b, "mcp").await;
    go(&b, &gw, "keys").await;
    b.wait_for("#keys-table").await;
    b.js("window.confirm = () => true;", json!([])).await;
    b.click("tr[data-key-name='browser test'] .revoke").await;
    b.wait_until(
        "the key shown revoked",
        "document.querySelector(\"tr[data-key-name='browser test']\").textContent.includes('revoked')",
    )
    .await;
    assert_eq!(me(secret).await, 401);
    no_error(&b, "keys").await;

    // The ledger moves after a metered call.
    go(&b, &gw, "credits").await;
    let before: i64 = b.text("#balance").await.parse().unwrap();
    let accounts: Value = gw
        .get(&http, "/api/fansly/accounts")
        .await
        .json()
        .await
        .unwrap();
    let account = accounts[0]["id"].as_str().unwrap();
    let looked_up = gw
        .get(&http, &format!("/api/fansly/{account}/users/fan1"))
        .await;
    assert_eq!(looked_up.status(), 200);
    go(&b, &gw, "keys").await;
    b.wait_for("#keys-table").await;
    go(&b, &gw, "credits").await;
    b.wait_until(
        "the balance to drop",
        &format!("Number(document.querySelector('#balance')?.textContent) < {before}"),
    )
    .await;
    let first_row = b.text("#ledger-table tbody tr").await;
    assert!(first_row.contains("users.lookup"), "{first_row}");
    b.wait_for("#chart-endpoints").await;
    no_error(&b, "credits").await;
    shot(&b, "credits").await;

    // The request shows in Requests with its credits and Fansly calls.
    go(&b, &gw, "requests").await;
    b.wait_until(
        "the lookup in the request log",
        "[...document.querySelectorAll('#requests-table tr.request')].some(r => r.textContent.includes('/users/{usernames}'))",
    )
    .await;
    no_error(&b, "requests").await;
    shot(&b, "requests").await;

    // Phone width: the accounts page still fits.
    b.phone(Some((390, 844))).await;
    go(&b, &gw, "accounts").await;
    b.wait_for(".account[data-username=sandbox_creator]").await;
    let overflow = b
        .js(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            json!([]),
        )
        .await;
    assert!(
        overflow.as_i64().unwrap_or(0) <= 1,
        "horizontal overflow {overflow}"
    );
    let path = shots_dir().join("accounts-phone.png");
    b.screenshot(&path).await;
    b.phone(None).await;

    // The operator token sees every team.
    b.click("#sign-out").await;
    b.fill("#signin-key", OPERATOR_TOKEN).await;
    b.click("#signin-submit").await;
    b.wait_until(
        "the operator's team picker",
        "!document.querySelector('#team-picker').hidden && \
         document.querySelector('#team-name').textContent.startsWith('operator')",
    )
    .await;
    b.wait_for(".account[data-username=sandbox_creator]").await;
    no_error(&b, "accounts (operator)").await;

    b.quit().await;
    drop(driver);
    println!("console screenshots written to {}", shots_dir().display());
}
