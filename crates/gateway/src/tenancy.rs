//! Teams and their API keys. A key is shown once, at creation; only its
//! SHA-256 is stored (keys carry 256 random bits, so a slow hash buys nothing).

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::core::db::Db;
use crate::core::ids::{random_id, random_secret};
use crate::core::time::now_ms;
use crate::metering::credits;

pub const KEY_PREFIX: &str = "fgw_";
/// 43 base62 characters ≈ 256 bits.
const KEY_BODY_LEN: usize = 43;
/// How much of a key is kept in clear to recognise it in listings.
const DISPLAY_PREFIX_LEN: usize = 12;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub credits: i64,
    pub rate_limit_per_minute: Option<i64>,
    pub created_at: i64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub team_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// Whether its `/mcp` surface is read-only (write tools refused).
    pub mcp_read_only: bool,
}

/// A key just created: the only time `secret` exists outside its holder.
#[derive(Debug)]
pub struct NewKey {
    pub info: KeyInfo,
    pub secret: String,
}

/// Who is calling, as established from a valid key.
#[derive(Clone, Debug)]
pub struct Caller {
    pub team_id: String,
    pub key_id: String,
    pub rate_limit_per_minute: Option<i64>,
    /// The key's `/mcp` surface is read-only (write tools refused).
    pub mcp_read_only: bool,
}

pub async fn create_team(
    db: &Db,
    name: &str,
    initial_credits: i64,
    rate_limit_per_minute: Option<i64>,
) -> anyhow::Result<Team> {
    anyhow::ensure!(!name.trim().is_empty(), "a team needs a name");
    anyhow::ensure!(initial_credits >= 0, "initial credits cannot be negative");
    if let Some(limit) = rate_limit_per_minute {
        anyhow::ensure!(limit > 0, "the rate limit must be positive");
    }
    let id = random_id("team_", 16);
    let now = now_ms();
    sqlx::query(
        "INSERT INTO teams (id, name, credits, rate_limit_per_minute, created_at) \
         VALUES ($1, $2, 0, $3, $4)",
    )
    .bind(&id)
    .bind(name.trim())
    .bind(rate_limit_per_minute)
    .bind(now)
    .execute(&db.writer)
    .await?;
    if initial_credits > 0 {
        credits::grant(db, &id, initial_credits, "initial grant").await?;
    }
    get_team(db, &id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("team {id} vanished after creation"))
}

pub async fn get_team(db: &Db, id: &str) -> anyhow::Result<Option<Team>> {
    let row = sqlx::query(
        "SELECT id, name, credits, rate_limit_per_minute, created_at FROM teams WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| Team {
        id: r.get(0),
        name: r.get(1),
        credits: r.get(2),
        rate_limit_per_minute: r.get(3),
        created_at: r.get(4),
    }))
}

pub async fn list_teams(db: &Db) -> anyhow::Result<Vec<Team>> {
    let rows = sqlx::query(
        "SELECT id, name, credits, rate_limit_per_minute, created_at FROM teams ORDER BY created_at, id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Team {
            id: r.get(0),
            name: r.get(1),
            credits: r.get(2),
            rate_limit_per_minute: r.get(3),
            created_at: r.get(4),
        })
        .collect())
}

pub async fn set_rate_limit(db: &Db, team_id: &str, limit: Option<i64>) -> anyhow::Result<()> {
    if let Some(limit) = limit {
        anyhow::ensure!(limit > 0, "the rate limit must be positive");
    }
    let done = sqlx::query("UPDATE teams SET rate_limit_per_minute = $1 WHERE id = $2")
        .bind(limit)
        .bind(team_id)
        .execute(&db.writer)
        .await?;
    anyhow::ensure!(done.rows_affected() == 1, "no team {team_id}");
    Ok(())
}

pub async fn create_key(db: &Db, team_id: &str, name: &str) -> anyhow::Result<NewKey> {
    anyhow::ensure!(get_team(db, team_id).await?.is_some(), "no team {team_id}");
    let secret = random_secret(KEY_PREFIX, KEY_BODY_LEN);
    let info = KeyInfo {
        id: random_id("key_", 16),
        team_id: team_id.to_owned(),
        name: name.to_owned(),
        prefix: secret[..DISPLAY_PREFIX_LEN].to_owned(),
        created_at: now_ms(),
        revoked_at: None,
        mcp_read_only: false,
    };
    sqlx::query(
        "INSERT INTO api_keys (id, team_id, name, prefix, key_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&info.id)
    .bind(&info.team_id)
    .bind(&info.name)
    .bind(&info.prefix)
    .bind(hash_key(&secret))
    .bind(info.created_at)
    .execute(&db.writer)
    .await?;
    Ok(NewKey { info, secret })
}

pub async fn list_keys(db: &Db, team_id: &str) -> anyhow::Result<Vec<KeyInfo>> {
    let rows = sqlx::query(
        "SELECT id, team_id, name, prefix, created_at, revoked_at, mcp_read_only FROM api_keys \
         WHERE team_id = $1 ORDER BY created_at, id",
    )
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| KeyInfo {
            id: r.get(0),
            team_id: r.get(1),
            name: r.get(2),
            prefix: r.get(3),
            created_at: r.get(4),
            revoked_at: r.get(5),
            mcp_read_only: r.get::<i64, _>(6) != 0,
        })
        .collect())
}

/// Revokes a key. Instances serve keys from memory for at most
/// `key_cache_ms` (metering/callers.rs), so every one refuses it within that.
pub async fn revoke_key(db: &Db, key_id: &str) -> anyhow::Result<bool> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(key_id)
            .execute(&db.writer)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes one of the team's own keys (a key of another team is "not found").
pub async fn revoke_team_key(db: &Db, team_id: &str, key_id: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND team_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(key_id)
    .bind(team_id)
    .execute(&db.writer)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The stored form of a presented key, or `None` when it cannot be a key
/// (wrong prefix or length): such keys never reach the database.
pub fn key_digest(presented: &str) -> Option<String> {
    (presented.starts_with(KEY_PREFIX) && presented.len() == KEY_PREFIX.len() + KEY_BODY_LEN)
        .then(|| hash_key(presented))
}

/// The caller behind a key's digest ([`key_digest`]), or `None` for an
/// unknown or revoked key.
pub async fn authenticate_digest(db: &Db, digest: &str) -> Result<Option<Caller>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT k.id, k.team_id, t.rate_limit_per_minute, k.mcp_read_only FROM api_keys k \
         JOIN teams t ON t.id = k.team_id \
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(digest)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| Caller {
        key_id: r.get(0),
        team_id: r.get(1),
        rate_limit_per_minute: r.get(2),
        mcp_read_only: r.get::<i64, _>(3) != 0,
    }))
}

fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Turns the MCP read-only switch of one of the team's active keys on or
/// off; `false` when the team has no such active key.
pub async fn set_team_mcp_read_only(
    db: &Db,
    team_id: &str,
    key_id: &str,
    read_only: bool,
) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE api_keys SET mcp_read_only = $1 \
         WHERE id = $2 AND team_id = $3 AND revoked_at IS NULL",
    )
    .bind(i64::from(read_only))
    .bind(key_id)
    .bind(team_id)
    .execute(&db.writer)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns the MCP read-only switch of a key on or off.
pub async fn set_mcp_read_only(db: &Db, key_id: &str, read_only: bool) -> anyhow::Result<()> {
    let done = sqlx::query("UPDATE api_keys SET mcp_read_only = $1 WHERE id = $2")
        .bind(i64::from(read_only))
        .bind(key_id)
        .execute(&db.writer)
        .await?;
    anyhow::ensure!(done.rows_affected() == 1, "no key {key_id}");
    Ok(())
}
