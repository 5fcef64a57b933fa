//! Re-login after Fansly refuses an account's session: exactly one runs per
//! account (a lock per account in the process, and in a cluster a Redis
//! lease per account across instances, renewed while the login runs); every
//! caller that waited takes the session the winner stored in the database,
//! woken by the winner's message on `relogin:<account>` rather than polling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fansly_upstream::{LoginStep, Session, SessionRenewer, UpstreamError};
use futures::StreamExt;
use secrecy::ExposeSecret;
use sqlx::Row;
use tokio_util::task::AbortOnDropHandle;

use crate::accounts::alerts;
use crate::accounts::sessions::{not_connected, Inner, Sessions};
use crate::accounts::store::{lifecycle, status, AUTHENTICATED, TABLE};
use crate::core::error::ApiError;
use crate::core::telemetry;
use crate::core::time::now_ms;

/// How long an account's cluster-wide re-login lease lasts unless its holder
/// renews it (every third of this while its login runs, however long
/// Fansly takes): an instance that died mid-login blocks the account for
/// at most this long.
const CLUSTER_LOGIN_LEASE: Duration = Duration::from_secs(15);
/// How long an instance waits on another's re-login at most.
const CLUSTER_LOGIN_WAIT: Duration = Duration::from_secs(60);
/// The holder of an account's re-login lease while a failed re-login cools
/// down: the cooldown holds cluster-wide, not only where the login failed.
const COOLING_DOWN: &str = "cooling-down";
/// How often an instance waiting on another's re-login looks for its session
/// without a wake-up (one lost with a dropped Redis connection, or none to
/// listen on).
const CLUSTER_LOGIN_POLL: Duration = Duration::from_millis(500);

/// The account's row as a re-login needs it.
struct Stored {
    team_id: String,
    sealed_token: Option<String>,
    sealed_password: Option<String>,
    login_name: Option<String>,
    device: Option<String>,
    sealed_proxy: Option<String>,
    fansly_id: Option<String>,
    sealed_cookie: Option<String>,
}

impl Sessions {
    /// Logs in again with the stored credentials after Fansly refused
    /// `expired`. Runs under the account's lock (and in a cluster its
    /// lease); a caller that waited finds the session already renewed and
    /// takes it.
    pub(crate) async fn relogin(&self, expired: &Session) -> Result<Arc<Session>, UpstreamError> {
        let account_id = expired
            .account()
            .ok_or_else(|| {
                UpstreamError::NeedsReconnect("the session belongs to no account".into())
            })?
            .to_owned();
        let lock = self.lock_for(&account_id);
        let _held = lock.lock().await;
        let Some(redis) = self.redis.clone() else {
            return self.relogin_locked(&account_id, expired).await;
        };
        let lease = format!("relogin:{account_id}");
        let owner = crate::core::ids::random_id("relogin_", 16);
        let deadline = Instant::now() + CLUSTER_LOGIN_WAIT;
        // Listening before the first look: a login finishing between a look
        // and the wait still wakes us. (A winner listens in vain, briefly:
        // re-logins are rare.)
        let mut woken = redis
            .listen(&lease)
            .await
            .inspect_err(|e| {
                tracing::warn!(account = %account_id, error = %e, "listening for re-logins failed; polling");
            })
            .ok();
        loop {
            match redis.lease(&lease, &owner, CLUSTER_LOGIN_LEASE).await {
                Ok(true) => break,
                Ok(false) => {
                    if redis.holder(&lease).await.ok().flatten().as_deref() == Some(COOLING_DOWN) {
                        return Err(UpstreamError::CoolingDown {
                            retry_after: self.cooldown,
                            reason: format!("a recent re-login of {account_id} failed"),
                        });
                    }
                }
                Err(e) => {
                    // Better a second login than none while Redis is away.
                    tracing::warn!(account = %account_id, error = %e, "Redis unreachable: re-login without the cluster lock");
                    return self.relogin_locked(&account_id, expired).await;
                }
            }
            // Another instance is logging in: its session, once stored, is ours.
            let stored = self.stored(&account_id).await?;
            if let Some(renewed) = self.renewed(&account_id, &stored, expired)? {
                return Ok(renewed);
            }
            if Instant::now() >= deadline {
                return Err(UpstreamError::CoolingDown {
                    retry_after: CLUSTER_LOGIN_POLL,
                    reason: format!("another instance is logging {account_id} in"),
                });
            }
            match woken.as_mut() {
                Some(stream) => {
                    let _ = tokio::time::timeout(CLUSTER_LOGIN_POLL, stream.next()).await;
                }
                None => tokio::time::sleep(CLUSTER_LOGIN_POLL).await,
            }
        }
        drop(woken);
        // Renewed while the login runs, and no longer once it is over or
        // abandoned (the handle aborts the task when dropped).
        let renewing = {
            let (redis, lease, owner) = (redis.clone(), lease.clone(), owner.clone());
            AbortOnDropHandle::new(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(CLUSTER_LOGIN_LEASE / 3).await;
                    if !matches!(
                        redis.lease(&lease, &owner, CLUSTER_LOGIN_LEASE).await,
                        Ok(true)
                    ) {
                        tracing::warn!(%lease, "the re-login lease could not be renewed");
                    }
                }
            }))
        };
        // Read after taking the lease: a login that finished just before is seen.
        let result = self.relogin_locked(&account_id, expired).await;
        drop(renewing);
        if let Err(e) = redis.release(&lease, &owner).await {
            tracing::warn!(account = %account_id, error = %e, "releasing the re-login lease failed (it lapses by itself)");
        }
        if matches!(result, Err(UpstreamError::CoolingDown { .. })) {
            // No other instance tries before the cooldown has passed (N
            // instances would otherwise log in N times back to back).
            if let Err(e) = redis.lease(&lease, COOLING_DOWN, self.cooldown).await {
                tracing::warn!(account = %account_id, error = %e, "the re-login cooldown could not be shared");
            }
        }
        // Whatever the outcome (a session stored, a cooldown shared, the
        // account given up), the instances waiting on it look now.
        if let Err(e) = redis.publish(&lease, "done").await {
            tracing::warn!(account = %account_id, error = %e, "announcing the re-login failed (the others find it by polling)");
        }
        result
    }

    /// The account's row; an error when it is gone or no longer authenticated
    /// (then nobody may log it in without its owner).
    async fn stored(&self, account_id: &str) -> Result<Stored, UpstreamError> {
        let row = sqlx::query(&format!(
            "SELECT team_id, auth_state, session_token, password, login_name, device_id, proxy_url, last_error, \
               fansly_id, session_cookie FROM {TABLE} WHERE id = $1"
        ))
        .bind(account_id)
        .fetch_optional(&self.db.pool)
        .await
        .map_err(|e| internal(account_id, e.into()))?
        .ok_or_else(|| UpstreamError::NeedsReconnect(format!("Fansly account {account_id} was disconnected")))?;
        let state: String = row.get(1);
        if state != AUTHENTICATED {
            let last_error: Option<String> = row.get(7);
            return Err(UpstreamError::NeedsReconnect(
                not_connected(account_id, &state, last_error.as_deref()).to_string(),
            ));
        }
        Ok(Stored {
            team_id: row.get(0),
            sealed_token: row.get(2),
            sealed_password: row.get(3),
            login_name: row.get(4),
            device: row.get(5),
            sealed_proxy: row.get(6),
            fansly_id: row.get(8),
            sealed_cookie: row.get(9),
        })
    }

    /// The stored session when it is no longer the one Fansly refused.
    fn renewed(
        &self,
        account_id: &str,
        stored: &Stored,
        expired: &Session,
    ) -> Result<Option<Arc<Session>>, UpstreamError> {
        let Some(sealed) = &stored.sealed_token else {
            return Ok(None);
        };
        let current = self
            .open(account_id, "session_token", sealed)
            .map_err(|e| internal(account_id, e))?;
        if current.expose_secret() == expired.token().expose_secret() {
            return Ok(None);
        }
        self.session_for(
            account_id,
            sealed,
            stored.sealed_cookie.as_deref(),
            stored.device.as_deref().unwrap_or_default(),
            stored.sealed_proxy.as_deref(),
            stored.fansly_id.as_deref(),
        )
        .map(Some)
        .map_err(|e| internal(account_id, e))
    }

    async fn relogin_locked(
        &self,
        account_id: &str,
        expired: &Session,
    ) -> Result<Arc<Session>, UpstreamError> {
        let internal = |e: ApiError| internal(account_id, e);
        let stored = self.stored(account_id).await?;
        if let Some(renewed) = self.renewed(account_id, &stored, expired)? {
            // Renewed by whoever held the lock before us.
            return Ok(renewed);
        }
        if let Some(until) = self
            .cooldowns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(account_id)
        {
            let now = Instant::now();
            if *until > now {
                return Err(UpstreamError::CoolingDown {
                    retry_after: *until - now,
                    reason: format!("a recent re-login of {account_id} failed"),
                });
            }
        }
        let Stored {
            team_id,
            sealed_password,
            login_name,
            device,
            sealed_proxy,
            fansly_id,
            ..
        } = stored;
        let (Some(sealed_password), Some(login_name), Some(device)) =
            (sealed_password, login_name, device)
        else {
            let why =
                "Fansly refused the session and no password is stored; connect the account again";
            return Err(self.give_up(account_id, why).await);
        };
        let password = self
            .open(account_id, "password", &sealed_password)
            .map_err(internal)?;
        let route = self
            .route_for(account_id, sealed_proxy.as_deref())
            .map_err(internal)?;
        tracing::info!(account = %account_id, "Fansly refused the session; logging in again");
        let relogged = |outcome: &'static str| {
            metrics::counter!(telemetry::RELOGINS, "team" => team_id.clone(), "outcome" => outcome)
                .increment(1)
        };
        match self
            .fansly
            .login(&route, &device, &login_name, password.expose_secret())
            .await
        {
            Ok(LoginStep::Authenticated(new)) => {
                relogged("renewed");
                let sealed = self
                    .seal(account_id, "session_token", new.token.expose_secret())
                    .map_err(internal)?;
                let sealed_cookie = match &new.cookie {
                    Some(c) => Some(
                        self.seal(account_id, "session_cookie", c.expose_secret())
                            .map_err(internal)?,
                    ),
                    None => None,
                };
                sqlx::query(&format!(
                    "UPDATE {TABLE} SET session_token = $1, session_cookie = $2, last_error = NULL, \
                       updated_at = $3 WHERE id = $4 AND team_id = $5"
                ))
                .bind(&sealed)
                .bind(&sealed_cookie)
                .bind(now_ms())
                .bind(account_id)
                .bind(&team_id)
                .execute(&self.db.writer)
                .await
                .map_err(|e| internal(e.into()))?;
                self.session_for(
                    account_id,
                    &sealed,
                    sealed_cookie.as_deref(),
                    &device,
                    sealed_proxy.as_deref(),
                    fansly_id.as_deref(),
                )
                .map_err(internal)
            }
            Ok(LoginStep::TwoFactor(_)) => {
                relogged("needs_reconnect");
                let why =
                    "Fansly asks for a verification code to log in again; reconnect the account";
                Err(self.give_up(account_id, why).await)
            }
            Ok(LoginStep::EmailVerification(_)) => {
                relogged("needs_reconnect");
                let why = "Fansly asks to confirm this login by e-mail (a new device or address); \
                     reconnect the account and enter the e-mailed code";
                Err(self.give_up(account_id, why).await)
            }
            Err(UpstreamError::Rejected(details)) => {
                relogged("needs_reconnect");
                let why = format!(
                    "Fansly refused the stored credentials ({details}); reconnect the account"
                );
                Err(self.give_up(account_id, &why).await)
            }
            Err(e) => {
                relogged("failed");
                self.cooldowns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(account_id.to_owned(), Instant::now() + self.cooldown);
                Err(UpstreamError::CoolingDown {
                    retry_after: self.cooldown,
                    reason: format!("re-login of {account_id} failed: {e}"),
                })
            }
        }
    }

    /// Marks the account as needing its owner, once, and says so.
    async fn give_up(&self, account_id: &str, why: &str) -> UpstreamError {
        // First: the state change below makes the relay supervisor abort the
        // socket task this may run on, at its next await.
        self.alert(account_id, alerts::NEEDS_RECONNECT, why).await;
        if let Err(e) = self
            .set_state(account_id, status::NEEDS_RECONNECT, Some(why))
            .await
        {
            tracing::error!(account = account_id, error = %e, "recording needs-reconnect failed");
        }
        self.forget(account_id);
        self.lifecycle(account_id, lifecycle::AUTHENTICATION_FAILED)
            .await;
        UpstreamError::NeedsReconnect(format!(
            "Fansly account {account_id} needs reconnecting: {why}"
        ))
    }
}

fn internal(account_id: &str, e: ApiError) -> UpstreamError {
    UpstreamError::NeedsReconnect(format!("Fansly account {account_id}: {e}"))
}

impl SessionRenewer for Inner {
    fn renew<'a>(
        &'a self,
        expired: &'a Session,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Arc<Session>, UpstreamError>> + Send + 'a>,
    > {
        Box::pin(async move {
            let me = self.me.upgrade().ok_or_else(|| {
                UpstreamError::NeedsReconnect("the gateway is shutting down".into())
            })?;
            Sessions(me).relogin(expired).await
        })
    }
}
