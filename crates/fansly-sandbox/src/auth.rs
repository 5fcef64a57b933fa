//! Login state: open 2FA challenges, open new-device e-mail checks and the
//! devices they trusted, the codes "e-mailed" to accounts, and
//! the per-login attempt counts behind login throttling, with the rules that
//! read them (is this login throttled, does this code answer this
//! challenge, is this device known). One field of [`crate::world::World`], under its lock; the
//! routes are in `login_api.rs`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Login attempts allowed per login name per minute before Fansly-style 429s.
const LOGIN_ATTEMPTS_PER_MINUTE: usize = 10;

#[derive(Default)]
pub struct AuthState {
    challenges: HashMap<String, Challenge>,
    outbox: Vec<Email>,
    attempts: HashMap<String, VecDeque<Instant>>,
    /// Open new-device checks by `correlationId`.
    checks: HashMap<String, DeviceCheck>,
    /// (account, device id) pairs a check confirmed.
    trusted: HashSet<(u64, String)>,
}

/// A new device's e-mail check: the code and the link's token both confirm it.
struct DeviceCheck {
    account_id: u64,
    device_id: String,
    code: String,
    link_token: String,
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
    /// The token of the e-mail's link (new-device checks only): what the web
    /// app posts to `/login/email/verification` when the owner opens it.
    #[serde(skip_serializing_if = "Option::is_none")]
    link_token: Option<String>,
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
                link_token: None,
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

    /// Whether a check already confirmed `device` for `account_id`.
    pub fn trusts(&self, account_id: u64, device: &str) -> bool {
        self.trusted.contains(&(account_id, device.to_owned()))
    }

    /// Opens a new-device check under `correlation` and "e-mails" its code
    /// and link to `to`.
    pub fn open_check(
        &mut self,
        correlation: String,
        account_id: u64,
        device_id: String,
        (code, link_token): (String, String),
        to: String,
        now_ms: i64,
    ) {
        self.outbox.push(Email {
            to,
            code: code.clone(),
            link_token: Some(link_token.clone()),
            sent_at: now_ms,
        });
        self.checks.insert(
            correlation,
            DeviceCheck {
                account_id,
                device_id,
                code,
                link_token,
            },
        );
    }

    /// Whether `correlation` names an open check.
    pub fn check_open(&self, correlation: &str) -> bool {
        self.checks.contains_key(correlation)
    }

    /// The check's account when `code` answers it; the device is trusted
    /// from then on. A wrong code leaves the check open.
    pub fn confirm_code(&mut self, correlation: &str, code: &str) -> Option<u64> {
        let check = self.checks.get(correlation)?;
        if check.code != code {
            return None;
        }
        let check = self.checks.remove(correlation)?;
        self.trusted.insert((check.account_id, check.device_id));
        Some(check.account_id)
    }

    /// The owner opened the e-mail's link: its check's device is trusted.
    pub fn confirm_link(&mut self, link_token: &str) -> bool {
        let Some(correlation) = self
            .checks
            .iter()
            .find(|(_, c)| c.link_token == link_token)
            .map(|(k, _)| k.clone())
        else {
            return false;
        };
        if let Some(check) = self.checks.remove(&correlation) {
            self.trusted.insert((check.account_id, check.device_id));
        }
        true
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
