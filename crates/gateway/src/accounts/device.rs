//! Keeping an account's Fansly device id as fresh as the web app keeps it
//! (issue 13, row 12): JK's client fetches `/device/id` again after 180
//! minutes; SHIM warns that fetching it much more often draws 429s. The
//! relay asks for it when it opens the account's socket, so a long-lived
//! socket keeps its id until it reconnects (INFERRED: no source says whether
//! Fansly cares about a socket older than its device id).

use std::time::Duration;

use sqlx::Row;

use crate::accounts::sessions::Sessions;
use crate::accounts::store::TABLE;
use crate::core::error::ApiError;
use crate::core::time::now_ms;

impl Sessions {
    /// Fetches a new device id for the account through its route when the
    /// stored one is older than `max_age`, and stores it; later requests and
    /// socket handshakes of the account carry it. A row without a fetch time
    /// (connected before times were kept) is stamped now instead, so an
    /// upgrade does not refetch every account at once. `Ok(true)` when the
    /// id changed.
    pub async fn refresh_device_id(
        &self,
        account_id: &str,
        max_age: Duration,
    ) -> Result<bool, ApiError> {
        let Some(row) = sqlx::query(&format!(
            "SELECT device_id_at, proxy_url FROM {TABLE} WHERE id = $1 AND device_id IS NOT NULL"
        ))
        .bind(account_id)
        .fetch_optional(&self.db.pool)
        .await?
        else {
            return Ok(false);
        };
        let fetched_at: Option<i64> = row.get(0);
        let sealed_proxy: Option<String> = row.get(1);
        let now = now_ms();
        let Some(fetched_at) = fetched_at else {
            sqlx::query(&format!(
                "UPDATE {TABLE} SET device_id_at = $1 WHERE id = $2 AND device_id_at IS NULL"
            ))
            .bind(now)
            .bind(account_id)
            .execute(&self.db.writer)
            .await?;
            return Ok(false);
        };
        if now.saturating_sub(fetched_at) < max_age.as_millis() as i64 {
            return Ok(false);
        }
        let route = self.route_for(account_id, sealed_proxy.as_deref())?;
        let device = self
            .fansly
            .device_id(&route)
            .await
            .map_err(|e| ApiError::upstream(account_id, e))?;
        sqlx::query(&format!(
            "UPDATE {TABLE} SET device_id = $1, device_id_at = $2 WHERE id = $3"
        ))
        .bind(&device)
        .bind(now)
        .bind(account_id)
        .execute(&self.db.writer)
        .await?;
        // The cached session carries the old id; the next use rebuilds it.
        self.forget(account_id);
        tracing::info!(account = account_id, "Fansly device id refreshed");
        Ok(true)
    }
}
