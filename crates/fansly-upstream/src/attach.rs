//! The grant step every media-carrying send shares (posts, messages, mass
//! messages): vault media become accountMedia grants (spec §8.3) and the
//! grants become one attachment. One file is a plain accountMedia
//! (`contentType` 1); several files are one accountMedia bundle
//! (`contentType` 2, §6.4), as the vendor documents "several = bundle".

use serde_json::{json, Value};

use crate::client::FanslyClient;
use crate::error::UpstreamError;
use crate::session::Session;

/// `attachments[].contentType` of one accountMedia (§6.4, CONFIRMED).
pub const CONTENT_ACCOUNT_MEDIA: i64 = 1;
/// `attachments[].contentType` of an accountMedia bundle: CONFIRMED for
/// messages (§6.4, JK models); INFERRED to be the same value for posts,
/// whose attachments share the `{contentId, contentType, pos}` shape (§9).
pub const CONTENT_BUNDLE: i64 = 2;

/// One media file to attach: the vault media and, optionally, the vault
/// media shown in its place until it is unlocked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatedMedia {
    pub media_id: String,
    pub preview_id: Option<String>,
}

/// Who may unlock a post's or a message's media; several gates are alternatives (INFERRED).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Pay `price` mills.
    Purchase(i64),
    Subscribers,
    /// INFERRED: the follower flag is not captured.
    Followers,
}

/// Who the grant is for, which decides its top-level flags, whitelist and
/// how a purchase gate is written.
#[derive(Clone, Copy, Debug)]
pub enum Audience<'a> {
    /// A post: top-level `permissionFlags` 0, empty whitelist (BOT‑TS).
    Post,
    /// A DM between `me` and `fan`: top-level `permissionFlags` 8, both
    /// whitelisted (SHIM captured).
    Dm { me: &'a str, fan: &'a str },
}

impl Audience<'_> {
    fn permission_flags(&self) -> i64 {
        match self {
            Audience::Post => 0,
            Audience::Dm { .. } => 8,
        }
    }

    fn whitelist(&self) -> Value {
        match self {
            Audience::Post => json!([]),
            Audience::Dm { me, fan } => json!([
                {"accountId": me, "permissionFlags": 0},
                {"accountId": fan, "permissionFlags": 0}
            ]),
        }
    }

    /// One `permissions.permissionFlags` entry. Pay-per-view is flags 1 on
    /// posts (BOT‑TS) and 3 in DMs (SHIM captured real sends); subscribers 2,
    /// followers 4 (followers INFERRED). The price is double-encoded in
    /// `metadata` and repeated as `price`.
    fn flag(&self, gate: &Gate) -> Value {
        match gate {
            Gate::Purchase(price) => json!({
                "type": 0,
                "flags": match self { Audience::Post => 1, Audience::Dm { .. } => 3 },
                "metadata": json!({"1": json!({"price": price}).to_string()}).to_string(),
                "price": price,
            }),
            Gate::Subscribers => json!({"type": 0, "flags": 2, "metadata": null}),
            Gate::Followers => json!({"type": 0, "flags": 4, "metadata": null}),
        }
    }
}

/// What a post or message attaches: an accountMedia or a bundle id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub content_type: i64,
    pub content_id: String,
}

impl FanslyClient {
    /// Grants `media` for `audience` with `gates` and answers the one
    /// attachment that carries it (`None` for no media).
    ///
    /// One file: `POST /account/media [grant]` → `response[0].id`, an
    /// accountMedia attachment. Several: `POST /account/media/bundle` with
    /// one `accountMediaModels` entry per file in order (each keeping its
    /// own `previewId`) and the gates on the bundle's `permissions`, as the
    /// bundle editor sends it (§8.3, CONFIRMED for posts) →
    /// `response.accountMediaBundles[0].id`, a bundle attachment. For DMs the
    /// bundle and its items carry the DM grant's flags 8 and whitelist
    /// (INFERRED: only the post form of the bundle body is captured).
    pub async fn attach_media(
        &self,
        session: &Session,
        media: &[GatedMedia],
        audience: Audience<'_>,
        gates: &[Gate],
    ) -> Result<Option<Attachment>, UpstreamError> {
        let permissions = json!({
            "permissionFlags": gates.iter().map(|g| audience.flag(g)).collect::<Vec<_>>()
        });
        match media {
            [] => Ok(None),
            [one] => {
                let body = json!([{
                    "mediaId": one.media_id,
                    "previewId": one.preview_id,
                    "permissionFlags": audience.permission_flags(),
                    "price": 0,
                    "whitelist": audience.whitelist(),
                    "permissions": permissions,
                    "tags": []
                }]);
                let answer = self.post(session, "/api/v1/account/media", &body).await?;
                let id = answer
                    .pointer("/0/id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        UpstreamError::Protocol("Fansly did not grant the media file".into())
                    })?;
                Ok(Some(Attachment {
                    content_type: CONTENT_ACCOUNT_MEDIA,
                    content_id: id.to_owned(),
                }))
            }
            several => {
                let models: Vec<Value> = several
                    .iter()
                    .map(|m| {
                        json!({
                            "mediaId": m.media_id,
                            "previewId": m.preview_id,
                            "permissionFlags": audience.permission_flags(),
                            "price": 0,
                            "whitelist": audience.whitelist(),
                        })
                    })
                    .collect();
                let body = json!({
                    "accountMediaModels": models,
                    "previewId": null,
                    "permissionFlags": audience.permission_flags(),
                    "price": 0,
                    "whitelist": audience.whitelist(),
                    "permissions": permissions,
                    "tags": []
                });
                let answer = self
                    .post(session, "/api/v1/account/media/bundle", &body)
                    .await?;
                let bundle = answer.pointer("/accountMediaBundles/0").ok_or_else(|| {
                    UpstreamError::Protocol("Fansly answered the bundle without a bundle".into())
                })?;
                let id = bundle.get("id").and_then(Value::as_str).ok_or_else(|| {
                    UpstreamError::Protocol("Fansly answered the bundle without an id".into())
                })?;
                // When the answer lists the bundle's items, a short bundle
                // would silently drop files: refuse it.
                if let Some(items) = bundle.get("accountMediaIds").and_then(Value::as_array) {
                    if items.len() != several.len() {
                        return Err(UpstreamError::Protocol(
                            "Fansly did not bundle every media file".into(),
                        ));
                    }
                }
                Ok(Some(Attachment {
                    content_type: CONTENT_BUNDLE,
                    content_id: id.to_owned(),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pay_per_view_flags_differ_between_posts_and_dms() {
        let dm = Audience::Dm { me: "1", fan: "2" };
        let f = dm.flag(&Gate::Purchase(5000));
        assert_eq!(f["flags"], 3);
        assert_eq!(f["price"], 5000);
        assert_eq!(f["metadata"], "{\"1\":\"{\\\"price\\\":5000}\"}");
        assert_eq!(Audience::Post.flag(&Gate::Purchase(5000))["flags"], 1);
        assert_eq!(dm.flag(&Gate::Subscribers)["flags"], 2);
        assert_eq!(Audience::Post.flag(&Gate::Followers)["flags"], 4);
        assert_eq!(dm.whitelist()[1]["accountId"], "2");
        assert_eq!(Audience::Post.whitelist(), json!([]));
    }
}
