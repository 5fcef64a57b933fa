//! Vault albums (spec §8.2, §8.4).

use serde_json::{json, Value};

use crate::client::FanslyClient;
use crate::error::UpstreamError;
use crate::session::Session;

impl FanslyClient {
    /// `GET /vault/albumsnew` → the creator's vault albums (CONFIRMED route;
    /// answer shape UNCONFIRMED, passed through).
    pub async fn vault_albums(&self, session: &Session) -> Result<Value, UpstreamError> {
        self.get(session, "/api/v1/vault/albumsnew", &[]).await
    }

    /// `POST /vault/albums {id: null, title, description, accountId: null,
    /// type: 0}` → the new album (CONFIRMED body, BOT-TS).
    pub async fn create_vault_album(
        &self,
        session: &Session,
        title: &str,
        description: &str,
    ) -> Result<Value, UpstreamError> {
        let body = json!({
            "id": null,
            "title": title,
            "description": description,
            "accountId": null,
            "type": 0,
        });
        self.post(session, "/api/v1/vault/albums", &body).await
    }
}
