//! Connected accounts: the bare-array listing, stable ids on reconnect, refused tokens not stored.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn lists_the_teams_accounts_as_a_bare_array() {
    let app = spawn_app().await;
    let _other = app.new_team(10, 1).await;
    let resp = app.get("/api/fansly/accounts").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-rate-limit-remaining-minute"));
    let body: Value = resp.json().await.unwrap();
    let rows = body.as_array().expect("a bare JSON array");
    assert_eq!(rows.len(), 1, "only this team's account");
    let row = &rows[0];
    assert_eq!(row["id"], Value::String(app.team.account_id.clone()));
    assert_eq!(row["fansly_username"], "sandbox_creator");
    assert_eq!(row["display_name"], "Sandbox Creator");
    assert_eq!(row["is_authenticated"], true);
    assert_eq!(row["authentication_progress"], "authenticated");
    assert!(row["fansly_id"]
        .as_str()
        .unwrap()
        .bytes()
        .all(|b| b.is_ascii_digit()));
    assert_eq!(row["fansly_user_data"]["id"], row["fansly_id"]);
    // Free: control traffic costs no credits.
    assert_eq!(app.balance(&app.team.id).await, 1_000);
}

#[tokio::test]
async fn reconnecting_the_same_fansly_account_keeps_its_id() {
    let app = spawn_app().await;
    let token = app.creator_token(0).await;
    let again = app
        .state
        .sessions
        .add_token(
            &app.team.id,
            secrecy::SecretString::from(token),
            Some("Renamed"),
        )
        .await
        .unwrap();
    assert_eq!(again.id, app.team.account_id);
    let rows = fansly_gateway::accounts::store::list(app.db(), &app.team.id)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].display_name, "Renamed");
}

#[tokio::test]
async fn a_refused_token_is_not_stored() {
    let app = spawn_app().await;
    let err = app
        .state
        .sessions
        .add_token(
            &app.team.id,
            secrecy::SecretString::from("bm90LWEtdG9rZW4=".to_owned()),
            None,
        )
        .await
        .expect_err("a refused token is an error");
    assert!(err.to_string().contains("refused"), "{err}");
    let rows = fansly_gateway::accounts::store::list(app.db(), &app.team.id)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
}
