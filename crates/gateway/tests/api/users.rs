//! Get User Details: by usernames and by ids, one credit per call, clear 4xx for bad lookups.

use reqwest::Method;

use crate::helpers::{spawn_app, strs};

#[tokio::test]
async fn looks_up_several_usernames_in_one_call() {
    let app = spawn_app().await;
    let body = app
        .get_ok(&app.acct_path("users/fan1,FAN2,fan1,nobody_at_all"))
        .await;
    let names = strs(&body["data"], "username");
    assert_eq!(
        names,
        ["fan1", "fan2"],
        "repeats dropped, unknown names absent"
    );
    let fan = &body["data"][0];
    for key in [
        "id",
        "displayName",
        "flags",
        "timelineStats",
        "mediaStoryState",
        "walls",
        "avatar",
    ] {
        assert!(fan.get(key).is_some(), "missing {key}");
    }
    assert!(fan["id"].is_string());
    assert_eq!(body["_meta"]["_credits"]["used"], 1);
}

#[tokio::test]
async fn looks_up_by_ids_with_or_without_trailing_slash() {
    let app = spawn_app().await;
    let one = app.fan_id(1).await;
    let two = app.fan_id(2).await;
    for path in ["users/", "users"] {
        let body = app
            .get_ok(&app.acct_path(&format!("{path}?ids={one},{two}")))
            .await;
        let ids = strs(&body["data"], "id");
        assert_eq!(ids, [one.as_str(), two.as_str()]);
    }
}

#[tokio::test]
async fn unknown_and_malformed_lookups_are_clear_4xx() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    app.assert_refusals(vec![
        (
            Method::GET,
            format!("/api/fansly/{acct}/users/nobody_at_all"),
            None,
            404,
            "nobody_at_all",
        ),
        (
            Method::GET,
            format!("/api/fansly/{acct}/users/bad%20name"),
            None,
            422,
            "bad name",
        ),
        (
            Method::GET,
            format!("/api/fansly/{acct}/users/,,"),
            None,
            422,
            "usernames",
        ),
        (
            Method::GET,
            format!("/api/fansly/{acct}/users/?ids=12,abc"),
            None,
            422,
            "abc",
        ),
        (
            Method::GET,
            format!("/api/fansly/{acct}/users/"),
            None,
            422,
            "ids",
        ),
        (
            Method::GET,
            "/api/fansly/fansly_acct_nope/users/fan1".into(),
            None,
            404,
            "",
        ),
        (
            Method::GET,
            "/api/fansly/not-an-account/users/fan1".into(),
            None,
            404,
            "",
        ),
    ])
    .await;
    // Only the 404 for a missing user reached Fansly, and it was refunded.
    assert_eq!(app.balance(&app.team.id).await, 1_000);
}
