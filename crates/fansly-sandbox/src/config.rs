//! How a sandbox is configured, and the one rule that reads the
//! configuration alone: whether a request's `fansly-client-check` passes.

use std::path::PathBuf;
use std::time::Duration;

use fansly_upstream::check::client_check;

#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The check key the sandbox expects in `fansly-client-check`.
    pub check_key: String,
    /// Reject requests whose `fansly-client-check` is wrong. Real Fansly seems
    /// not to enforce it (spec §2.2); the sandbox does by default so the
    /// gateway is held to the web app's behaviour.
    pub strict_client_check: bool,
    /// Where uploaded parts and processed media are stored.
    pub data_dir: PathBuf,
    /// How long a completed upload stays "processing" before its media exists.
    pub processing_delay: Duration,
    /// Fansly's per-route read limits, enforced with 429 + `Retry-After`
    /// (`rate_limit.rs`); `None` (the default) leaves them off, since tests
    /// drive accounts far harder. `POST /_sandbox/rate-limit` changes it.
    pub rate_limit: Option<crate::rate_limit::Limits>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            check_key: fansly_upstream::DEFAULT_CHECK_KEY.into(),
            strict_client_check: true,
            data_dir: std::env::temp_dir().join(format!("fansly-sandbox-{}", std::process::id())),
            processing_delay: Duration::from_millis(300),
            rate_limit: None,
        }
    }
}

impl SandboxConfig {
    /// In strict mode, the `fansly-client-check` digest (under `check_key`,
    /// the key the sandbox requires now) must match this path and the
    /// `fansly-client-id`, and `fansly-client-ts` must be a number.
    /// Each header is given trimmed, `None` when absent or blank. Returns
    /// Fansly's `details` for the refusal, if any.
    pub fn client_check_problem(
        &self,
        check_key: &str,
        path: &str,
        device: Option<&str>,
        check: Option<&str>,
        ts: Option<&str>,
    ) -> Option<&'static str> {
        if !self.strict_client_check {
            return None;
        }
        let device = device.unwrap_or_default();
        let want = client_check(check_key, path, device);
        if device.is_empty() || check != Some(want.as_str()) {
            return Some("invalid fansly-client-check");
        }
        if ts.and_then(|v| v.parse::<i64>().ok()).is_none() {
            return Some("missing parameter \"fansly-client-ts\"");
        }
        None
    }
}
