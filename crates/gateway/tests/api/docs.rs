//! The API reference at `/docs` loads from the gateway alone, and
//! `/openapi.json` says what the routes do: distinct schema names, OpenAPI
//! path parameters, the shapes the handlers answer.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{spawn_app, TestApp};

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap()
}

/// Every `attr="…"` value in `html` (no HTML parser: the page is ours and small).
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.split_once('"').map(|(v, _)| v)
        })
        .collect()
}

#[tokio::test]
async fn the_reference_page_and_its_assets_come_from_the_gateway_only() {
    let app = spawn_app().await;
    let page = get(&app, "/docs").await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // The browser itself refuses any other origin for scripts, styles,
    // fonts, images and fetches.
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "font-src 'self' data:",
    ] {
        assert!(csp.contains(directive), "{directive} missing: {csp}");
    }
    assert!(
        !csp.contains("http"),
        "an origin other than 'self' in {csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );

    let mut assets = attribute_values(&html, "src");
    assets.extend(
        attribute_values(&html, "href")
            .into_iter()
            .filter(|h| h.ends_with(".js") || h.ends_with(".css")),
    );
    assert_eq!(assets.len(), 2, "{html}");
    for asset in assets {
        assert!(
            asset.starts_with('/') && !asset.starts_with("//"),
            "not same-origin: {asset}"
        );
        let resp = get(&app, asset).await;
        assert_eq!(resp.status(), 200, "{asset}");
        let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ctype.starts_with("text/javascript"), "{asset}: {ctype}");
        let body = resp.text().await.unwrap();
        assert!(body.len() > 500, "{asset} is empty");
        if asset.ends_with("init.js") {
            // Configured not to reach out: no web fonts, telemetry or proxy.
            for setting in [
                "url: \"/openapi.json\"",
                "withDefaultFonts: false",
                "telemetry: false",
            ] {
                assert!(body.contains(setting), "{setting} missing from init.js");
            }
            assert!(
                !body.contains("proxyUrl"),
                "a proxy would send calls elsewhere"
            );
            assert!(!body.contains("http://") && !body.contains("https://"));
            // The console's sign-in key is offered to "try it".
            assert!(body.contains("sessionStorage.getItem(\"fgw.key\")"));
        } else {
            assert!(body.contains("@scalar/api-reference"), "{asset}");
        }
    }
}

async fn openapi(app: &TestApp) -> Value {
    let resp = get(app, "/openapi.json").await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn openapi_is_3_1_with_every_path_parameter_declared_under_its_name() {
    let app = spawn_app().await;
    let doc = openapi(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        assert!(!path.contains("{*"), "axum catch-all syntax in {path}");
        let in_path: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(in_path, declared, "{method} {path}");
        }
    }
    assert!(paths.contains_key("/api/fansly/{fanslyAccount}/media/download/{cdnUrl}"));
}

#[tokio::test]
async fn the_two_reorder_bodies_and_list_accounts_are_documented_as_they_are() {
    let app = spawn_app().await;
    let doc = openapi(&app).await;
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas.get("ReorderBody").is_none(),
        "one name for two shapes"
    );
    let props = |name: &str| -> BTreeSet<String> {
        schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}"))
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(
        props("ListReorderBody"),
        ["from", "to"].map(String::from).into()
    );
    assert_eq!(
        props("VaultReorderBody"),
        ["album_id", "position"].map(String::from).into()
    );
    let body_ref = |path: &str| {
        doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}"))
            .to_owned()
    };
    assert_eq!(
        body_ref("/api/fansly/{fanslyAccount}/vault/albums/reorder"),
        "#/components/schemas/VaultReorderBody"
    );

    // List Accounts answers a bare array; the document says so, item by item.
    let schema = &doc["paths"]["/api/fansly/accounts"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert_eq!(schema["type"], "array", "{schema}");
    let item = schema["items"]["$ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let documented = props(item);
    let resp = app.get("/api/fansly/accounts").await;
    let answered: Value = resp.json().await.unwrap();
    let first = answered.as_array().expect("a bare array")[0]
        .as_object()
        .unwrap();
    let actual: BTreeSet<String> = first.keys().cloned().collect();
    assert_eq!(documented, actual);
}
