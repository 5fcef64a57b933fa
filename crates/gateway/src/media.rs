//! Media uploads and their `fansly_media_` handles.
//!
//! A file is spooled to a temporary file as it arrives (never wholly in
//! memory), then pushed to Fansly with the four-step upload and recorded
//! under a handle scoped to the team and the account. Handles resolve to
//! Fansly vault media ids when a message attaches them.

use std::path::Path;
use std::time::Duration;

use fansly_upstream::{FanslyClient, UploadFile};
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use sqlx::Row;
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::config::MediaSettings;
use crate::core::db::Db;
use crate::core::error::ApiError;
use crate::core::time::now_ms;

pub const PENDING: &str = "pending";
pub const PROCESSING: &str = "processing";
pub const COMPLETED: &str = "completed";
pub const FAILED: &str = "failed";

/// A file received in full on local disk, deleted when dropped.
pub struct Incoming {
    pub path: TempPath,
    pub size: u64,
    pub file_name: String,
    pub mime: String,
}

/// Writes a stream of chunks to a temporary file, refusing more than `max` bytes.
pub struct Spool {
    file: tokio::fs::File,
    path: TempPath,
    size: u64,
    max: u64,
    field: &'static str,
}

impl Spool {
    pub async fn new(dir: &Path, max: u64, field: &'static str) -> Result<Spool, ApiError> {
        let internal = |e: std::io::Error| {
            ApiError::Internal(anyhow::Error::new(e).context("spooling an upload"))
        };
        tokio::fs::create_dir_all(dir).await.map_err(internal)?;
        let (file, path) = tempfile::NamedTempFile::new_in(dir)
            .map_err(internal)?
            .into_parts();
        Ok(Spool {
            file: tokio::fs::File::from_std(file),
            path,
            size: 0,
            max,
            field,
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(too_large(self.field, self.max));
        }
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("spooling an upload")))
    }

    /// Copies `stream` into the spool.
    pub async fn fill<S, E>(&mut self, mut stream: S) -> Result<(), ApiError>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::BadRequest(format!("{}: the upload was interrupted: {e}", self.field))
            })?;
            self.write(&chunk).await?;
        }
        Ok(())
    }

    pub async fn finish(
        mut self,
        file_name: String,
        declared_mime: Option<&str>,
    ) -> Result<Incoming, ApiError> {
        if self.size == 0 {
            return Err(ApiError::Unprocessable(format!(
                "{}: the file is empty",
                self.field
            )));
        }
        self.file
            .flush()
            .await
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("spooling an upload")))?;
        let mime = media_type(declared_mime, &file_name).ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "{}: unsupported file type ({}); send an image, a video or an audio file",
                self.field,
                declared_mime.unwrap_or("unknown")
            ))
        })?;
        // What the bytes are decides, not what the client declared: nothing
        // is charged or pushed to Fansly for a file that is not media.
        // A declared type of the same kind (image, video, audio) is kept;
        // a different kind gives way to what the bytes are.
        let sniffed = sniff(&self.path, self.field).await?;
        let top = |m: &str| m.split('/').next().unwrap_or_default().to_owned();
        let mime = match sniffed {
            Some(s) if top(&s) != top(&mime) => s,
            _ => mime,
        };
        Ok(Incoming {
            path: self.path,
            size: self.size,
            file_name,
            mime,
        })
    }
}

/// The media type the file's first bytes show (the `infer` crate's magic
/// numbers): `Some` for images, videos and audio, a 422 naming `field` for
/// anything else (executables, archives, documents, unknown bytes).
async fn sniff(path: &Path, field: &str) -> Result<Option<String>, ApiError> {
    use tokio::io::AsyncReadExt;
    let mut head = vec![0u8; 8192];
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("sniffing an upload")))?;
    let mut filled = 0;
    while filled < head.len() {
        let n = file
            .read(&mut head[filled..])
            .await
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("sniffing an upload")))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    match infer::get(&head) {
        Some(kind)
            if matches!(
                kind.matcher_type(),
                infer::MatcherType::Image | infer::MatcherType::Video | infer::MatcherType::Audio
            ) =>
        {
            Ok(Some(kind.mime_type().to_owned()))
        }
        Some(kind) => Err(ApiError::Unprocessable(format!(
            "{field}: the content is {} ({}), not an image, a video or an audio file",
            kind.mime_type(),
            kind.extension()
        ))),
        None => Err(ApiError::Unprocessable(format!(
            "{field}: the content is not a recognised image, video or audio file"
        ))),
    }
}

pub fn too_large(field: &str, max: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "{field}: the file is larger than the {} MB limit ({max} bytes)",
        max / (1024 * 1024)
    ))
}

/// The declared type when it is media, else one guessed from the extension.
fn media_type(declared: Option<&str>, file_name: &str) -> Option<String> {
    let is_media = |m: &str| {
        let top = m.split('/').next().unwrap_or_default();
        matches!(top, "image" | "video" | "audio") && m.contains('/')
    };
    if let Some(m) = declared.map(|m| {
        m.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }) {
        if is_media(&m) {
            return Some(m);
        }
    }
    let ext = Path::new(file_name)
        .extension()?
        .to_str()?
        .to_ascii_lowercase();
    let guessed = match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "wav" => "audio/wav",
        _ => return None,
    };
    Some(guessed.to_owned())
}

/// A safe display name: the last path segment, at most 255 characters.
pub fn clean_file_name(raw: Option<&str>) -> String {
    let name = raw
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim();
    let name: String = name.chars().filter(|c| !c.is_control()).take(255).collect();
    if name.is_empty() {
        "upload".into()
    } else {
        name
    }
}

/// Downloads `file_url` into a spool (the `file_url` form of Upload Media).
/// The host is resolved once and the connection pinned to an address that
/// passed the check, and redirects are not followed, so neither DNS tricks
/// nor a redirect can point the gateway at its own network.
#[tracing::instrument(skip_all, fields(op = "media.fetch_url"))]
pub async fn fetch_url(
    url: &str,
    dir: &Path,
    max: u64,
    allow_private: bool,
) -> Result<Incoming, ApiError> {
    let bad = |why: String| ApiError::Unprocessable(format!("file_url: {why}"));
    let parsed = crate::core::ssrf::parse_target(url).map_err(bad)?;
    let host = crate::core::ssrf::host_of(&parsed);
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addr = crate::core::ssrf::resolve(&host, port, allow_private)
        .await
        .map_err(bad)?[0];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .build()
        .map_err(|e| ApiError::Internal(e.into()))?;
    let resp = client
        .get(parsed.clone())
        .send()
        .await
        .map_err(|e| bad(format!("could not be fetched ({e})")))?;
    if resp.status().is_redirection() {
        return Err(bad(format!(
            "answered a redirect (HTTP {}); give the final URL",
            resp.status()
        )));
    }
    if !resp.status().is_success() {
        return Err(bad(format!("answered HTTP {}", resp.status())));
    }
    if resp.content_length().is_some_and(|len| len > max) {
        return Err(too_large("file_url", max));
    }
    let declared = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let name = clean_file_name(parsed.path_segments().and_then(|mut s| s.next_back()));
    let mut spool = Spool::new(dir, max, "file_url").await?;
    spool.fill(resp.bytes_stream()).await?;
    spool.finish(name, declared.as_deref()).await
}

/// Credits for `size` bytes at `per_mb` per megabyte (1 MB = 1,000,000
/// bytes, as the vendor counts), rounded up, at least one: the vendor's
/// example charges one credit for a photo.
pub fn upload_cost(size: u64, per_mb: i64) -> i64 {
    let credits = (u128::from(size) * per_mb.max(0) as u128).div_ceil(1_000_000);
    i64::try_from(credits).unwrap_or(i64::MAX).max(1)
}

/// Pushes a received file to Fansly and answers the vault media id and the
/// media object the vendor returns. Width and height are read from the
/// image header when there is one (0 otherwise).
#[tracing::instrument(skip_all, fields(op = "media.push", account = %account.id))]
pub async fn push(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    file: &Incoming,
    settings: &MediaSettings,
) -> Result<(String, Value), ApiError> {
    let done = fansly
        .upload_file(
            &account.session,
            UploadFile {
                path: &file.path,
                size: file.size,
                mime_type: &file.mime,
                file_name: &file.file_name,
            },
            Duration::from_millis(settings.poll_interval_ms),
            Duration::from_millis(settings.processing_timeout_ms),
        )
        .await
        .map_err(|e| ApiError::upstream(&account.id, e))?;
    let media_id = done
        .get("mediaId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::BadGateway("Fansly's finished upload has no mediaId".into()))?
        .to_owned();
    let mimetype = done
        .get("mimeType")
        .and_then(Value::as_str)
        .unwrap_or(&file.mime)
        .to_owned();
    let (width, height) = imagesize::size(&file.path)
        .map(|s| (s.width as u64, s.height as u64))
        .unwrap_or((0, 0));
    let media = json!({
        "id": media_id,
        "type": if mimetype.starts_with("video/") { 2 } else { 1 },
        "status": 1,
        "accountId": account.fansly_id,
        "mimetype": mimetype,
        "filename": file.file_name,
        "width": width,
        "height": height
    });
    Ok((media_id, media))
}

/// A stored handle.
#[derive(Clone, Debug)]
pub struct Handle {
    pub id: String,
    pub file_name: String,
    pub status: String,
    pub media_id: Option<String>,
    pub media: Option<Value>,
    pub error: Option<String>,
}

#[tracing::instrument(skip_all, fields(op = "media.insert", team = %team_id, account = %account_id))]
pub async fn insert(
    db: &Db,
    id: &str,
    team_id: &str,
    account_id: &str,
    file: &Incoming,
    credits: i64,
    status: &str,
) -> Result<(), ApiError> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO media_uploads (id, team_id, account_id, file_name, mime_type, size_bytes, \
           credits, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(id)
    .bind(team_id)
    .bind(account_id)
    .bind(&file.file_name)
    .bind(&file.mime)
    .bind(file.size as i64)
    .bind(credits)
    .bind(status)
    .bind(now)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Moves a handle on: `processing`, `completed` (with the media) or `failed` (with why).
#[tracing::instrument(skip_all, fields(op = "media.update"))]
pub async fn update(
    db: &Db,
    id: &str,
    status: &str,
    media: Option<(&str, &Value)>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE media_uploads SET status = $1, media_id = $2, media = $3, error = $4, \
           updated_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(media.map(|(id, _)| id.to_owned()))
    .bind(media.map(|(_, m)| m.to_string()))
    .bind(error)
    .bind(now_ms())
    .bind(id)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Fails uploads nobody is working on any more (the gateway that took them
/// stopped). An upload's own poll gives up after `processing_timeout`, so one
/// untouched for longer than `stale_after` is orphaned. Its credits are not
/// given back here: the upload's debit is still open in its gateway's run
/// (its task died before settling it) and is refunded, exactly once, as
/// every orphaned reservation is (metering/credit_runs.rs `settle_orphans`).
#[tracing::instrument(skip_all, fields(op = "media.fail_orphaned"))]
pub async fn fail_orphaned(db: &Db, stale_after: Duration) -> Result<usize, sqlx::Error> {
    let cutoff = now_ms() - stale_after.as_millis() as i64;
    let rows =
        sqlx::query("SELECT id FROM media_uploads WHERE status IN ($1, $2) AND updated_at < $3")
            .bind(PENDING)
            .bind(PROCESSING)
            .bind(cutoff)
            .fetch_all(&db.pool)
            .await?;
    let mut failed = 0;
    for row in rows {
        let id: String = row.get(0);
        let claimed = sqlx::query(
            "UPDATE media_uploads SET status = $1, error = $2, updated_at = $3 \
             WHERE id = $4 AND status IN ($5, $6) AND updated_at < $7 RETURNING id",
        )
        .bind(FAILED)
        .bind("the upload was interrupted (the gateway stopped); upload the file again")
        .bind(now_ms())
        .bind(&id)
        .bind(PENDING)
        .bind(PROCESSING)
        .bind(cutoff)
        .fetch_optional(&db.writer)
        .await?;
        if claimed.is_some() {
            failed += 1;
        }
    }
    Ok(failed)
}

#[tracing::instrument(skip_all, fields(op = "media.remove"))]
pub async fn remove(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM media_uploads WHERE id = $1")
        .bind(id)
        .execute(&db.writer)
        .await?;
    Ok(())
}

/// The handle `id` of this team's `account`; anyone else's is not found.
#[tracing::instrument(skip_all, fields(op = "media.find", team = %team_id, account = %account_id))]
pub async fn find(
    db: &Db,
    team_id: &str,
    account_id: &str,
    id: &str,
) -> Result<Option<Handle>, ApiError> {
    let row = sqlx::query(
        "SELECT id, file_name, status, media_id, media, error FROM media_uploads \
         WHERE id = $1 AND team_id = $2 AND account_id = $3",
    )
    .bind(id)
    .bind(team_id)
    .bind(account_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| Handle {
        id: r.get(0),
        file_name: r.get(1),
        status: r.get(2),
        media_id: r.get(3),
        media: r
            .get::<Option<String>, _>(4)
            .and_then(|m| serde_json::from_str(&m).ok()),
        error: r.get(5),
    }))
}

/// Resolves handles to Fansly vault media ids, in order: 404 for a handle
/// this account does not own, 409 for one not processed yet.
#[tracing::instrument(skip_all, fields(op = "media.vault_ids", team = %team_id, account = %account_id))]
pub async fn vault_ids(
    db: &Db,
    team_id: &str,
    account_id: &str,
    handles: &[String],
) -> Result<Vec<String>, ApiError> {
    vault_ids_for(db, team_id, account_id, "mediaFiles", handles).await
}

/// As [`vault_ids`], the errors naming `field`.
#[tracing::instrument(skip_all, fields(op = "media.vault_ids_for", team = %team_id, account = %account_id))]
pub async fn vault_ids_for(
    db: &Db,
    team_id: &str,
    account_id: &str,
    field: &str,
    handles: &[String],
) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        let found = find(db, team_id, account_id, h)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("{field}: media {h} not found")))?;
        match (found.status.as_str(), found.media_id) {
            (COMPLETED, Some(id)) => out.push(id),
            (status, _) => {
                return Err(ApiError::Conflict(format!(
                    "{field}: media {h} is not ready (status: {status})"
                )))
            }
        }
    }
    Ok(out)
}

/// Get Upload Status's answer.
pub fn status_json(h: &Handle) -> Value {
    let mut v = json!({"status": h.status, "prefixed_id": h.id});
    match h.status.as_str() {
        COMPLETED => {
            v["file_name"] = json!(h.file_name);
            v["media_id"] = json!(h.media_id);
            v["media"] = h.media.clone().unwrap_or(Value::Null);
        }
        FAILED => v["error"] = json!(h.error),
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::upload_cost;

    #[test]
    fn upload_cost_is_per_megabyte_rounded_up() {
        assert_eq!(upload_cost(5_000, 6), 1);
        assert_eq!(upload_cost(1_000_000, 6), 6);
        assert_eq!(upload_cost(1_000_001, 6), 7);
        assert_eq!(upload_cost(100 * 1024 * 1024, 6), 630);
        assert_eq!(upload_cost(10, 0), 1);
    }
}
