//! The four-step upload on the media host (spec §8.4): create a session, PUT
//! each part to its presigned URL, complete with the ETags, poll until Fansly
//! has processed the file into a vault media.

use std::io::SeekFrom;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::client::FanslyClient;
use crate::error::{Answer, UpstreamError};
use crate::route::Route;
use crate::session::Session;

/// `status` of an upload session once its vault media exists (HUB-SPEC
/// §3.4: 0 unknown … 5 processing, 6 completed).
pub const UPLOAD_DONE: i64 = 6;

/// The vault media id of a finished upload's status answer, as public
/// clients read it: FBuddy takes `status >= 6` with `media.id` (HUB-FB), RU a
/// non-null `mediaId`. `None` while the upload is not finished.
pub fn finished_media_id(state: &Value) -> Option<String> {
    let id_of = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(id) = id_of(state.get("mediaId")) {
        return Some(id);
    }
    let status = state.get("status").and_then(Value::as_i64)?;
    (status >= UPLOAD_DONE)
        .then(|| id_of(state.get("media").and_then(|m| m.get("id"))))
        .flatten()
}

/// What `POST /media/upload/create` answers: one presigned URL per part.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadSession {
    pub id: String,
    pub part_size: u64,
    pub parts: Vec<UploadPart>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadPart {
    pub index: u32,
    pub upload_url: String,
}

/// A file on local disk to upload.
#[derive(Clone, Copy, Debug)]
pub struct UploadFile<'a> {
    pub path: &'a Path,
    pub size: u64,
    pub mime_type: &'a str,
    pub file_name: &'a str,
}

impl FanslyClient {
    /// Uploads `file` and waits (polling every `poll_every`, at most
    /// `give_up_after`) until Fansly has processed it; answers the final
    /// upload object (`mediaId` set). The file is streamed part by part,
    /// never held in memory.
    ///
    /// Traced as a `fansly.upload` span (DEBUG) around the steps' own spans;
    /// the file's path and name stay out of it.
    #[tracing::instrument(
        name = "fansly.upload",
        level = "debug",
        skip_all,
        fields(
            size = file.size,
            mime_type = file.mime_type,
            account = session.account(),
            fansly_id = session.fansly_id(),
        )
    )]
    pub async fn upload_file(
        &self,
        session: &Session,
        file: UploadFile<'_>,
        poll_every: Duration,
        give_up_after: Duration,
    ) -> Answer {
        let UploadFile {
            path,
            size,
            mime_type,
            file_name,
        } = file;
        let created = self
            .upload_create(session, size, mime_type, file_name)
            .await?;
        let mut etags = Vec::with_capacity(created.parts.len());
        for part in &created.parts {
            let offset = u64::from(part.index) * created.part_size;
            let len = created.part_size.min(size.saturating_sub(offset));
            let etag = self
                .put_part(session.route(), &part.upload_url, path, offset, len)
                .await?;
            etags.push(json!({"index": part.index, "eTag": etag}));
        }
        self.upload_complete(session, &created, etags).await?;
        let deadline = Instant::now() + give_up_after;
        loop {
            let state = self.upload_state(session, &created.id).await?;
            if let Some(media_id) = finished_media_id(&state) {
                // Callers read `mediaId`; fill it in when only `media` came.
                let mut state = state;
                if let Some(m) = state.as_object_mut() {
                    m.insert("mediaId".into(), Value::String(media_id));
                }
                return Ok(state);
            }
            if Instant::now() >= deadline {
                return Err(UpstreamError::Timeout(give_up_after));
            }
            tokio::time::sleep(poll_every).await;
        }
    }

    /// Step 1: `POST /api/v1/media/upload/create` with the web app's form inputs.
    pub async fn upload_create(
        &self,
        session: &Session,
        size: u64,
        mime_type: &str,
        file_name: &str,
    ) -> Result<UploadSession, UpstreamError> {
        let body = json!({
            "fileSize": size,
            "mimeType": mime_type,
            "fileName": file_name,
            "uploadFormData": {"formInputs": [
                {"type": 1001, "value": "false"},
                {"type": 1002, "value": "false"},
                {"type": 1003, "value": ""},
                {"type": 1004, "value": ""},
                {"type": 1005, "value": "\"\""}
            ]}
        });
        let base = self.config().media_base.clone();
        let answer = self
            .send_json_on(
                &base,
                session,
                Method::POST,
                "/api/v1/media/upload/create",
                &[],
                Some(&body),
            )
            .await?;
        let created: UploadSession = serde_json::from_value(answer)
            .map_err(|e| UpstreamError::Protocol(format!("upload session: {e}")))?;
        let expected = size.div_ceil(created.part_size.max(1)).max(1);
        if created.part_size == 0 || created.parts.len() as u64 != expected {
            return Err(UpstreamError::Protocol(format!(
                "upload session has {} parts of {} bytes for {size} bytes",
                created.parts.len(),
                created.part_size
            )));
        }
        Ok(created)
    }

    /// Step 2: PUT one part to its presigned URL, with no Fansly headers; the
    /// `ETag` comes back already quoted and is passed on as is. The presigned
    /// URL carries its signature in the query, so the span shows none of it.
    #[tracing::instrument(
        name = "fansly.request",
        level = "debug",
        skip_all,
        fields(method = "PUT", route = "(presigned upload part)", offset = offset, len = len)
    )]
    async fn put_part(
        &self,
        route: &Route,
        url: &str,
        path: &Path,
        offset: u64,
        len: u64,
    ) -> Result<String, UpstreamError> {
        let io = |e: std::io::Error| UpstreamError::Protocol(format!("reading the upload: {e}"));
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        file.seek(SeekFrom::Start(offset)).await.map_err(io)?;
        let body = reqwest::Body::wrap_stream(ReaderStream::new(file.take(len)));
        let resp = self
            .http_for(route)?
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(route, e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(UpstreamError::Api {
                status: status.as_u16(),
                code: None,
                details: format!("upload part rejected by the storage host (HTTP {status})"),
            });
        }
        resp.headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| UpstreamError::Protocol("upload part answered without an ETag".into()))
    }

    /// Step 3: `POST /api/v1/media/upload/complete` with every part's ETag.
    async fn upload_complete(
        &self,
        session: &Session,
        created: &UploadSession,
        parts: Vec<Value>,
    ) -> Answer {
        let body = json!({
            "id": created.id,
            "type": 1,
            "partSize": created.part_size,
            "status": 0,
            "parts": parts,
            "waitForComplete": 0
        });
        let base = self.config().media_base.clone();
        self.send_json_on(
            &base,
            session,
            Method::POST,
            "/api/v1/media/upload/complete",
            &[],
            Some(&body),
        )
        .await
    }

    /// Step 4: `GET /api/v1/media/upload/{id}`.
    pub async fn upload_state(&self, session: &Session, id: &str) -> Answer {
        let base = self.config().media_base.clone();
        self.send_json_on(
            &base,
            session,
            Method::GET,
            &format!("/api/v1/media/upload/{id}"),
            &[],
            None,
        )
        .await
    }
}
