//! API key → caller (team, rate limit) served from memory. An entry is
//! trusted for `key_cache_ms` (1 s by default) and then looked up again, so a
//! revocation or a team change made on any instance is seen by every
//! instance within that time without a database read per request; changes
//! made through this instance drop its entries at once ([`Callers::forget_all`]).
//! Unknown keys are not remembered (a flood of made-up keys cannot grow the
//! map); they cost a read each, as before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::core::db::Db;
use crate::tenancy::{self, Caller};

/// Entries beyond this are dropped wholesale (they are refilled on use).
const MAX_ENTRIES: usize = 100_000;

pub struct Callers {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Caller, Instant)>>,
}

impl Callers {
    pub fn new(ttl: Duration) -> Callers {
        Callers {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The caller behind `presented`, from memory when checked within the
    /// time-to-live, else from the database.
    pub async fn authenticate(
        &self,
        db: &Db,
        presented: &str,
    ) -> Result<Option<Caller>, sqlx::Error> {
        let Some(digest) = tenancy::key_digest(presented) else {
            return Ok(None);
        };
        self.authenticate_at(db, &digest, Instant::now()).await
    }

    async fn authenticate_at(
        &self,
        db: &Db,
        digest: &str,
        now: Instant,
    ) -> Result<Option<Caller>, sqlx::Error> {
        if let Some((caller, checked)) = self.lock().get(digest) {
            if now.saturating_duration_since(*checked) < self.ttl {
                return Ok(Some(caller.clone()));
            }
        }
        let found = tenancy::authenticate_digest(db, digest).await?;
        let mut entries = self.lock();
        match &found {
            Some(caller) => {
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
                entries.insert(digest.to_owned(), (caller.clone(), now));
            }
            None => {
                entries.remove(digest);
            }
        }
        Ok(found)
    }

    /// Drops every remembered key: called after this instance revokes a key
    /// or changes a team, so its own answers reflect the change at once.
    pub fn forget_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Caller, Instant)>> {
        // A panic while holding the lock leaves a consistent map.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
