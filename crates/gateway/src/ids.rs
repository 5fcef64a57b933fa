//! The gateway's own identifiers and secrets.

use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;

/// `prefix` + `len` random lower-case letters and digits (36^len possibilities).
pub fn random_id(prefix: &str, len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let body: String = (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}{body}")
}

/// `prefix` + `len` random base62 characters, from the OS-seeded CSPRNG.
pub fn random_secret(prefix: &str, len: usize) -> String {
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), len)
    )
}

pub const ACCOUNT_PREFIX: &str = "fansly_acct_";

pub fn new_account_id() -> String {
    random_id(ACCOUNT_PREFIX, 15)
}
