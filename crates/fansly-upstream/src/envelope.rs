//! Fansly's answers on the wire: the `{success, response}` envelope and its
//! error form, mapped to [`UpstreamError`], and the `Retry-After` header.
//!
//! A successful answer's `response` is kept as its raw JSON text
//! ([`RawValue`]): a caller that passes it on unchanged (Get User Details
//! today) never pays for a parsed tree, and one that reads it parses it once
//! ([`FromResponse`]).

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::UpstreamError;

/// What a caller takes Fansly's `response` as: a parsed [`Value`] to read,
/// or the raw JSON text (`Box<RawValue>`) to hand on as it came.
pub trait FromResponse: Sized {
    fn from_response(raw: Box<RawValue>) -> Result<Self, UpstreamError>;
}

impl FromResponse for Box<RawValue> {
    fn from_response(raw: Box<RawValue>) -> Result<Self, UpstreamError> {
        Ok(raw)
    }
}

impl FromResponse for Value {
    fn from_response(raw: Box<RawValue>) -> Result<Self, UpstreamError> {
        // Cannot fail: the text was checked as JSON when the envelope was read.
        serde_json::from_str(raw.get())
            .map_err(|e| UpstreamError::Protocol(format!("Fansly's response: {e}")))
    }
}

/// The success envelope, read without parsing `response`.
#[derive(Deserialize)]
struct Success<'a> {
    success: Option<bool>,
    #[serde(borrow)]
    response: Option<&'a RawValue>,
}

/// `{success: true, response}` → `response` as raw JSON text;
/// `{success: false, error}` and non-2xx statuses → typed errors.
pub(crate) fn decode_envelope(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<Box<RawValue>, UpstreamError> {
    if status.is_success() {
        if let Ok(Success {
            success: Some(true),
            response,
        }) = serde_json::from_slice(body)
        {
            // Some writes (`/message/ack`) answer a bare `{"success": true}`.
            return Ok(response.map_or_else(null, ToOwned::to_owned));
        }
    }
    // Errors, and anything the strict read above refused (a duplicated key,
    // say), go through the tree-building reading.
    let value = decode_tree(status, retry_after, body)?;
    serde_json::value::to_raw_value(&value)
        .map_err(|e| UpstreamError::Protocol(format!("Fansly's response: {e}")))
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).expect("null is JSON")
}

/// [`decode_envelope`] by a parsed tree: the error forms.
fn decode_tree(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<Value, UpstreamError> {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(UpstreamError::RateLimited { retry_after });
    }
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let (code, details) = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .map(|e| {
            let code = e.get("code").and_then(Value::as_i64);
            let details = e
                .get("details")
                .or_else(|| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            (code, details)
        })
        // A body that is not Fansly's JSON error is never quoted: behind a
        // proxy it may be any service's page, and error text reaches clients.
        .unwrap_or_else(|| (None, foreign_body(body)));
    // Only 401 says the session is dead (public clients re-login on 401
    // alone); a 403 is Fansly refusing this one request, reported as `Api`
    // so the session is neither renewed nor marked for reconnecting.
    if status == StatusCode::UNAUTHORIZED {
        return Err(UpstreamError::Unauthorized {
            status: status.as_u16(),
            details,
        });
    }
    let Some(Value::Object(mut envelope)) = parsed else {
        if status.is_success() {
            return Err(UpstreamError::Protocol(format!(
                "HTTP {status} with a body that is not a JSON object ({})",
                foreign_body(body)
            )));
        }
        return Err(UpstreamError::Api {
            status: status.as_u16(),
            code: None,
            details,
        });
    };
    let success = envelope.get("success").and_then(Value::as_bool) == Some(true);
    if status.is_success() && success {
        // Reached only for a body the strict read above refused.
        return Ok(envelope.remove("response").unwrap_or(Value::Null));
    }
    Err(UpstreamError::Api {
        status: status.as_u16(),
        code,
        details,
    })
}

/// `Retry-After` in seconds or as an HTTP date (Fansly sends either).
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate_to_unix(raw)?;
    let now = crate::session::unix_ms() / 1000;
    Some(Duration::from_secs(when.saturating_sub(now).max(0) as u64))
}

/// Parses the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), the only one
/// servers are allowed to send.
fn httpdate_to_unix(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: i64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// Describes a body that is not Fansly's JSON by its size only; its text is
/// logged at debug level for the operator, never handed on.
fn foreign_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let excerpt: String = text.trim().chars().take(200).collect();
    tracing::debug!(body = %excerpt, "upstream answered a body that is not Fansly's JSON");
    format!("an answer that is not Fansly's JSON, {} bytes", body.len())
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn unwraps_success_envelope() {
        let v = decode_envelope(
            StatusCode::OK,
            None,
            br#"{"success":true,"response":"abc"}"#,
        );
        assert_eq!(v.unwrap().get(), r#""abc""#);
        let bare = decode_envelope(StatusCode::OK, None, br#"{"success":true}"#);
        assert_eq!(bare.unwrap().get(), "null");
        // The raw text is `response` as Fansly wrote it, and reads as the tree would.
        let body = br#"{"response":[{"id":"1","n":1.5e3,"s":"a\"b"}],"success":true}"#;
        let raw = decode_envelope(StatusCode::OK, None, body).unwrap();
        assert_eq!(raw.get(), r#"[{"id":"1","n":1.5e3,"s":"a\"b"}]"#);
        let tree: Value = serde_json::from_slice::<Value>(body).unwrap()["response"].clone();
        assert_eq!(Value::from_response(raw).unwrap(), tree);
        // A duplicated key still reads as before (the last one wins).
        let dup = decode_envelope(
            StatusCode::OK,
            None,
            br#"{"success":false,"success":true,"response":1}"#,
        );
        assert_eq!(dup.unwrap().get(), "1");
        let refused = decode_envelope(
            StatusCode::OK,
            None,
            br#"{"success":false,"error":{"code":1,"details":"no"}}"#,
        );
        assert!(matches!(
            refused,
            Err(UpstreamError::Api { status: 200, .. })
        ));
    }

    #[test]
    fn carries_fansly_error_details() {
        let e = decode_envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            br#"{"success":false,"error":{"code":500,"details":"error getting group"}}"#,
        )
        .unwrap_err();
        match e {
            UpstreamError::Api {
                status,
                code,
                details,
            } => {
                assert_eq!(
                    (status, code, details.as_str()),
                    (500, Some(500), "error getting group")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn plain_text_404_and_auth_failures() {
        let e = decode_envelope(StatusCode::NOT_FOUND, None, b"not found").unwrap_err();
        assert!(
            matches!(e, UpstreamError::Api { status: 404, ref details, .. } if !details.contains("not found") && details.contains("9 bytes")),
            "{e:?}"
        );
        let e = decode_envelope(
            StatusCode::NOT_IMPLEMENTED,
            None,
            b"<!DOCTYPE HTML><p>internal</p>",
        )
        .unwrap_err();
        assert!(!e.to_string().contains("internal"), "{e}");
        let e = decode_envelope(StatusCode::UNAUTHORIZED, None, b"{}").unwrap_err();
        assert!(matches!(e, UpstreamError::Unauthorized { status: 401, .. }));
        // 403 refuses one request, not the session: no re-login.
        let e = decode_envelope(
            StatusCode::FORBIDDEN,
            None,
            br#"{"success":false,"error":{"code":403,"details":"not allowed"}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, UpstreamError::Api { status: 403, ref details, .. } if details == "not allowed"),
            "{e:?}"
        );
        let e = decode_envelope(StatusCode::OK, None, b"<html>").unwrap_err();
        assert!(matches!(e, UpstreamError::Protocol(_)));
    }

    #[test]
    fn retry_after_in_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        assert_eq!(
            httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
    }
}
