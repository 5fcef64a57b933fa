//! The vault: albums (list, create, edit, reorder, add and remove media),
//! an album's media by cursor, uploads straight into an album, and the 4xx
//! for bad input.

use std::collections::HashSet;

use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, assert_error_naming, spawn_app, strings, TestApp};
use crate::media::{png, upload_file};

async fn albums(app: &TestApp) -> Vec<Value> {
    let body = app.get_ok(&app.acct_path("vault/albums")).await;
    assert_eq!(body["_meta"]["_credits"]["used"], 1);
    body["data"].as_array().unwrap().clone()
}

async fn create(app: &TestApp, body: Value) -> reqwest::Response {
    app.post(&app.acct_path("vault/albums"), &body).await
}

#[tokio::test]
async fn albums_are_created_and_listed_in_order() {
    let app = spawn_app().await;
    let seeded = albums(&app).await;
    assert_eq!(
        seeded.len(),
        1,
        "every creator has a default album: {seeded:?}"
    );
    assert_ne!(seeded[0]["type"], 0, "{seeded:?}");
    let resp = create(&app, json!({"title": " Beach set ", "description": "June"})).await;
    assert_eq!(resp.status(), 200);
    let first: Value = resp.json().await.unwrap();
    assert_eq!(first["data"]["title"], "Beach set");
    assert_eq!(first["data"]["description"], "June");
    let resp = create(&app, json!({})).await;
    assert_eq!(resp.status(), 200, "title and description are optional");
    let second: Value = resp.json().await.unwrap();

    let listed = albums(&app).await;
    let ids: Vec<&Value> = listed.iter().map(|a| &a["id"]).collect();
    assert_eq!(
        ids,
        [
            &seeded[0]["id"],
            &first["data"]["id"],
            &second["data"]["id"]
        ]
    );
    assert_eq!(listed[2]["title"], "");
    assert_eq!(
        app.upstream_count("POST", "/api/v1/vault/albums").await,
        2,
        "one Fansly call per album"
    );
}

#[tokio::test]
async fn bad_album_input_is_refused_before_fansly_or_billing() {
    let app = spawn_app().await;
    let balance = app.balance(&app.team.id).await;
    for (body, field) in [
        (json!({"title": "t".repeat(101)}), "title"),
        (json!({"description": "d".repeat(1001)}), "description"),
        (json!({"title": 5}), "title"),
        (json!({"name": "x"}), "name"),
    ] {
        let msg = assert_error(create(&app, body.clone()).await, 422).await;
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(app.balance(&app.team.id).await, balance, "nothing charged");
    assert_eq!(app.upstream_count("POST", "/api/v1/vault/albums").await, 0);
    assert_eq!(albums(&app).await.len(), 1, "only the default album");
}

#[tokio::test]
async fn content_routes_are_in_openapi() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    for (path, methods) in [
        ("/api/fansly/{fanslyAccount}/walls", &["get", "post"][..]),
        ("/api/fansly/{fanslyAccount}/posts", &["get", "post"]),
        ("/api/fansly/{fanslyAccount}/vault/albums", &["get", "post"]),
        (
            "/api/fansly/{fanslyAccount}/vault/albums/{album_id}",
            &["put"],
        ),
        (
            "/api/fansly/{fanslyAccount}/vault/albums/reorder",
            &["post"],
        ),
        (
            "/api/fansly/{fanslyAccount}/vault/albums/{album_id}/media",
            &["post", "delete"],
        ),
        ("/api/fansly/{fanslyAccount}/vault/media", &["get"]),
        ("/api/fansly/{fanslyAccount}/vault/media/upload", &["post"]),
        ("/api/fansly/{fanslyAccount}/posts/{post_id}", &["put"]),
        (
            "/api/fansly/{fanslyAccount}/posts/{post_id}/stats",
            &["get"],
        ),
        ("/api/fansly/{fanslyAccount}/stories", &["post"]),
    ] {
        for method in methods {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} missing from /openapi.json"
            );
        }
    }
}

pub(crate) async fn vault_upload(
    app: &TestApp,
    album: Option<&str>,
    background: bool,
) -> (u16, Value) {
    let mut form = Form::new().part(
        "file",
        Part::bytes(png(32, 32, 1_500))
            .file_name("v.png")
            .mime_str("image/png")
            .unwrap(),
    );
    if let Some(album) = album {
        form = form.text("album_id", album.to_owned());
    }
    if background {
        form = form.text("async", "true");
    }
    let resp = app
        .http
        .post(format!(
            "{}/api/fansly/{}/vault/media/upload",
            app.address, app.team.account_id
        ))
        .bearer_auth(&app.team.key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Waits for an async upload and answers its vault media id.
async fn completed(app: &TestApp, polling_url: &str) -> String {
    let path = polling_url.strip_prefix(&app.address).unwrap();
    for _ in 0..200 {
        let body = app.get_json(path).await;
        match body["status"].as_str() {
            Some("completed") => return body["media_id"].as_str().unwrap().to_owned(),
            Some("failed") => panic!("upload failed: {body}"),
            _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    panic!("upload did not complete");
}

async fn send(app: &TestApp, method: Method, path: &str, body: Value) -> reqwest::Response {
    app.request(
        method,
        &format!("/api/fansly/{}{path}", app.team.account_id),
        Some(&app.team.key),
        Some(&body),
    )
    .await
}

fn entry_media(page: &Value) -> Vec<String> {
    strings(&page["data"]["albumMedia"], "mediaId")
}

#[tokio::test]
async fn an_album_is_built_paged_reordered_and_updated() {
    let app = spawn_app().await;
    let default_album = albums(&app).await[0]["id"].as_str().unwrap().to_owned();
    let created: Value = create(&app, json!({"title": "Set", "description": "June"}))
        .await
        .json()
        .await
        .unwrap();
    let album = created["data"]["id"].as_str().unwrap().to_owned();

    // Straight into the album: synchronously and in the background.
    let (status, direct) = vault_upload(&app, Some(&album), false).await;
    assert_eq!(status, 200, "{direct}");
    assert_eq!(direct["album_id"], album.as_str());
    assert!(direct["prefixed_id"]
        .as_str()
        .unwrap()
        .starts_with("fansly_media_"));
    let mut in_album = vec![direct["media_id"].as_str().unwrap().to_owned()];
    let (status, queued) = vault_upload(&app, Some(&album), true).await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["album_id"], album.as_str());
    in_album.push(completed(&app, queued["polling_url"].as_str().unwrap()).await);
    // Without album_id: the default album.
    let (status, to_default) = vault_upload(&app, None, false).await;
    assert_eq!(status, 200, "{to_default}");
    assert_eq!(to_default["album_id"], default_album.as_str());

    // Existing media: 20 by vault id, 23 by handle.
    let uploads = futures::future::join_all(
        (0..43).map(|_| upload_file(&app, &app.team, png(16, 16, 1_000), "m.png", false)),
    )
    .await;
    let mut handles = Vec::new();
    let mut vault_ids = Vec::new();
    for (status, body) in uploads {
        assert_eq!(status, 200, "{body}");
        handles.push(body["prefixed_id"].as_str().unwrap().to_owned());
        vault_ids.push(body["media_id"].as_str().unwrap().to_owned());
    }
    let media_path = format!("vault/albums/{album}/media");
    app.acct_ok(
        Method::POST,
        &media_path,
        Some(&json!({"media_ids": vault_ids[..20]})),
    )
    .await;
    let added = app
        .acct_ok(
            Method::POST,
            &media_path,
            Some(&json!({"mediaFiles": handles[20..]})),
        )
        .await;
    assert_eq!(added["data"]["itemCount"], 45, "{added}");
    in_album.extend(vault_ids.iter().cloned());
    // Adding again changes nothing.
    app.acct_ok(
        Method::POST,
        &media_path,
        Some(&json!({"media_ids": [vault_ids[0]]})),
    )
    .await;
    // Remove one (by handle).
    let removed = app
        .acct_ok(
            Method::DELETE,
            &media_path,
            Some(&json!({"mediaFiles": [handles[5]]})),
        )
        .await;
    assert_eq!(removed["data"]["itemCount"], 44, "{removed}");
    in_album.retain(|m| *m != vault_ids[5]);

    let pages = app
        .all_pages(&app.acct_path(&format!("vault/media?album_id={album}")), 10)
        .await;
    let sizes: Vec<usize> = pages.iter().map(|p| entry_media(p).len()).collect();
    assert_eq!(sizes, [20, 20, 4]);
    let seen: Vec<String> = pages.iter().flat_map(entry_media).collect();
    let mut expected = in_album.clone();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, each once, none removed");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 44);
    for p in &pages {
        let media: Vec<&Value> = p["data"]["media"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["id"])
            .collect();
        let entries: Vec<Value> = entry_media(p).into_iter().map(Value::from).collect();
        assert_eq!(
            media,
            entries.iter().collect::<Vec<_>>(),
            "media follow their entries"
        );
    }
    // The cursor is Fansly's: the last albumMedia entry of the page before.
    let last = pages[0]["data"]["albumMedia"][19]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let queries = app.upstream_queries("/api/v1/media/vaultnew").await;
    assert!(queries[0].contains("before=0"), "{queries:?}");
    assert!(
        queries[1].contains(&format!("before={last}")),
        "{queries:?}"
    );

    // The default album is Fansly's "All" album: every upload is in it.
    let in_default: HashSet<String> = app
        .all_pages(
            &app.acct_path(&format!("vault/media?album_id={default_album}")),
            10,
        )
        .await
        .iter()
        .flat_map(entry_media)
        .collect();
    assert!(in_default.contains(to_default["media_id"].as_str().unwrap()));

    // Without album_id: the whole vault, every upload once.
    let whole = app.all_pages(&app.acct_path("vault/media"), 10).await;
    let sizes: Vec<usize> = whole.iter().map(|p| entry_media(p).len()).collect();
    assert_eq!(sizes, [20, 20, 6]);
    let everything: HashSet<String> = whole.iter().flat_map(entry_media).collect();
    assert_eq!(everything.len(), 46);
    assert!(
        everything.contains(&vault_ids[5]),
        "removing from an album keeps it in the vault"
    );
    assert!(everything.contains(to_default["media_id"].as_str().unwrap()));
    assert_eq!(in_default, everything, "the whole vault is the All album");

    // Reorder: the new album first.
    app.acct_ok(
        Method::POST,
        "vault/albums/reorder",
        Some(&json!({"album_id": album, "position": 0})),
    )
    .await;
    let order: Vec<String> = albums(&app)
        .await
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, [album.clone(), default_album.clone()]);

    // Update the title only, then the description only: the other stays.
    let path = format!("vault/albums/{album}");
    for (change, title, description) in [
        (json!({"title": "Set (June)"}), "Set (June)", "June"),
        (json!({"description": ""}), "Set (June)", ""),
    ] {
        app.acct_ok(Method::PUT, &path, Some(&change)).await;
        let listed = albums(&app).await;
        assert_eq!(listed[0]["title"], title);
        assert_eq!(listed[0]["description"], description);
        assert_eq!(listed[0]["itemCount"], 44);
    }
}

#[tokio::test]
async fn bad_vault_input_is_refused_with_a_clear_4xx() {
    let app = spawn_app().await;
    let other = app.new_team(100, 1).await;
    let (status, foreign) = upload_file(&app, &other, png(8, 8, 500), "f.png", false).await;
    assert_eq!(status, 200);
    let foreign_handle = foreign["prefixed_id"].as_str().unwrap().to_owned();
    let foreign_vault_id = foreign["media_id"].as_str().unwrap().to_owned();
    let (status, mine) = upload_file(&app, &app.team, png(8, 8, 500), "m.png", false).await;
    assert_eq!(status, 200);
    let mine = mine["media_id"].as_str().unwrap().to_owned();
    let album: Value = create(&app, json!({"title": "A"}))
        .await
        .json()
        .await
        .unwrap();
    let album = album["data"]["id"].as_str().unwrap().to_owned();
    let balance = app.balance(&app.team.id).await;
    let unknown = "123456789012345678";
    let media_path = format!("/vault/albums/{album}/media");

    for (method, path, body, status, field) in [
        (
            Method::PUT,
            format!("/vault/albums/{unknown}"),
            json!({"title": "x"}),
            404,
            "album_id",
        ),
        (
            Method::PUT,
            "/vault/albums/abc".to_owned(),
            json!({"title": "x"}),
            422,
            "album_id",
        ),
        (
            Method::PUT,
            format!("/vault/albums/{album}"),
            json!({}),
            422,
            "title",
        ),
        (
            Method::PUT,
            format!("/vault/albums/{album}"),
            json!({"title": "t".repeat(101)}),
            422,
            "title",
        ),
        (
            Method::PUT,
            format!("/vault/albums/{album}"),
            json!({"name": "x"}),
            422,
            "name",
        ),
        (
            Method::POST,
            "/vault/albums/reorder".to_owned(),
            json!({"album_id": unknown, "position": 0}),
            404,
            "album_id",
        ),
        (
            Method::POST,
            "/vault/albums/reorder".to_owned(),
            json!({"album_id": "x", "position": 0}),
            422,
            "album_id",
        ),
        (
            Method::POST,
            "/vault/albums/reorder".to_owned(),
            json!({"album_id": album, "position": -1}),
            422,
            "position",
        ),
        (
            Method::POST,
            "/vault/albums/reorder".to_owned(),
            json!({"album_id": album, "position": 2}),
            422,
            "position",
        ),
        (
            Method::POST,
            "/vault/albums/reorder".to_owned(),
            json!({"album_id": album}),
            422,
            "position",
        ),
        (
            Method::POST,
            format!("/vault/albums/{unknown}/media"),
            json!({"media_ids": [mine]}),
            404,
            "album_id",
        ),
        (
            Method::POST,
            media_path.clone(),
            json!({}),
            422,
            "media_ids",
        ),
        (
            Method::POST,
            media_path.clone(),
            json!({"media_ids": []}),
            422,
            "media_ids",
        ),
        (
            Method::POST,
            media_path.clone(),
            json!({"media_ids": [mine], "mediaFiles": [mine]}),
            422,
            "mediaFiles",
        ),
        (
            Method::POST,
            media_path.clone(),
            json!({"media_ids": ["12ab"]}),
            422,
            "media_ids",
        ),
        (
            Method::POST,
            media_path.clone(),
            json!({"media_ids": [foreign_handle]}),
            404,
            "media_ids",
        ),
        (
            Method::POST,
            media_path.clone(),
            json!({"media_ids": [foreign_vault_id]}),
            404,
            "media_ids",
        ),
        (
            Method::POST,
            media_path.clone(),
            json!({"media_ids": [unknown]}),
            404,
            "media_ids",
        ),
        (
            Method::DELETE,
            media_path.clone(),
            json!({"media_ids": [mine]}),
            404,
            "media_ids",
        ),
        (
            Method::DELETE,
            format!("/vault/albums/{unknown}/media"),
            json!({"media_ids": [mine]}),
            404,
            "album_id",
        ),
    ] {
        let msg = assert_error(
            send(&app, method.clone(), &path, body.clone()).await,
            status,
        )
        .await;
        assert!(msg.contains(field), "{method} {path} {body}: {msg}");
    }
    let acct = &app.team.account_id;
    for (query, status, field) in [
        ("?album_id=abc", 422, "album_id"),
        (&format!("?album_id={unknown}") as &str, 404, "album_id"),
        ("?before=x", 422, "before"),
        ("?after=1", 422, "after"),
    ] {
        let msg = assert_error(
            app.get(&format!("/api/fansly/{acct}/vault/media{query}"))
                .await,
            status,
        )
        .await;
        assert!(msg.contains(field), "{query}: {msg}");
    }
    let (status, body) = vault_upload(&app, Some(unknown), false).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.to_string().contains("album_id"), "{body}");
    let (status, body) = vault_upload(&app, Some("12x"), false).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("album_id"), "{body}");
    let resp = app
        .http
        .post(format!(
            "{}/api/fansly/{acct}/vault/media/upload",
            app.address
        ))
        .bearer_auth(&app.team.key)
        .multipart(Form::new().text("album_id", album.clone()))
        .send()
        .await
        .unwrap();
    assert_error_naming(resp, 422, "file").await;

    assert_eq!(app.balance(&app.team.id).await, balance, "nothing charged");
    let listed = albums(&app).await;
    let a = listed.iter().find(|a| a["id"] == album.as_str()).unwrap();
    assert_eq!(a["itemCount"], 0, "nothing added: {a}");
    assert_eq!(a["title"], "A");
}
