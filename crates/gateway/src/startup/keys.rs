//! Secrets the gateway keeps in files: the master keys that seal credentials
//! at rest (loaded at start; in sandbox mode created on first start) and the
//! files written with owner-only permissions.

use anyhow::Context;

use crate::core::config::Config;
use crate::core::crypto::Keyring;

/// The master keys, from `master_keys`, else `master_key_file`. In sandbox
/// mode with neither, a key file under the data dir is created (here, at
/// start, so that configuration stays plain data that writes no files).
pub fn keyring(config: &Config) -> anyhow::Result<Option<Keyring>> {
    if let Some(keys) = &config.master_keys {
        return Keyring::parse(keys).map(Some);
    }
    let file = match &config.master_key_file {
        Some(file) => file.clone(),
        None if config.sandbox.enabled => {
            let file = config.data_dir.join("master.key");
            if !file.exists() {
                crate::core::db::create_private_dir(&config.data_dir)?;
                write_secret_file(&file, &Keyring::generate_entry())?;
            }
            file
        }
        None => return Ok(None),
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| anyhow::anyhow!("reading master key file {}: {e}", file.display()))?;
    Keyring::parse(&text).map(Some)
}

/// Writes `secret` to `path`, readable by the owner only.
pub fn write_secret_file(path: &std::path::Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(f, "{secret}")?;
    Ok(())
}
