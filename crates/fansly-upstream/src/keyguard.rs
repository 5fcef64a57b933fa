//! Keeping the check key current without a restart: derived from the web
//! app (`checkkey.rs`) at start and on a schedule (the gateway's
//! `check_key` worker calls [`FanslyClient::refresh_check_key`]) and at once
//! when Fansly refuses a digest (`client.rs` calls
//! `check_key_rotated_since`). A rotation is logged and counted
//! (`fansly_upstream_check_key_rotations_total`).

use std::sync::atomic::Ordering;

use reqwest::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING};
use url::Url;

use crate::checkkey;
use crate::client::FanslyClient;
use crate::error::UpstreamError;

pub(crate) const ROTATIONS: &str = "fansly_upstream_check_key_rotations_total";

impl FanslyClient {
    /// Reads the web app's current check key and switches to it when it
    /// differs; `Ok(true)` when it rotated.
    pub async fn refresh_check_key(&self) -> Result<bool, UpstreamError> {
        let _one = self.key_refresh.lock().await;
        self.adopt_derived_key().await
    }

    /// After a request signed with `old` was refused: whether the key in use
    /// is now another (rotated by this call, or by a caller before it).
    pub(crate) async fn check_key_rotated_since(&self, old: &str) -> bool {
        let seen = self.key_derivations.load(Ordering::Acquire);
        let _one = self.key_refresh.lock().await;
        // A derivation that finished while this caller waited answered for
        // it too: a burst of refusals reads the web app once, not once each.
        if self.check_key() != old || self.key_derivations.load(Ordering::Acquire) != seen {
            return self.check_key() != old;
        }
        match self.adopt_derived_key().await {
            Ok(rotated) => rotated,
            Err(e) => {
                tracing::warn!(error = %e, "deriving the check key from the web app failed");
                false
            }
        }
    }

    async fn adopt_derived_key(&self) -> Result<bool, UpstreamError> {
        let derived = self.derive_check_key().await;
        self.key_derivations.fetch_add(1, Ordering::Release);
        let key = derived?;
        let old = self.check_key();
        if key == old {
            return Ok(false);
        }
        *self.check_key.write().unwrap_or_else(|p| p.into_inner()) = key.into();
        metrics::counter!(ROTATIONS).increment(1);
        // The keys are not secrets (every visitor of the web app gets them),
        // but logs need not carry them either.
        tracing::warn!("Fansly's check key rotated; requests are signed with the new one");
        Ok(true)
    }

    /// The effective key in the web app's bundle: its start page, the
    /// `main.<hash>.js` it loads, the last `this.checkKey_` assignment.
    pub async fn derive_check_key(&self) -> Result<String, UpstreamError> {
        let base = self.config().web_base.clone();
        let html = self.web_page(&base, "text/html").await?;
        let src = checkkey::main_script(&html).ok_or_else(|| {
            UpstreamError::Protocol("the web app's start page names no main.*.js".into())
        })?;
        let url = checkkey::script_url(&base, src).ok_or_else(|| {
            UpstreamError::Protocol(format!("the web app's bundle URL {src:?} is not valid"))
        })?;
        let js = self.web_page(&url, "*/*").await?;
        checkkey::extract(&js).ok_or_else(|| {
            UpstreamError::Protocol("the web app's bundle assigns no usable checkKey_".into())
        })
    }

    async fn web_page(&self, url: &Url, accept: &'static str) -> Result<String, UpstreamError> {
        let mut headers = self.api_headers(None);
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        // The page is read by reqwest, which undoes only what it asks for
        // itself (gzip, br): it adds its own `Accept-Encoding`.
        headers.remove(ACCEPT_ENCODING);
        let resp = self
            .plain_http()
            .get(url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(UpstreamError::Api {
                status: status.as_u16(),
                code: None,
                details: format!("the web app answered {status} for {}", url.path()),
            });
        }
        resp.text()
            .await
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))
    }
}
