//! A minimal W3C WebDriver client over reqwest, enough to drive the console
//! in headless Chromium through Debian's `chromedriver`: sessions, finding
//! elements, clicking, typing, running scripts, waiting, screenshots.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver; killed on drop.
pub struct Driver {
    child: Child,
    base: String,
}

impl Driver {
    pub async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(std::env::var("CHROMEDRIVER").unwrap_or("chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { child, base }
    }

    /// A new headless Chromium session with a `width`×`height` window.
    pub async fn session(&self, width: u32, height: u32) -> Browser {
        let binary = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                // No network but loopback: every other host fails to resolve
                // and every other request goes to a closed proxy port, so a
                // page that loads anything from elsewhere breaks visibly.
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", format!("--window-size={width},{height}"),
                         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                         "--proxy-server=http://127.0.0.1:9"]
            }
        }}});
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let v: Value = http
            .post(format!("{}/session", self.base))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Browser {
            http,
            url: format!("{}/session/{id}", self.base),
        }
    }
}

impl Drop for Driver {
    /// Asks chromedriver to shut down, which closes the browsers of sessions
    /// still open (a failed test never quits its own), then makes sure.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://");
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                s,
                "GET /shutdown HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.read_to_end(&mut Vec::new());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Browser {
    http: reqwest::Client,
    url: String,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let v: Value = req
            .send()
            .await
            .expect("webdriver answers")
            .json()
            .await
            .unwrap();
        if let Some(err) = v["value"].get("error") {
            panic!("webdriver {path}: {err} {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("element id for {css}: {v}"))
            .to_owned()
    }

    /// Waits for `css` to match; its element id.
    async fn element(&self, css: &str) -> String {
        self.wait_for(css).await;
        self.find(css).await
    }

    /// POSTs `body` to the element's `action` (click, clear, value).
    async fn on_element(&self, id: &str, action: &str, body: Value) {
        let path = format!("/element/{id}/{action}");
        self.call(reqwest::Method::POST, &path, Some(body)).await;
    }

    /// Waits for `css` to match, then clicks it.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.on_element(&id, "click", json!({})).await;
    }

    /// Waits for `css`, clears it and types `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.on_element(&id, "clear", json!({})).await;
        self.on_element(&id, "value", json!({ "text": text })).await;
    }

    /// The text of the first match of `css` (after waiting for it).
    pub async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the JS expression `cond` is truthy (15 s), else panics
    /// with `what` and the page's error banner.
    pub async fn wait_until(&self, what: &str, cond: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ok = self.js(&format!("return !!({cond});"), json!([])).await;
            if ok.as_bool() == Some(true) {
                return;
            }
            if Instant::now() > deadline {
                let banner = self
                    .js(
                        "const e = document.querySelector('#error'); \
                         return e && !e.hidden ? e.textContent : '(no error shown)';",
                        json!([]),
                    )
                    .await;
                panic!("timed out waiting for {what}; error banner: {banner}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn wait_for(&self, css: &str) {
        let q = serde_json::to_string(css).unwrap();
        self.wait_until(css, &format!("document.querySelector({q})"))
            .await;
    }

    /// The error banner's text when it is shown.
    pub async fn error_banner(&self) -> Option<String> {
        self.js(
            "const e = document.querySelector('#error'); return e && !e.hidden ? e.textContent : null;",
            json!([]),
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Emulates a phone-sized viewport (headless windows cannot be narrower
    /// than 500 px); `None` ends the emulation.
    pub async fn phone(&self, size: Option<(u32, u32)>) {
        let (cmd, params) = match size {
            Some((width, height)) => (
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true}),
            ),
            None => ("Emulation.clearDeviceMetricsOverride", json!({})),
        };
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
        .await;
    }

    /// Writes a PNG of the viewport to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    pub async fn quit(self) {
        let _ = self.http.delete(&self.url).send().await;
    }
}
