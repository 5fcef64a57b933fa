//! The gateway's own identifiers and secrets, and [`FanslyId`], a Fansly id
//! checked once where it enters (path or body).

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

pub const MEDIA_PREFIX: &str = "fansly_media_";

/// A media handle like the vendor's (`fansly_media_01JR…`): a ULID, i.e. 48
/// bits of milliseconds then 80 random bits, in Crockford base32, so handles
/// sort by creation time.
pub fn new_media_id() -> String {
    const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let ms = crate::core::time::now_ms().max(0) as u128 & ((1 << 48) - 1);
    let random: u128 = rand::thread_rng().gen::<u128>() & ((1 << 80) - 1);
    let mut n = (ms << 80) | random;
    let mut out = [0u8; 26];
    for c in out.iter_mut().rev() {
        *c = CROCKFORD[(n & 31) as usize];
        n >>= 5;
    }
    format!("{MEDIA_PREFIX}{}", String::from_utf8_lossy(&out))
}

/// True for a well-formed media handle (prefix + 26 Crockford characters).
pub fn is_media_id(s: &str) -> bool {
    s.strip_prefix(MEDIA_PREFIX).is_some_and(|rest| {
        rest.len() == 26
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
    })
}

/// A Fansly id (a string of digits), validated where it enters the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct FanslyId(String);

impl FanslyId {
    /// `raw` as the Fansly id named `name` (a path parameter or body field):
    /// 422 `"{name} must be a Fansly id (a string of digits), got …"` otherwise.
    pub fn parse(name: &str, raw: &str) -> Result<FanslyId, crate::core::error::ApiError> {
        if fansly_upstream::ids::is_snowflake(raw) {
            Ok(FanslyId(raw.to_owned()))
        } else {
            Err(crate::core::error::ApiError::Unprocessable(format!(
                "{name} must be a Fansly id (a string of digits), got {raw:?}"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for FanslyId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for FanslyId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for FanslyId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl AsRef<str> for FanslyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FanslyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<FanslyId> for String {
    fn from(id: FanslyId) -> String {
        id.0
    }
}

/// In a JSON body: a string of digits; the body extractor prefixes the
/// field's path to the message.
impl<'de> serde::Deserialize<'de> for FanslyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FanslyId, D::Error> {
        let raw = String::deserialize(d)?;
        if fansly_upstream::ids::is_snowflake(&raw) {
            Ok(FanslyId(raw))
        } else {
            Err(serde::de::Error::custom(format!(
                "must be a Fansly id (a string of digits), got {raw:?}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ids_are_well_formed_and_distinct() {
        let (a, b) = (new_media_id(), new_media_id());
        assert!(is_media_id(&a) && is_media_id(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!is_media_id("fansly_media_01JR1234"));
        assert!(!is_media_id("fansly_acct_01JR1234ABCD5678EFGHJKMNPQ"));
    }
}
