//! Creator content beyond messaging: the walls (profile feeds) each creator
//! adds next to the main wall every seeded creator has, and their posts.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

/// A wall the creator added; the main wall (id = account id + 1) is implicit.
#[derive(Clone, Debug)]
pub struct Wall {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub private: bool,
}

/// A post's attachment: `contentType` 1 = accountMedia (`contentId` its
/// grant id) or 2 = accountMedia bundle (`contentId` the bundle id).
#[derive(Clone, Debug)]
pub struct Attachment {
    pub content_type: i64,
    pub content_id: u64,
}

#[derive(Clone, Debug)]
pub struct Post {
    pub id: u64,
    pub account: u64,
    pub content: String,
    pub attachments: Vec<Attachment>,
    pub wall_ids: Vec<u64>,
    pub created_ms: i64,
    /// When a scheduled post goes live (ms); 0 = published at once.
    pub scheduled_for_ms: i64,
    /// When the post disappears (ms); 0 = never.
    pub expires_at_ms: i64,
    /// Walls (among `wall_ids`) the post is pinned on.
    pub pin_wall_ids: Vec<u64>,
}

impl Post {
    /// Live: due (not scheduled ahead of `now`) and not expired.
    pub fn live(&self, now_ms: i64) -> bool {
        self.scheduled_for_ms <= now_ms && (self.expires_at_ms == 0 || self.expires_at_ms > now_ms)
    }

    /// A post as `/timelinenew` and `POST /post` render it; `createdAt` in
    /// seconds, `expiresAt` in ms (§11).
    pub fn json(&self) -> Value {
        let id = self.id.to_string();
        let attachments: Vec<Value> = self
            .attachments
            .iter()
            .enumerate()
            .map(|(pos, a)| {
                json!({
                    "postId": id,
                    "pos": pos,
                    "contentType": a.content_type,
                    "contentId": a.content_id.to_string()
                })
            })
            .collect();
        let hashtags: Vec<&str> = self
            .content
            .split_whitespace()
            .filter_map(|w| w.strip_prefix('#'))
            .filter(|t| !t.is_empty())
            .collect();
        json!({
            "id": id,
            "accountId": self.account.to_string(),
            "content": self.content,
            "fypFlags": 0,
            "inReplyTo": null,
            "inReplyToRoot": null,
            "createdAt": self.created_ms.max(self.scheduled_for_ms) / 1000,
            "expiresAt": (self.expires_at_ms != 0).then_some(self.expires_at_ms),
            "attachments": attachments,
            "likeCount": engagement(self.id).likes,
            "timelineReadPermissionFlags": [],
            "accountTimelineReadPermissionFlags": {"flags": 0, "metadata": "{}"},
            "mediaLikeCount": 0,
            "tipAmount": 0,
            "totalTipAmount": 0,
            "attachmentTipAmount": 0,
            "replyPermissionFlags": [],
            "replyCount": engagement(self.id).comments,
            "postReplyPermissionFlags": [],
            "wallIds": self.wall_ids.iter().map(u64::to_string).collect::<Vec<_>>(),
            // INFERRED: how Fansly renders pins is not captured.
            "pinned": i64::from(!self.pin_wall_ids.is_empty()),
            "pinWallIds": self.pin_wall_ids.iter().map(u64::to_string).collect::<Vec<_>>(),
            "hashtags": hashtags,
            "liked": false
        })
    }
}

/// Posts per `/timelinenew` page, as Fansly pages them (§9).
pub const TIMELINE_PAGE: usize = 15;

#[derive(Default)]
pub struct Content {
    walls: HashMap<u64, Vec<Wall>>,
    /// Per account, ascending by id (= oldest first).
    posts: HashMap<u64, Vec<Post>>,
    /// Per account, in dashboard order.
    albums: HashMap<u64, Vec<Album>>,
    /// (fan, accountMedia) pairs a fan has bought (set through `/_sandbox`).
    pub purchases: HashSet<(u64, u64)>,
    /// accountMedia → the media of its free preview (`previewId` of the grant).
    pub previews: HashMap<u64, u64>,
}

/// A vault album and the media in it.
#[derive(Clone, Debug)]
pub struct Album {
    pub id: u64,
    pub title: String,
    pub description: String,
    pub created_ms: i64,
    /// 0 = made by the creator; [`ALL_ALBUM`] (38000) = the built-in "All"
    /// album every creator has. Only media in it are in the vault
    /// (FanslyVaultUploader adds every upload to it, else Fansly does not
    /// list the upload; HUB-SPEC §3.4). CONFIRMED value (FanslyVaultUploader).
    pub kind: i64,
    /// Ascending by entry id (= oldest first).
    pub entries: Vec<AlbumEntry>,
}

/// `type` of the built-in "All" album: the vault itself.
pub const ALL_ALBUM: i64 = fansly_upstream::ALL_ALBUM_TYPE;

/// One media in one album: Fansly's `albumMedia` row.
#[derive(Clone, Debug)]
pub struct AlbumEntry {
    pub id: u64,
    pub media: u64,
    pub added_ms: i64,
}

/// Entries per `/media/vaultnew` page (INFERRED: Fansly's page size is not
/// captured; the gateway reads fullness from this).
pub const VAULT_PAGE: usize = 20;

/// A post's seeded engagement: stable per post id, so stats and the
/// timeline agree without storing anything.
#[derive(Clone, Copy, Debug)]
pub struct Engagement {
    pub likes: u64,
    pub unlikes: u64,
    pub comments: u64,
}

/// A stable pseudo-random number per (id, salt): splitmix64.
pub fn seeded(id: u64, salt: u64) -> u64 {
    let mut z = id ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn engagement(post: u64) -> Engagement {
    Engagement {
        likes: seeded(post, 1) % 200,
        unlikes: seeded(post, 2) % 20,
        comments: seeded(post, 3) % 40,
    }
}

/// The main wall's id: what `account_json` has always advertised.
pub fn main_wall_id(account: u64) -> u64 {
    account + 1
}

impl Content {
    /// Appends a wall after the account's existing ones; answers its position.
    pub fn add_wall(&mut self, account: u64, wall: Wall) -> usize {
        let walls = self.walls.entry(account).or_default();
        walls.push(wall);
        walls.len()
    }

    /// Whether `wall` is one of `account`'s walls (the main one included).
    pub fn has_wall(&self, account: u64, wall: u64) -> bool {
        wall == main_wall_id(account)
            || self
                .walls
                .get(&account)
                .is_some_and(|ws| ws.iter().any(|w| w.id == wall))
    }

    /// Appends an album; answers it as the create answer renders it.
    pub fn add_album(&mut self, account: u64, album: Album) -> Value {
        let albums = self.albums.entry(account).or_default();
        albums.push(album);
        album_json(account, albums.len() - 1, &albums[albums.len() - 1])
    }

    /// The account's albums in dashboard order (shape INFERRED).
    pub fn albums_json(&self, account: u64) -> Vec<Value> {
        self.albums
            .get(&account)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(pos, a)| album_json(account, pos, a))
            .collect()
    }

    pub fn add_post(&mut self, post: Post) {
        self.posts.entry(post.account).or_default().push(post);
    }

    /// Deletes one of `account`'s posts; the post as it was.
    pub fn remove_post(&mut self, account: u64, id: u64) -> Option<Post> {
        let posts = self.posts.get_mut(&account)?;
        let i = posts.iter().position(|p| p.id == id)?;
        Some(posts.remove(i))
    }

    /// Post `id`, whoever wrote it.
    pub fn post(&self, id: u64) -> Option<&Post> {
        self.posts.values().flatten().find(|p| p.id == id)
    }

    /// The id of `account`'s newest post.
    pub fn newest_post(&self, account: u64) -> Option<u64> {
        self.posts.get(&account)?.iter().map(|p| p.id).max()
    }

    pub fn post_mut(&mut self, id: u64) -> Option<&mut Post> {
        self.posts.values_mut().flatten().find(|p| p.id == id)
    }

    /// The account's "All" album (the vault), if it has one.
    pub fn all_album(&self, account: u64) -> Option<&Album> {
        self.albums_of(account).iter().find(|a| a.kind == ALL_ALBUM)
    }

    pub fn albums_of(&self, account: u64) -> &[Album] {
        self.albums.get(&account).map_or(&[], Vec::as_slice)
    }

    pub fn album_mut(&mut self, account: u64, id: u64) -> Option<&mut Album> {
        self.albums
            .get_mut(&account)?
            .iter_mut()
            .find(|a| a.id == id)
    }

    pub fn album_json(&self, account: u64, id: u64) -> Option<Value> {
        let albums = self.albums.get(&account)?;
        let pos = albums.iter().position(|a| a.id == id)?;
        Some(album_json(account, pos, &albums[pos]))
    }

    /// Moves the album at index `from` to index `to` (both checked by the
    /// caller against the album count).
    pub fn move_album_at(&mut self, account: u64, from: usize, to: usize) {
        if let Some(albums) = self.albums.get_mut(&account) {
            if from < albums.len() {
                let album = albums.remove(from);
                albums.insert(to.min(albums.len()), album);
            }
        }
    }

    /// One timeline page of `account`'s live posts, newest first: ids below
    /// `before` (0 = from the newest), on `wall` if given, whose text
    /// contains `search` (case-insensitive).
    pub fn timeline(
        &self,
        account: u64,
        before: u64,
        wall: Option<u64>,
        search: &str,
        now_ms: i64,
    ) -> Vec<&Post> {
        let search = search.to_lowercase();
        self.posts
            .get(&account)
            .into_iter()
            .flatten()
            .rev()
            .filter(|p| before == 0 || p.id < before)
            .filter(|p| p.live(now_ms))
            .filter(|p| wall.is_none_or(|w| p.wall_ids.contains(&w)))
            .filter(|p| search.is_empty() || p.content.to_lowercase().contains(&search))
            .take(TIMELINE_PAGE)
            .collect()
    }

    /// The account's walls in profile order, as `account.walls[]` renders them.
    pub fn walls_json(&self, account: u64) -> Vec<Value> {
        let main = json!({
            "id": main_wall_id(account).to_string(),
            "accountId": account.to_string(),
            "pos": 0,
            "name": "Posts",
            "description": "",
            "private": 0,
            "metadata": "",
            "defaultWall": true,
            "mainWall": true
        });
        let extra = self.walls.get(&account).into_iter().flatten();
        std::iter::once(main)
            .chain(
                extra
                    .enumerate()
                    .map(|(i, w)| wall_json(account, w, Some(i + 1))),
            )
            .collect()
    }
}

/// A wall; `pos` is `None` in the create answer, as Fansly's is.
pub fn wall_json(account: u64, w: &Wall, pos: Option<usize>) -> Value {
    json!({
        "id": w.id.to_string(),
        "accountId": account.to_string(),
        "pos": pos,
        "name": w.name,
        "description": w.description,
        "private": i64::from(w.private),
        "metadata": ""
    })
}

/// An album; times in seconds like other media objects (shape INFERRED).
fn album_json(account: u64, pos: usize, a: &Album) -> Value {
    json!({
        "id": a.id.to_string(),
        "accountId": account.to_string(),
        "title": a.title,
        "description": a.description,
        "type": a.kind,
        "pos": pos,
        "itemCount": a.entries.len(),
        "coverMediaId": a.entries.last().map(|e| e.media.to_string()),
        "createdAt": a.created_ms / 1000,
        "updatedAt": a.entries.last().map_or(a.created_ms, |e| e.added_ms) / 1000
    })
}
