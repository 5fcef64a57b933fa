//! Secrets at rest: XChaCha20-Poly1305 under a master key from the
//! environment or a key file. A sealed value carries the id of its key
//! (`v1:<key id>:<base64 nonce+ciphertext>`) and is bound to its row and
//! column as associated data, so a ciphertext copied into another row or
//! column does not open.

use std::collections::HashMap;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::SecretString;

use crate::core::error::ApiError;

const VERSION: &str = "v1";

/// The master keys: the first one seals; all of them open (so a rotation
/// can run while every instance still reads old ciphertexts).
pub struct Keyring {
    current: String,
    keys: HashMap<String, XChaCha20Poly1305>,
}

impl Keyring {
    /// Parses `id:base64key` entries separated by commas or newlines; the
    /// first is the current key. `#` starts a comment line.
    pub fn parse(text: &str) -> anyhow::Result<Keyring> {
        let mut current = None;
        let mut keys = HashMap::new();
        for entry in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'))
        {
            let (id, key) = entry
                .split_once(':')
                .context("a master key entry must look like <id>:<base64 of 32 bytes>")?;
            anyhow::ensure!(
                !id.is_empty()
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "master key id {id:?} must be letters, digits, '-' or '_'"
            );
            let raw = B64
                .decode(key.trim())
                .with_context(|| format!("master key {id} is not base64"))?;
            anyhow::ensure!(
                raw.len() == 32,
                "master key {id} must be 32 bytes, got {}",
                raw.len()
            );
            let cipher = XChaCha20Poly1305::new_from_slice(&raw).expect("32-byte key");
            anyhow::ensure!(
                keys.insert(id.to_owned(), cipher).is_none(),
                "master key id {id} is given twice"
            );
            current.get_or_insert_with(|| id.to_owned());
        }
        Ok(Keyring {
            current: current.context("no master key given")?,
            keys,
        })
    }

    /// A fresh `id:base64` entry for a key file or the environment.
    pub fn generate_entry() -> String {
        let key: [u8; 32] = rand::random();
        let id = crate::core::ids::random_id("k", 8);
        format!("{id}:{}", B64.encode(key))
    }

    pub fn current_id(&self) -> &str {
        &self.current
    }

    pub fn seal(&self, aad: &str, plaintext: &str) -> String {
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from_slice(&nonce_bytes);
        let ct = self.keys[&self.current]
            .encrypt(
                nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail");
        let mut blob = nonce_bytes.to_vec();
        blob.extend_from_slice(&ct);
        format!("{VERSION}:{}:{}", self.current, B64.encode(blob))
    }

    pub fn open(&self, aad: &str, sealed: &str) -> anyhow::Result<SecretString> {
        let (key_id, blob) = parse_sealed(sealed)?;
        let cipher = self
            .keys
            .get(key_id)
            .with_context(|| format!("the master key {key_id} is not configured"))?;
        anyhow::ensure!(blob.len() > 24, "sealed value too short");
        let (nonce, ct) = blob.split_at(24);
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("sealed value does not open (wrong key or wrong row)"))?;
        Ok(SecretString::from(
            String::from_utf8(plain).context("sealed value is not UTF-8")?,
        ))
    }

    /// True when `sealed` is under a key other than the current one.
    pub fn needs_rotation(&self, sealed: &str) -> bool {
        parse_sealed(sealed)
            .map(|(id, _)| id != self.current)
            .unwrap_or(true)
    }
}

fn parse_sealed(sealed: &str) -> anyhow::Result<(&str, Vec<u8>)> {
    let mut parts = sealed.splitn(3, ':');
    let (Some(VERSION), Some(key_id), Some(blob)) = (parts.next(), parts.next(), parts.next())
    else {
        anyhow::bail!("not a sealed value");
    };
    Ok((
        key_id,
        B64.decode(blob).context("sealed value is not base64")?,
    ))
}

/// The sealed columns of `fansly_accounts`.
pub const ACCOUNT_SECRETS: [&str; 6] = [
    "session_token",
    "session_cookie",
    "password",
    "proxy_url",
    "twofa_token",
    "pending_code",
];

/// Re-seals every secret not under the current key. Each value is replaced
/// only if it is still the one read, so writes racing the rotation win.
pub async fn rotate(db: &crate::core::db::Db, keyring: &Keyring) -> anyhow::Result<u64> {
    use secrecy::ExposeSecret;
    use sqlx::Row;
    let mut rotated = 0;
    for column in ACCOUNT_SECRETS {
        let rows = sqlx::query(&format!(
            "SELECT id, {column} FROM fansly_accounts WHERE {column} IS NOT NULL"
        ))
        .fetch_all(&db.pool)
        .await?;
        for row in rows {
            let (id, sealed): (String, String) = (row.get(0), row.get(1));
            if !keyring.needs_rotation(&sealed) {
                continue;
            }
            let place = aad("fansly_accounts", &id, column);
            let resealed = keyring.seal(&place, keyring.open(&place, &sealed)?.expose_secret());
            let done = sqlx::query(&format!(
                "UPDATE fansly_accounts SET {column} = $1 WHERE id = $2 AND {column} = $3"
            ))
            .bind(resealed)
            .bind(&id)
            .bind(&sealed)
            .execute(&db.writer)
            .await?;
            rotated += done.rows_affected();
        }
    }
    Ok(rotated)
}

/// The associated data binding a secret to its place.
pub fn aad(table: &str, row_id: &str, column: &str) -> String {
    format!("{table}/{row_id}/{column}")
}

/// What a sealed-secret operation needs when no master key is configured.
pub fn no_keyring() -> ApiError {
    ApiError::Unavailable(
        "no master key is configured, so credentials cannot be stored: create one with \
         `fansly-gateway keys new-master` and set FANSLY_GATEWAY_MASTER_KEYS (or master_key_file)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn seals_and_opens_bound_to_its_place() {
        let ring = Keyring::parse(&Keyring::generate_entry()).unwrap();
        let sealed = ring.seal("t/1/c", "hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            ring.open("t/1/c", &sealed).unwrap().expose_secret(),
            "hunter2"
        );
        assert!(ring.open("t/2/c", &sealed).is_err(), "another row");
        assert_ne!(
            sealed,
            ring.seal("t/1/c", "hunter2"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn old_keys_open_and_the_first_key_seals() {
        let old = Keyring::generate_entry();
        let new = Keyring::generate_entry();
        let before = Keyring::parse(&old).unwrap();
        let sealed = before.seal("a", "secret");
        let after = Keyring::parse(&format!("{new}\n{old}")).unwrap();
        assert!(after.needs_rotation(&sealed));
        assert_eq!(after.open("a", &sealed).unwrap().expose_secret(), "secret");
        assert!(!after.needs_rotation(&after.seal("a", "secret")));
        let only_new = Keyring::parse(&new).unwrap();
        assert!(only_new.open("a", &sealed).is_err());
    }

    #[test]
    fn rejects_bad_key_material() {
        assert!(Keyring::parse("").is_err());
        assert!(Keyring::parse("k1:c2hvcnQ=").is_err());
        assert!(Keyring::parse("no-colon").is_err());
        let e = Keyring::generate_entry();
        assert!(Keyring::parse(&format!("{e},{e}")).is_err());
    }
}
