//! Cluster mode: which instance holds each account's Fansly socket. Fansly
//! must see one socket per account, so each is owned through a lease in
//! Redis (`relay:<account>`), renewed by its holder every third of its
//! length. A holder that dies, even by kill -9, stops renewing; the lease
//! lapses and the next instance to look takes the account over, its socket
//! opening with the gap fill that follows every (re)connect. The holder also
//! publishes each socket's status (`relay_status:<account>`, lapsing with
//! the lease), so every instance can answer it.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::core::redis::Redis;

pub struct SocketLeases {
    redis: Redis,
    /// This instance, as the leases name it.
    owner: String,
    ttl: Duration,
}

impl SocketLeases {
    pub fn new(redis: Redis, owner: String, ttl: Duration) -> SocketLeases {
        SocketLeases {
            redis,
            owner,
            ttl: ttl.max(Duration::from_millis(30)),
        }
    }

    fn name(account_id: &str) -> String {
        format!("relay:{account_id}")
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How often the holder renews (and the others look for lapsed leases).
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// Takes or renews the account's lease: whether this instance may keep
    /// (or open) its socket. Redis out of reach counts as "no": the lease
    /// may lapse meanwhile, and two sockets are worse than a gap, which the
    /// gap fill closes once a holder is back.
    pub async fn hold(&self, account_id: &str) -> bool {
        match self
            .redis
            .lease(&Self::name(account_id), &self.owner, self.ttl)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(account = account_id, error = %e, "relay: the socket lease cannot be reached");
                false
            }
        }
    }

    /// Gives the account back at once (a stop, not a crash), so another
    /// instance need not wait for the lease to lapse.
    pub async fn release(&self, account_id: &str) {
        if let Err(e) = self
            .redis
            .release(&Self::name(account_id), &self.owner)
            .await
        {
            tracing::warn!(account = account_id, error = %e, "relay: releasing the socket lease failed (it lapses by itself)");
        }
    }

    fn status_key(&self, account_id: &str) -> String {
        self.redis.key(&format!("relay_status:{account_id}"))
    }

    /// Publishes the status of sockets this instance holds, in one round
    /// trip; each lapses after a lease's length unless published again.
    pub async fn publish_statuses(&self, statuses: &[(String, Value)]) {
        if statuses.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (account_id, status) in statuses {
            pipe.cmd("SET")
                .arg(self.status_key(account_id))
                .arg(status.to_string())
                .arg("PX")
                .arg(self.ttl.as_millis() as u64)
                .ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut self.redis.conn()).await {
            tracing::warn!(error = %e, "relay: publishing socket statuses failed");
        }
    }

    /// The statuses the holders of `accounts` published, by account.
    pub async fn statuses(&self, accounts: &[&str]) -> HashMap<String, Value> {
        if accounts.is_empty() {
            return HashMap::new();
        }
        let keys: Vec<String> = accounts.iter().map(|a| self.status_key(a)).collect();
        let found: Vec<Option<String>> = match redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.redis.conn())
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "relay: reading socket statuses failed");
                return HashMap::new();
            }
        };
        accounts
            .iter()
            .zip(found)
            .filter_map(|(a, s)| Some(((*a).to_owned(), serde_json::from_str(&s?).ok()?)))
            .collect()
    }

    /// The instance holding the account's socket, if any.
    pub async fn holder(&self, account_id: &str) -> Option<String> {
        self.redis
            .holder(&Self::name(account_id))
            .await
            .ok()
            .flatten()
    }
}
