//! Query-string validation shared by every endpoint: limits, offsets, ISO 8601
//! dates and windows, with 422 messages that name the parameter.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use fansly_upstream::{Page, Window};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::core::error::ApiError;
use crate::core::ids::FanslyId;
use crate::core::time::DAY_MS;

/// The query string, in order. Never rejects: each accessor validates its
/// own parameter, so every complaint names what was wrong.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default();
        Ok(Params(
            url::form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

fn invalid(msg: String) -> ApiError {
    ApiError::Unprocessable(msg)
}

impl Params {
    #[cfg(test)]
    fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// The last non-blank value of `name`, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The one value of `name`, trimmed, blank included (so a typed parser
    /// refuses `?before=`); a repeated parameter is a 422. For the gateway's
    /// own routes, whose document types each parameter as one value.
    pub fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.trim());
        if values.next().is_some() {
            return Err(invalid(format!("{name} is given more than once")));
        }
        Ok(first)
    }

    /// [`Self::one`] for an integer in `min..=max` (default when absent).
    pub fn one_integer(
        &self,
        name: &str,
        default: u32,
        min: u32,
        max: u32,
    ) -> Result<u32, ApiError> {
        match self.one(name)? {
            None => Ok(default),
            Some("") => Err(invalid(format!(
                "{name} is empty: give a number or leave it out"
            ))),
            raw => bounded(name, raw, default, min, max),
        }
    }

    /// Every non-blank value of `name`, trimmed, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }

    fn integer(&self, name: &str, default: u32, min: u32, max: u32) -> Result<u32, ApiError> {
        bounded(name, self.get(name), default, min, max)
    }

    /// `limit` (1–`max`, default `default`) and `offset` (≥ 0, default 0).
    pub fn page(&self, default: u32, max: u32) -> Result<Page, ApiError> {
        Ok(Page {
            limit: self.integer("limit", default, 1, max)?,
            // Documented (and checked) as a 32-bit integer.
            offset: self.integer("offset", 0, 0, i32::MAX as u32)?,
        })
    }

    /// One of `allowed` (case-insensitive), or `default` when absent.
    pub fn choice<'a>(
        &self,
        name: &str,
        allowed: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(raw))
            .copied()
            .ok_or_else(|| {
                invalid(format!(
                    "{name} must be one of {}, got {raw:?}",
                    allowed.join(", ")
                ))
            })
    }

    /// An optional Fansly id (a string of digits).
    pub fn snowflake(&self, name: &str) -> Result<Option<FanslyId>, ApiError> {
        self.get(name)
            .map(|id| FanslyId::parse(name, id))
            .transpose()
    }

    /// An optional ISO 8601 instant: RFC 3339 (`2026-06-03T23:59:59Z`) or a
    /// bare date (midnight UTC), as Unix ms.
    pub fn instant_ms(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|raw| parse_instant(name, raw))
            .transpose()
    }

    /// `after`/`before` as a window; absent ends get the defaults (given `now`
    /// in ms). `after` must not be later than `before`.
    pub fn window(
        &self,
        default_after: impl FnOnce(i64) -> i64,
        now_ms: i64,
    ) -> Result<Window, ApiError> {
        let before_ms = self.instant_ms("before")?.unwrap_or(now_ms);
        let after_ms = match self.instant_ms("after")? {
            Some(a) => a,
            None => default_after(before_ms.min(now_ms)).min(before_ms),
        };
        if after_ms > before_ms {
            return Err(invalid("after must not be later than before".to_owned()));
        }
        Ok(Window {
            after_ms,
            before_ms,
        })
    }
}

/// An integer parameter from `min` to `max`; absent or blank means `default`.
fn bounded(
    name: &str,
    raw: Option<&str>,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    raw.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            if max == u32::MAX {
                invalid(format!(
                    "{name} must be an integer of at least {min}, got {raw:?}"
                ))
            } else {
                invalid(format!(
                    "{name} must be between {min} and {max}, got {raw:?}"
                ))
            }
        })
}

/// `limit` from 1 to `max` (default `default`), for typed query structs.
pub fn limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    bounded("limit", raw, default, 1, max)
}

/// `offset` of 0 or more (default 0), for typed query structs.
pub fn offset(raw: Option<&str>) -> Result<u32, ApiError> {
    bounded("offset", raw, 0, 0, i32::MAX as u32)
}

/// `mediaFiles` of a body: at most `max` `fansly_media_` handles (resolved
/// against the team's uploads later, by `media::vault_ids`).
pub fn media_files(handles: &[String], max: usize) -> Result<(), ApiError> {
    if handles.len() > max {
        return Err(invalid(format!("mediaFiles holds more than {max} files")));
    }
    match handles.iter().find(|m| !crate::core::ids::is_media_id(m)) {
        Some(bad) => Err(invalid(format!(
            "mediaFiles: {bad:?} is not a fansly_media_ id"
        ))),
        None => Ok(()),
    }
}

/// A default window start: `days` before the end.
pub fn days_before(days: i64) -> impl FnOnce(i64) -> i64 {
    move |end| end - days * DAY_MS
}

/// A default window start: 1 January (UTC) of the current year.
pub fn start_of_year(now_ms: i64) -> i64 {
    let year =
        OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000)).map_or(1970, |t| t.year());
    Date::from_calendar_date(year, time::Month::January, 1)
        .map_or(0, |d| d.midnight().assume_utc().unix_timestamp() * 1000)
}

/// 1970-01-01T00:00:00Z: Fansly takes dates as Unix time and refuses those
/// before the epoch (`0000-01-01`, `1900-01-01`) with an error the client
/// would otherwise see as a 502. Wide "all time" windows (`2000-01-01`)
/// stay valid.
pub const EARLIEST_MS: i64 = 0;

/// The range Fansly accepts for a date parameter: from [`EARLIEST_MS`] to a
/// day after now; a 422 naming `name` otherwise.
pub fn in_fansly_range(name: &str, raw: &str, ms: i64) -> Result<i64, ApiError> {
    let latest = crate::core::time::now_ms() + DAY_MS;
    if (EARLIEST_MS..=latest).contains(&ms) {
        Ok(ms)
    } else {
        Err(invalid(format!(
            "{name} must be between 1970-01-01 and tomorrow (what Fansly accepts), got {raw:?}"
        )))
    }
}

/// An ISO 8601 instant from a body field (as the query's `after`/`before`).
pub fn instant(name: &str, raw: &str) -> Result<i64, ApiError> {
    parse_instant(name, raw)
}

fn parse_instant(name: &str, raw: &str) -> Result<i64, ApiError> {
    let parsed = OffsetDateTime::parse(raw, &Rfc3339).ok().or_else(|| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(raw, &format)
            .ok()
            .map(|d| d.midnight().assume_utc())
    });
    let ms = parsed
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .ok_or_else(|| {
            invalid(format!(
                "{name} must be an ISO 8601 date-time such as 2026-06-03T23:59:59Z, got {raw:?}"
            ))
        })?;
    in_fansly_range(name, raw, ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_params_refuse_repeats_and_typed_blanks() {
        let p = Params::from_pairs(&[("limit", ""), ("route", ""), ("x", "1"), ("x", "2")]);
        assert!(p
            .one("x")
            .unwrap_err()
            .to_string()
            .contains("more than once"));
        assert_eq!(p.one("route").unwrap(), Some(""));
        assert_eq!(p.one("absent").unwrap(), None);
        assert!(p.one_integer("limit", 5, 1, 10).is_err());
        assert_eq!(p.one_integer("absent", 5, 1, 10).unwrap(), 5);
    }

    #[test]
    fn limits_offsets_and_dates_name_the_parameter() {
        let page_error = |pairs: &[(&str, &str)]| {
            let p = Params::from_pairs(pairs);
            p.page(10, 100).unwrap_err().to_string()
        };
        let window_error = |pairs: &[(&str, &str)]| {
            let p = Params::from_pairs(pairs);
            p.window(|n| n, 0).unwrap_err().to_string()
        };
        let all = [("limit", "0"), ("offset", "-1"), ("before", "yesterday")];
        assert!(page_error(&all).contains("limit must be between 1 and 100"));
        assert!(page_error(&[("offset", "-1")]).starts_with("offset"));
        assert!(window_error(&[("before", "yesterday")]).starts_with("before"));
        let reversed = [("after", "2026-02-01"), ("before", "2026-01-01T00:00:00Z")];
        assert!(window_error(&reversed).contains("after"));
    }

    #[test]
    fn parses_rfc3339_and_bare_dates() {
        let p = Params::from_pairs(&[
            ("after", "2026-01-01"),
            ("before", "2026-01-02T00:00:00+01:00"),
        ]);
        let w = p.window(|n| n, i64::MAX).unwrap();
        assert_eq!(w.after_ms, 1_767_225_600_000);
        assert_eq!(w.before_ms, 1_767_225_600_000 + 86_400_000 - 3_600_000);
        let p = Params::default();
        let w = p.window(|now| now - 5, 100).unwrap();
        assert_eq!((w.after_ms, w.before_ms), (95, 100));
    }
}
