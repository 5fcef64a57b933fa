//! Vault albums (spec §8.2, §8.4).

use serde_json::{json, Value};

use crate::client::FanslyClient;
use crate::error::Answer;
use crate::session::Session;

/// `type` of the built-in "All" album every creator's vault has. The web app
/// adds every upload to it, and an upload that is not in it does not show in
/// the vault (FanslyVaultUploader posts each finished upload to
/// `/vault/albums/media` with this album's id; issue 13 row 3, CONFIRMED by
/// that client, not by a capture of our own).
pub const ALL_ALBUM_TYPE: i64 = 38000;

/// The id of the "All" album in a `/vault/albumsnew` answer (an array, or an
/// object with `albums`), if there is one.
pub fn all_album_id(albums: &Value) -> Option<&str> {
    let rows = albums
        .as_array()
        .or_else(|| albums.get("albums").and_then(Value::as_array))?;
    rows.iter()
        .find(|a| a.get("type").and_then(Value::as_i64) == Some(ALL_ALBUM_TYPE))
        .and_then(|a| a.get("id").and_then(Value::as_str))
}

impl FanslyClient {
    /// `GET /vault/albumsnew` → the creator's vault albums (CONFIRMED route;
    /// answer shape UNCONFIRMED, passed through).
    pub async fn vault_albums(&self, session: &Session) -> Answer {
        self.get(session, "/api/v1/vault/albumsnew", &[]).await
    }

    /// `POST /vault/albums {id: null, title, description, accountId: null,
    /// type: 0}` → the new album (CONFIRMED body, BOT-TS).
    pub async fn create_vault_album(
        &self,
        session: &Session,
        title: &str,
        description: &str,
    ) -> Answer {
        let body = json!({
            "id": null,
            "title": title,
            "description": description,
            "accountId": null,
            "type": 0,
        });
        self.post(session, "/api/v1/vault/albums", &body).await
    }

    /// Edits an album: the create route with the album's `id` set (INFERRED:
    /// the create body's `id: null` is the editor's "new" marker).
    /// Evidence searched (issue 13): the bundle has `POST /vault/albums/edit`
    /// (HUB-SPEC §2.6, body not shown), likely taking the create shape; with
    /// no body known the re-post is kept. Also seen: `/vault/albums/media/
    /// rename {albumId, mediaId, customFilename}`, `/vault/albums/delete`.
    pub async fn update_vault_album(
        &self,
        session: &Session,
        album_id: &str,
        title: &str,
        description: &str,
    ) -> Answer {
        let body = json!({
            "id": album_id,
            "title": title,
            "description": description,
            "accountId": null,
            "type": 0,
        });
        self.post(session, "/api/v1/vault/albums", &body).await
    }

    /// Moves the album at index `old_pos` of `/vault/albumsnew`'s order to
    /// `new_pos` (0 = first): `POST /vault/albums/order {oldPos, newPos}`.
    /// CONFIRMED as the web app's payload (openFansly's bundle route list,
    /// HUB-SPEC §2.6); `/lists/order` takes the same pair.
    pub async fn move_vault_album(
        &self,
        session: &Session,
        old_pos: usize,
        new_pos: usize,
    ) -> Answer {
        let body = json!({"oldPos": old_pos, "newPos": new_pos});
        self.post(session, "/api/v1/vault/albums/order", &body)
            .await
    }

    /// `POST /vault/albums/media {albumId, mediaIds}` adds media to an album
    /// (CONFIRMED, BOT-TS); with `remove`, `POST /vault/albums/media/delete`
    /// with the same body detaches them, the media staying in the vault
    /// (CONFIRMED, SHIM).
    pub async fn album_media(
        &self,
        session: &Session,
        album_id: &str,
        media_ids: &[String],
        remove: bool,
    ) -> Answer {
        let path = if remove {
            "/api/v1/vault/albums/media/delete"
        } else {
            "/api/v1/vault/albums/media"
        };
        let body = json!({"albumId": album_id, "mediaIds": media_ids});
        self.post(session, path, &body).await
    }

    /// One page of an album's media (or of the whole vault for `None`):
    /// `GET /media/vaultnew?albumId=&mediaType=&search=&before=&after=0` →
    /// `{albumMedia[], media[]}`. `before` must be the literal "0" at the head
    /// (an empty one answers an empty page; CONFIRMED, HUB and BOT-TS).
    pub async fn vault_media(
        &self,
        session: &Session,
        album_id: Option<&str>,
        before: Option<&str>,
    ) -> Answer {
        self.get(
            session,
            "/api/v1/media/vaultnew",
            &[
                ("albumId", album_id.unwrap_or("")),
                ("mediaType", ""),
                ("search", ""),
                ("before", before.unwrap_or("0")),
                ("after", "0"),
            ],
        )
        .await
    }
}
