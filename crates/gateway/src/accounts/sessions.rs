//! Connected Fansly accounts: the rows a team owns, their sealed secrets, and
//! the live upstream session of each, kept healthy: when Fansly refuses a
//! session, exactly one re-login runs per account ([`crate::accounts::relogin`])
//! and every waiting caller shares its result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use fansly_upstream::{
    FanslyClient, Proxy, Route, Session, SessionRenewer, SharedBudget, Throttle, ThrottleConfig,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sqlx::Row;

use crate::accounts::store::{
    get, lifecycle, row_to_account, AccountRow, AUTHENTICATED, COLUMNS, TABLE,
};
use crate::accounts::throttle::RedisBudget;
use crate::core::crypto::no_keyring;
use crate::core::crypto::{aad, Keyring};
use crate::core::db::Db;
use crate::core::error::ApiError;
use crate::core::ids::{new_account_id, ACCOUNT_PREFIX};
use crate::core::redis::Redis;
use crate::core::time::now_ms;
use crate::events::outbox::{Events, NewEvent};

/// An account ready for upstream calls.
#[derive(Clone)]
pub struct ConnectedAccount {
    pub id: String,
    pub fansly_id: String,
    pub session: Arc<Session>,
}

/// How long [`Sessions::connected`] trusts an account row read before it reads
/// it again, unless told otherwise ([`Sessions::cache_rows_for`]).
const DEFAULT_ROWS_TTL: Duration = Duration::from_secs(1);

/// An authenticated account as a request needs it (its team, Fansly id and
/// the session built from its row), remembered so a request does not read
/// the row again: trusted for the rows' time-to-live (the API key's
/// `key_cache_ms`), so a disconnect, re-login or state change made by
/// another instance is seen within that time; every change this instance
/// makes drops the entry at once ([`Sessions::forget`], `set_state`, and
/// `session_for` replacing the account's session). So the session kept here
/// is always the one `session_for` would answer. Only authenticated rows are
/// kept: every other state answers 409 and is read each time.
struct Known {
    team_id: String,
    fansly_id: String,
    session: Arc<Session>,
    read: Instant,
}

/// The account connection service: sessions, re-login, secrets.
#[derive(Clone)]
pub struct Sessions(pub(crate) Arc<Inner>);

pub struct Inner {
    pub(crate) db: Db,
    pub(crate) fansly: FanslyClient,
    pub(crate) keyring: Option<Arc<Keyring>>,
    throttle: ThrottleConfig,
    /// The cluster's Redis: re-login leases and the shared request budgets.
    pub(crate) redis: Option<Redis>,
    budget: Option<Arc<dyn SharedBudget>>,
    pub(crate) cooldown: Duration,
    cache: Mutex<HashMap<String, (String, Arc<Session>)>>,
    /// What [`Sessions::connected`] read of each authenticated account's row,
    /// trusted for `rows_ttl_ms` (see [`Known`]).
    rows: Mutex<HashMap<String, Arc<Known>>>,
    rows_ttl_ms: AtomicU64,
    /// Bumped whenever this instance drops a remembered row: a read that
    /// started before a change is not remembered after it.
    rows_generation: AtomicU64,
    throttles: Mutex<HashMap<String, Arc<Throttle>>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub(crate) cooldowns: Mutex<HashMap<String, Instant>>,
    /// Woken whenever an account's connection state may have changed (the
    /// relay reconciles its websockets on it).
    changes: Arc<tokio::sync::Notify>,
    /// Where lifecycle events (connected, failed, …) are recorded.
    pub(crate) events: Events,
    pub(crate) me: Weak<Inner>,
}

impl std::ops::Deref for Sessions {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Sessions {
    pub fn new(
        db: Db,
        fansly: FanslyClient,
        keyring: Option<Arc<Keyring>>,
        throttle: ThrottleConfig,
        cooldown: Duration,
        events: Events,
        redis: Option<Redis>,
    ) -> Sessions {
        let budget = redis
            .clone()
            .map(|r| Arc::new(RedisBudget(r)) as Arc<dyn SharedBudget>);
        Sessions(Arc::new_cyclic(|me| Inner {
            db: db.clone(),
            fansly,
            keyring,
            throttle,
            redis,
            budget,
            cooldown,
            cache: Mutex::default(),
            rows: Mutex::default(),
            rows_ttl_ms: AtomicU64::new(DEFAULT_ROWS_TTL.as_millis() as u64),
            rows_generation: AtomicU64::new(0),
            throttles: Mutex::default(),
            locks: Mutex::default(),
            cooldowns: Mutex::default(),
            changes: Arc::default(),
            events,
            me: me.clone(),
        }))
    }

    pub fn changes(&self) -> Arc<tokio::sync::Notify> {
        self.changes.clone()
    }

    /// Says an account was connected, disconnected or changed state.
    pub(crate) fn changed(&self) {
        self.changes.notify_one();
    }

    pub fn keyring(&self) -> Result<&Keyring, ApiError> {
        self.keyring.as_deref().ok_or_else(no_keyring)
    }

    /// Records lifecycle event `name` for the account as it now stands.
    /// Each transition is its own occurrence (keyed by its time), and a
    /// failure to record is logged, never fails the transition.
    pub(crate) async fn lifecycle(&self, account_id: &str, name: &'static str) {
        let row = match sqlx::query(&format!("SELECT {COLUMNS} FROM {TABLE} WHERE id = $1"))
            .bind(account_id)
            .fetch_optional(&self.db.pool)
            .await
        {
            Ok(Some(r)) => row_to_account(&r),
            Ok(None) => return,
            Err(e) => {
                tracing::error!(account = account_id, event = name, error = %e, "loading the account for a lifecycle event failed");
                return;
            }
        };
        self.record_lifecycle(&row, name).await;
    }

    pub(crate) async fn record_lifecycle(&self, row: &AccountRow, name: &'static str) {
        let event = NewEvent {
            team_id: row.team_id.clone(),
            account_id: row.id.clone(),
            name,
            dedup_key: format!(
                "lifecycle:{}:{}:{}",
                name.rsplit('.').next().unwrap_or(name),
                now_ms(),
                uuid::Uuid::new_v4().simple()
            ),
            payload: row.to_json(),
        };
        if let Err(e) = self.events.record(event).await {
            tracing::error!(account = %row.id, event = name, error = %e, "recording a lifecycle event failed");
        }
    }

    pub(crate) fn seal(&self, row: &str, column: &str, secret: &str) -> Result<String, ApiError> {
        Ok(self.keyring()?.seal(&aad(TABLE, row, column), secret))
    }

    pub(crate) fn open(
        &self,
        row: &str,
        column: &str,
        sealed: &str,
    ) -> Result<SecretString, ApiError> {
        self.keyring()?
            .open(&aad(TABLE, row, column), sealed)
            .map_err(|e| ApiError::Internal(e.context(format!("opening {column} of {row}"))))
    }

    /// One lock per account: logins, verifications and re-logins of an
    /// account never run side by side.
    pub(crate) fn lock_for(&self, account_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(account_id.to_owned())
            .or_default()
            .clone()
    }

    /// How this account reaches Fansly: its proxy (sealed in the row) and
    /// its request budget (one per account, kept across sessions; in a
    /// cluster one per account in Redis, shared by every instance).
    pub(crate) fn route_for(
        &self,
        account_id: &str,
        sealed_proxy: Option<&str>,
    ) -> Result<Route, ApiError> {
        let proxy = match sealed_proxy {
            Some(sealed) => {
                let url = self.open(account_id, "proxy_url", sealed)?;
                Some(Proxy::parse(url.expose_secret()).map_err(|e| {
                    ApiError::Internal(anyhow::anyhow!("stored proxy of {account_id}: {e}"))
                })?)
            }
            None => None,
        };
        let throttle = self
            .throttles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(account_id.to_owned())
            .or_insert_with(|| {
                Arc::new(match &self.budget {
                    Some(shared) => Throttle::shared(self.throttle, shared.clone(), account_id),
                    None => Throttle::new(self.throttle),
                })
            })
            .clone();
        Ok(Route {
            proxy,
            throttle: Some(throttle),
        })
    }

    /// How long an account row read by [`Self::connected`] is trusted (the
    /// gateway passes `key_cache_ms`; zero reads the row on every call).
    pub fn cache_rows_for(&self, ttl: Duration) {
        self.rows_ttl_ms
            .store(ttl.as_millis() as u64, Ordering::Relaxed);
    }

    /// The team's account `account_id`, ready to call Fansly: from memory
    /// when its row was read within the rows' time-to-live (see [`Known`]),
    /// else from the database.
    pub async fn connected(
        &self,
        team_id: &str,
        account_id: &str,
    ) -> Result<ConnectedAccount, ApiError> {
        let not_found = || ApiError::NotFound(format!("Fansly account {account_id} not found"));
        if !account_id.starts_with(ACCOUNT_PREFIX) {
            return Err(not_found());
        }
        if let Some(known) = self.known(team_id, account_id) {
            return Ok(ConnectedAccount {
                id: account_id.to_owned(),
                fansly_id: known.fansly_id.clone(),
                session: known.session.clone(),
            });
        }
        let generation = self.rows_generation.load(Ordering::Acquire);
        let read = Instant::now();
        let row = sqlx::query(&format!(
            "SELECT fansly_id, auth_state, session_token, device_id, proxy_url, last_error, \
               session_cookie FROM {TABLE} WHERE id = $1 AND team_id = $2"
        ))
        .bind(account_id)
        .bind(team_id)
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or_else(not_found)?;
        let fansly_id: Option<String> = row.get(0);
        let state: String = row.get(1);
        let token: Option<String> = row.get(2);
        let device: Option<String> = row.get(3);
        let proxy: Option<String> = row.get(4);
        let last_error: Option<String> = row.get(5);
        let cookie: Option<String> = row.get(6);
        let (Some(fansly_id), Some(token), Some(device), AUTHENTICATED) =
            (fansly_id, token, device, state.as_str())
        else {
            return Err(not_connected(account_id, &state, last_error.as_deref()));
        };
        let session = self.session_for(
            account_id,
            &token,
            cookie.as_deref(),
            &device,
            proxy.as_deref(),
            Some(&fansly_id),
        )?;
        let known = Known {
            team_id: team_id.to_owned(),
            fansly_id: fansly_id.clone(),
            session: session.clone(),
            read,
        };
        self.remember(account_id, known, generation);
        Ok(ConnectedAccount {
            id: account_id.to_owned(),
            fansly_id,
            session,
        })
    }

    /// The remembered row of the team's account, if read recently enough.
    fn known(&self, team_id: &str, account_id: &str) -> Option<Arc<Known>> {
        let ttl = Duration::from_millis(self.rows_ttl_ms.load(Ordering::Relaxed));
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let known = rows.get(account_id)?;
        (known.team_id == team_id && known.read.elapsed() < ttl).then(|| known.clone())
    }

    /// Keeps a row read when the rows were at `generation`, unless this
    /// instance changed an account since (the read may hold the old row).
    fn remember(&self, account_id: &str, known: Known, generation: u64) {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock `drop_row` bumps under, so no change slips between.
        if self.rows_generation.load(Ordering::Acquire) == generation {
            rows.insert(account_id.to_owned(), Arc::new(known));
        }
    }

    /// Drops the remembered row of `account_id`: this instance changed it.
    fn drop_row(&self, account_id: &str) {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        self.rows_generation.fetch_add(1, Ordering::AcqRel);
        rows.remove(account_id);
    }

    /// The cached session while the stored token is unchanged, else a new one.
    pub(crate) fn session_for(
        &self,
        account_id: &str,
        sealed_token: &str,
        sealed_cookie: Option<&str>,
        device: &str,
        sealed_proxy: Option<&str>,
        fansly_id: Option<&str>,
    ) -> Result<Arc<Session>, ApiError> {
        if let Some((sealed, s)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(account_id)
        {
            if sealed == sealed_token {
                return Ok(s.clone());
            }
        }
        let token = self.open(account_id, "session_token", sealed_token)?;
        let route = self.route_for(account_id, sealed_proxy)?;
        let renewer: Weak<dyn SessionRenewer> = self.me.clone();
        let cookie = match sealed_cookie {
            Some(sealed) => Some(self.open(account_id, "session_cookie", sealed)?),
            None => None,
        };
        let mut session = Session::new(token, device.to_owned())
            .with_cookie(cookie)
            .with_route(route)
            .with_account(account_id)
            .with_renewer(renewer);
        if let Some(fansly_id) = fansly_id {
            // Labels the upstream spans of this session.
            session = session.with_fansly_id(fansly_id);
        }
        let session = Arc::new(session);
        let replaced = self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            account_id.to_owned(),
            (sealed_token.to_owned(), session.clone()),
        );
        if replaced.is_some() {
            // A new token (a re-login here or on another instance): a
            // remembered row may hold the old one.
            self.drop_row(account_id);
        }
        Ok(session)
    }

    /// Drops what this instance remembers of the account (its session and
    /// row): it was changed, or is about to be.
    pub(crate) fn forget(&self, account_id: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(account_id);
        self.drop_row(account_id);
    }

    /// Registers (or refreshes) an account from a pasted session token: a
    /// device id fetched as the web app does, the token checked with
    /// `account/me`, stored sealed. Such an account has no password, so when
    /// Fansly ends its session it needs reconnecting.
    pub async fn add_token(
        &self,
        team_id: &str,
        token: SecretString,
        display_name: Option<&str>,
    ) -> Result<AccountRow, ApiError> {
        self.add_token_via(team_id, token, display_name, None).await
    }

    /// [`Self::add_token`] for an account that reaches Fansly through
    /// `proxy`: its very first requests (`/device/id`, `/account/me`) already
    /// go through it, because Fansly flags accounts that hop addresses, and
    /// the proxy is stored with the account. Without a proxy a re-pasted
    /// token keeps the proxy the account already had.
    pub async fn add_token_via(
        &self,
        team_id: &str,
        token: SecretString,
        display_name: Option<&str>,
        proxy: Option<&str>,
    ) -> Result<AccountRow, ApiError> {
        self.keyring()?;
        let parsed = proxy
            .map(|p| {
                fansly_upstream::Proxy::parse(p)
                    .map_err(|e| ApiError::Unprocessable(format!("proxy: {e}")))
            })
            .transpose()?;
        let route = Route {
            proxy: parsed.clone(),
            throttle: None,
        };
        let upstream = |e| ApiError::upstream("(new account)", e);
        let device_id = self.fansly.device_id(&route).await.map_err(upstream)?;
        let session = Session::new(token, device_id.clone()).with_route(route);
        let me = self.fansly.account_me(&session).await.map_err(upstream)?;
        let profile = Profile::from_me(&me)?;
        let existing: Option<String> = sqlx::query(&format!(
            "SELECT id FROM {TABLE} WHERE team_id = $1 AND fansly_id = $2"
        ))
        .bind(team_id)
        .bind(&profile.id)
        .fetch_optional(&self.db.pool)
        .await?
        .map(|r| r.get(0));
        let id = existing.unwrap_or_else(new_account_id);
        let display = display_name.unwrap_or(&profile.display_name).to_owned();
        let sealed = self.seal(&id, "session_token", session.token().expose_secret())?;
        let (sealed_proxy, proxy_label) = match &parsed {
            Some(p) => (
                Some(self.seal(&id, "proxy_url", p.url().as_str())?),
                Some(p.label().to_owned()),
            ),
            None => (None, None),
        };
        let now = now_ms();
        sqlx::query(&format!(
            "INSERT INTO {TABLE} (id, team_id, display_name, fansly_id, fansly_username, auth_state, \
               session_token, device_id, fansly_user_data, created_at, updated_at, proxy_url, proxy_label) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, \
               fansly_username = excluded.fansly_username, auth_state = excluded.auth_state, \
               session_token = excluded.session_token, device_id = excluded.device_id, \
               fansly_user_data = excluded.fansly_user_data, last_error = NULL, \
               proxy_url = COALESCE(excluded.proxy_url, {TABLE}.proxy_url), \
               proxy_label = COALESCE(excluded.proxy_label, {TABLE}.proxy_label), \
               updated_at = excluded.updated_at"
        ))
        .bind(&id)
        .bind(team_id)
        .bind(&display)
        .bind(&profile.id)
        .bind(&profile.username)
        .bind(AUTHENTICATED)
        .bind(&sealed)
        .bind(&device_id)
        .bind(profile.data.to_string())
        .bind(now)
        .bind(sealed_proxy)
        .bind(proxy_label)
        .execute(&self.db.writer)
        .await?;
        // A re-pasted token (and maybe a new proxy) replaces what is remembered.
        self.forget(&id);
        let row = get(&self.db, team_id, &id).await?;
        self.record_lifecycle(&row, lifecycle::CONNECTED).await;
        self.changed();
        Ok(row)
    }

    /// Ends the account: logs its session out at Fansly (best effort), then
    /// deletes the row with every secret in it.
    pub async fn disconnect(&self, team_id: &str, account_id: &str) -> Result<(), ApiError> {
        let row = get(&self.db, team_id, account_id).await?;
        let lock = self.lock_for(account_id);
        let _held = lock.lock().await;
        if row.auth_state == AUTHENTICATED {
            if let Ok(account) = self.connected(team_id, account_id).await {
                if let Err(e) = self.fansly.close_session(&account.session).await {
                    tracing::warn!(account = account_id, error = %e, "closing the Fansly session failed");
                }
            }
        }
        sqlx::query(&format!(
            "DELETE FROM {TABLE} WHERE id = $1 AND team_id = $2"
        ))
        .bind(account_id)
        .bind(team_id)
        .execute(&self.db.writer)
        .await?;
        self.forget(account_id);
        self.throttles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(account_id);
        // The account as it was last seen, no longer authenticated.
        let mut gone = row;
        gone.auth_state = "disconnected".into();
        self.record_lifecycle(&gone, lifecycle::DISCONNECTED).await;
        self.changed();
        Ok(())
    }

    pub(crate) async fn set_state(
        &self,
        account_id: &str,
        state: &str,
        last_error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "UPDATE {TABLE} SET auth_state = $1, last_error = $2, updated_at = $3 WHERE id = $4"
        ))
        .bind(state)
        .bind(last_error)
        .bind(now_ms())
        .bind(account_id)
        .execute(&self.db.writer)
        .await?;
        self.drop_row(account_id);
        self.changed();
        Ok(())
    }
}

pub(crate) fn not_connected(account_id: &str, state: &str, last_error: Option<&str>) -> ApiError {
    ApiError::Conflict(match last_error {
        Some(e) => format!("Fansly account {account_id} is not connected (status: {state}): {e}"),
        None => format!("Fansly account {account_id} is not connected (status: {state})"),
    })
}

/// The parts of `account/me` the gateway keeps.
pub(crate) struct Profile {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub data: Value,
}

impl Profile {
    pub(crate) fn from_me(me: &Value) -> Result<Profile, ApiError> {
        let mut account = me.get("account").cloned().unwrap_or(Value::Null);
        // Kept in `fansly_user_data` and shown in List Accounts: the
        // creator's e-mail and phone are not needed there, so not kept.
        if let Value::Object(map) = &mut account {
            map.retain(|k, _| {
                let k = k.to_ascii_lowercase();
                !(k.contains("email") || k.contains("phone"))
            });
        }
        let id = account
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::BadGateway("Fansly's account/me answer has no account id".into())
            })?
            .to_owned();
        let username = account
            .get("username")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let display_name = account
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| username.clone());
        Ok(Profile {
            id,
            username,
            display_name,
            data: account,
        })
    }
}
