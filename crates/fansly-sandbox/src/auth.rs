//! Login state: open 2FA challenges, the codes "e-mailed" to accounts, and
//! the per-login attempt counts behind login throttling, with the rules that
//! read them (is this login throttled, does this code answer this
//! challenge). One field of [`crate::world::World`], under its lock; the
//! routes are in `login_api.rs`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Login attempts allowed per login name per minute before Fansly-style 429s.
const LOGIN_ATTEMPTS_PER_MINUTE: usize = 10;

#[derive(Default)]
pub struct AuthState {
    challenges: HashMap<String, Challenge>,
    outbox: Vec<Email>,
    attempts: HashMap<String, VecDeque<Instant>>,
}

struct Challenge {
    account_id: u64,
    /// The e-mailed code, for e-mail challenges.
    code: Option<String>,
}

#[derive(Clone, serde::Serialize)]
pub struct Email {
    to: String,
    code: String,
    sent_at: i64,
}

impl AuthState {
    /// Counts an attempt to log in as `login` (lower-cased by the caller) at
    /// `now`. Over the limit, the attempt is not counted and the answer is
    /// how many seconds until the oldest counted one leaves the minute.
    pub fn count_attempt(&mut self, login: String, now: Instant) -> Result<(), u64> {
        let attempts = self.attempts.entry(login).or_default();
        while attempts
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            attempts.pop_front();
        }
        if attempts.len() >= LOGIN_ATTEMPTS_PER_MINUTE {
            return Err(60 - now.duration_since(attempts[0]).as_secs());
        }
        attempts.push_back(now);
        Ok(())
    }

    /// Opens a challenge under `token`; an e-mail challenge's `code` is
    /// "e-mailed" to `to` at `now_ms`.
    pub fn open_challenge(
        &mut self,
        token: String,
        account_id: u64,
        code: Option<String>,
        to: String,
        now_ms: i64,
    ) {
        if let Some(code) = &code {
            self.outbox.push(Email {
                to,
                code: code.clone(),
                sent_at: now_ms,
            });
        }
        self.challenges
            .insert(token, Challenge { account_id, code });
    }

    /// The account an open challenge is for.
    pub fn challenge_account(&self, token: &str) -> Option<u64> {
        self.challenges.get(token).map(|c| c.account_id)
    }

    /// Whether `code` answers the challenge: the e-mailed code if one was
    /// sent, else the current code of the account's authenticator
    /// (`totp_secret`), else nothing does.
    pub fn accepts(&self, token: &str, code: &str, totp_secret: Option<&[u8]>) -> bool {
        let Some(challenge) = self.challenges.get(token) else {
            return false;
        };
        match (&challenge.code, totp_secret) {
            (Some(sent), _) => *sent == code,
            (None, Some(secret)) => totp(secret).and_then(|t| t.check_current(code)).is_some(),
            (None, None) => false,
        }
    }

    /// Closes an answered challenge; a wrong code leaves it open.
    pub fn close_challenge(&mut self, token: &str) {
        self.challenges.remove(token);
    }

    /// Codes sent, oldest first; only those to `to` when given.
    pub fn emails(&self, to: Option<&str>) -> Vec<&Email> {
        self.outbox
            .iter()
            .filter(|m| to.is_none_or(|to| m.to.eq_ignore_ascii_case(to)))
            .collect()
    }
}

fn totp(secret: &[u8]) -> Option<totp_rs::Totp> {
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .build()
        .ok()
}
