//! First start of `serve --sandbox`: a demo team with credits, an API key
//! (printed once and written to `<data-dir>/sandbox-api-key`) and one
//! connected sandbox creator. Later starts reuse them.

use std::path::PathBuf;

use anyhow::Context;
use sqlx::Row;

use crate::accounts::login;
use crate::accounts::store::status;
use crate::core::ids::new_account_id;
use crate::startup::app::App;
use crate::startup::keys::write_secret_file;
use crate::tenancy;

pub const DEMO_CREDITS: i64 = 100_000;
const TEAM_KEY: &str = "sandbox.demo_team_id";

pub struct Demo {
    pub team_id: String,
    pub account_id: String,
    pub key_file: PathBuf,
    /// Set only on the start that created the key.
    pub new_key: Option<String>,
}

pub async fn sandbox_demo(app: &App) -> anyhow::Result<Demo> {
    let state = app.state();
    let db = &state.db;
    let sandbox = app
        .sandbox()
        .context("the sandbox bootstrap needs the sandbox running")?;
    let key_file = state.config.data_dir.join("sandbox-api-key");

    let existing: Option<String> = sqlx::query("SELECT value FROM kv WHERE key = $1")
        .bind(TEAM_KEY)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| r.get(0));
    let team_id = match existing {
        Some(id) if tenancy::get_team(db, &id).await?.is_some() => id,
        _ => {
            let team = tenancy::create_team(db, "Sandbox demo", DEMO_CREDITS, None).await?;
            sqlx::query(
                "INSERT INTO kv (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(TEAM_KEY)
            .bind(&team.id)
            .execute(&db.writer)
            .await?;
            team.id
        }
    };

    // A key lost from disk cannot be recovered (only its hash is kept): mint another.
    let has_live_key = tenancy::list_keys(db, &team_id)
        .await?
        .iter()
        .any(|k| k.revoked_at.is_none());
    let new_key = if has_live_key && key_file.exists() {
        None
    } else {
        let key = tenancy::create_key(db, &team_id, "sandbox demo").await?;
        crate::core::db::create_private_dir(&state.config.data_dir)?;
        write_secret_file(&key_file, &key.secret)?;
        Some(key.secret)
    };

    // The demo account is connected the way a user connects one: by login,
    // so its password is stored (sealed) and re-login works.
    let creator = sandbox
        .creators()
        .into_iter()
        .next()
        .context("the sandbox has no seeded creator")?;
    let account_id = connect_by_login(app, &team_id, &creator.username, &creator.password).await?;
    Ok(Demo {
        team_id,
        account_id,
        key_file,
        new_key,
    })
}

/// Connects (or reuses) the team's account for `username` through the login
/// state machine and waits for it to finish.
async fn connect_by_login(
    app: &App,
    team_id: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    let state = app.state();
    let sessions = &state.sessions;
    let existing: Option<(String, String)> = sqlx::query(
        "SELECT id, auth_state FROM fansly_accounts WHERE team_id = $1 AND login_name = $2",
    )
    .bind(team_id)
    .bind(username)
    .fetch_optional(&state.db.pool)
    .await?
    .map(|r| (r.get(0), r.get(1)));
    let id = match existing {
        Some((id, s)) if s == status::AUTHENTICATED => return Ok(id),
        Some((id, _)) => id,
        None => new_account_id(),
    };
    login::queue(sessions, team_id, &id, username, username, password, None).await?;
    login::drive(sessions, &id).await?;
    let row = sqlx::query("SELECT auth_state, last_error FROM fansly_accounts WHERE id = $1")
        .bind(&id)
        .fetch_one(&state.db.pool)
        .await?;
    let (s, err): (String, Option<String>) = (row.get(0), row.get(1));
    anyhow::ensure!(
        s == status::AUTHENTICATED,
        "the sandbox creator did not connect: {s} {}",
        err.unwrap_or_default()
    );
    Ok(id)
}
