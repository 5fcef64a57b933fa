//! Looking up Fansly users by username or id.

use fansly_upstream::ids::is_snowflake;
use fansly_upstream::FanslyClient;
use serde_json::value::RawValue;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::fansly::answers::upstream;

/// Fansly answers lookups in batches of at most 100 (spec §5.1).
pub const MAX_LOOKUP: usize = 100;

/// Splits a comma-separated list of usernames, dropping blanks and repeats.
pub fn parse_usernames(raw: &str) -> Result<Vec<String>, ApiError> {
    let not = "a valid Fansly username (letters, digits, '_', '-', '.'; at most 64)";
    lookup_list(raw, "usernames", "username", valid_username, not)
}

/// Splits a comma-separated list of Fansly account ids.
pub fn parse_ids(raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let not = "a Fansly account id (a string of digits)";
    lookup_list(
        raw.unwrap_or_default(),
        "ids",
        "Fansly account id",
        is_snowflake,
        not,
    )
}

/// The comma-separated items of the parameter `field`, blanks and repeats
/// dropped: 1 to [`MAX_LOOKUP`] of them, each `valid` (a 422 naming `field`
/// otherwise: `one` is what an item is, `not` what a bad one is not).
fn lookup_list(
    raw: &str,
    field: &str,
    one: &str,
    valid: fn(&str) -> bool,
    not: &str,
) -> Result<Vec<String>, ApiError> {
    let items = dedup(raw.split(',').map(str::trim).filter(|s| !s.is_empty()));
    if items.is_empty() {
        return Err(ApiError::Unprocessable(format!(
            "{field}: give at least one {one}"
        )));
    }
    if items.len() > MAX_LOOKUP {
        return Err(ApiError::Unprocessable(format!(
            "{field}: at most {MAX_LOOKUP} {field} per lookup, got {}",
            items.len()
        )));
    }
    if let Some(bad) = items.iter().find(|item| !valid(item)) {
        return Err(ApiError::Unprocessable(format!(
            "{field}: {bad:?} is not {not}"
        )));
    }
    Ok(items)
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .filter(|s| seen.insert(s.to_ascii_lowercase()))
        .map(str::to_owned)
        .collect()
}

fn valid_username(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

pub enum Lookup {
    Usernames(Vec<String>),
    Ids(Vec<String>),
}

/// The accounts Fansly knows among those asked for, as Fansly renders them:
/// its `response` passed on as the raw text it came as (only its outer
/// shape is read here). None found is a 404 naming what was asked.
#[tracing::instrument(skip_all, fields(op = "users.lookup", account = %account.id))]
pub async fn lookup(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    what: Lookup,
) -> Result<Box<RawValue>, ApiError> {
    let (Lookup::Usernames(asked) | Lookup::Ids(asked)) = &what;
    let found: Box<RawValue> = match &what {
        Lookup::Usernames(names) => fansly.accounts_by_usernames(&account.session, names).await,
        Lookup::Ids(ids) => fansly.accounts_by_ids(&account.session, ids).await,
    }
    .map_err(upstream(account))?;
    match list_shape(found.get()) {
        None => Err(ApiError::BadGateway(
            "Fansly answered the account lookup with something other than a list".into(),
        )),
        Some(Shape::Empty) => {
            let kind = match what {
                Lookup::Usernames(_) => "named",
                Lookup::Ids(_) => "with id",
            };
            Err(ApiError::NotFound(format!(
                "no Fansly user {kind} {}",
                asked.join(", ")
            )))
        }
        Some(Shape::Rows) => Ok(found),
    }
}

enum Shape {
    Empty,
    Rows,
}

/// Whether JSON text (known to be valid JSON) is an array, and an empty one.
fn list_shape(json: &str) -> Option<Shape> {
    let inside = json.trim_start().strip_prefix('[')?;
    Some(if inside.trim_start().starts_with(']') {
        Shape::Empty
    } else {
        Shape::Rows
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_deduplicated_and_checked() {
        assert_eq!(
            parse_usernames(" fan1, Fan1 ,fan2,,").unwrap(),
            vec!["fan1", "fan2"]
        );
        assert!(parse_usernames(" , ").is_err());
        let err = parse_usernames("fan1,bad name").unwrap_err().to_string();
        assert!(err.contains("\"bad name\""), "{err}");
        let many = (0..=MAX_LOOKUP)
            .map(|i| format!("u{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_usernames(&many).is_err());
    }

    #[test]
    fn a_list_is_told_from_an_empty_one_and_from_a_non_list() {
        assert!(matches!(list_shape(" [ \n ] "), Some(Shape::Empty)));
        assert!(matches!(list_shape("[{\"id\":\"1\"}]"), Some(Shape::Rows)));
        assert!(matches!(list_shape("[[]]"), Some(Shape::Rows)));
        assert!(list_shape("{\"0\":[]}").is_none());
        assert!(list_shape("null").is_none());
    }

    #[test]
    fn ids_must_be_snowflakes() {
        assert_eq!(parse_ids(Some("1,2,1")).unwrap(), vec!["1", "2"]);
        assert!(parse_ids(None).is_err());
        assert!(parse_ids(Some("12x"))
            .unwrap_err()
            .to_string()
            .contains("12x"));
    }
}
