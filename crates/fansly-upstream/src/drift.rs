//! The protocol-drift guard's bookkeeping: the small schemas of the fields
//! the gateway and its clients rely on per Fansly route, the check of an
//! answer against them, and the record of every drift seen (per account,
//! route and kind), counted as `fansly_gateway_upstream_drift_total{route,
//! kind}` and logged once per period per route and kind. The client
//! (`client.rs`) and the socket (`ws.rs`) report here; the gateway shows
//! [`DriftLog::for_account`] on List Accounts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::error::UpstreamError;

pub(crate) const DRIFT: &str = "fansly_gateway_upstream_drift_total";

/// A logged drift is logged again for the same route and kind only after this.
const LOG_EVERY: Duration = Duration::from_secs(600);

/// The kinds of drift, as the metric's `kind` label and List Accounts show them.
pub mod kind {
    /// A field the gateway relies on is absent.
    pub const MISSING_FIELD: &str = "missing_field";
    /// A field has another JSON type than before.
    pub const WRONG_TYPE: &str = "wrong_type";
    /// A time is in other units (seconds where milliseconds were, or back).
    pub const TIME_UNIT: &str = "time_unit";
    /// A route the client uses answered Fansly's plain-text 404 of an unknown route.
    pub const GONE: &str = "gone";
    /// Fansly refused the request's `fansly-client-check` (a rotated key).
    pub const CHECK_KEY: &str = "check_key_rejected";
    /// A websocket frame of a type or service the client does not know.
    pub const UNKNOWN_FRAME: &str = "unknown_frame";
    /// A binary websocket frame (Fansly sends text).
    pub const BINARY_FRAME: &str = "binary_frame";
}

#[derive(Clone, Copy)]
enum Want {
    Str,
    Num,
    Arr,
    Obj,
    /// Unix seconds (Fansly's message and media times).
    Seconds,
}

/// One route's schema: (method, route template, [(field path, type)]).
type Schema = (&'static str, &'static str, &'static [(&'static str, Want)]);

/// Every route's schema. A path's `[]` means
/// every element of that array; an empty array has nothing to check. Only
/// what the gateway reads or its clients are documented to get: a field
/// Fansly adds never counts, one it drops or retypes does.
const SCHEMAS: &[Schema] = &[
    (
        "GET",
        "/api/v1/account/me",
        &[
            ("account", Want::Obj),
            ("account.id", Want::Str),
            ("account.username", Want::Str),
        ],
    ),
    (
        "GET",
        "/api/v1/account",
        &[("[].id", Want::Str), ("[].username", Want::Str)],
    ),
    (
        "GET",
        "/api/v1/messaging/groups",
        &[("data", Want::Arr), ("aggregationData", Want::Obj)],
    ),
    (
        "GET",
        "/api/v1/message",
        &[
            ("messages", Want::Arr),
            ("messages.[].id", Want::Str),
            ("messages.[].senderId", Want::Str),
            ("messages.[].createdAt", Want::Seconds),
        ],
    ),
    (
        "POST",
        "/api/v1/message",
        &[("id", Want::Str), ("createdAt", Want::Seconds)],
    ),
    (
        "GET",
        "/api/v1/vault/albumsnew",
        &[("[].id", Want::Str), ("[].type", Want::Num)],
    ),
];

/// How `answer` of `method route` differs from its schema: the first
/// mismatch per field, as (field path, kind). Routes without a schema pass.
pub fn check(method: &str, route: &str, answer: &Value) -> Vec<(String, &'static str)> {
    let Some((_, _, fields)) = SCHEMAS.iter().find(|(m, r, _)| *m == method && *r == route) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (path, want) in fields.iter() {
        let parts: Vec<&str> = path.split('.').collect();
        if let Some(kind) = check_path(answer, &parts, *want) {
            out.push(((*path).to_owned(), kind));
        }
    }
    out
}

/// The schema of `method route` (its index), if it has one.
pub(crate) fn schema_of(method: &str, route: &str) -> Option<usize> {
    SCHEMAS
        .iter()
        .position(|(m, r, _)| *m == method && *r == route)
}

/// [`check`] on an answer's raw text: only the fields on the schema's paths
/// are read out of it (see [`Prune`]), so a route with a schema costs one
/// skim of the text instead of a whole tree, and a route without one nothing.
pub fn check_raw(method: &str, route: &str, answer: &RawValue) -> Vec<(String, &'static str)> {
    let Some((_, _, fields)) = schema_of(method, route).map(|i| &SCHEMAS[i]) else {
        return Vec::new();
    };
    let paths: Vec<Vec<&str>> = fields.iter().map(|(p, _)| p.split('.').collect()).collect();
    let suffixes: Vec<&[&str]> = paths.iter().map(Vec::as_slice).collect();
    let mut de = serde_json::Deserializer::from_str(answer.get());
    // The text was read as JSON already; if it somehow is not, nothing is
    // known about it and nothing is counted.
    let Ok(pruned) = Prune(&suffixes).deserialize(&mut de) else {
        return Vec::new();
    };
    check(method, route, &pruned)
}

/// Reads a JSON value keeping only what the given path suffixes reach: an
/// object keeps the keys that start a suffix, an array keeps its elements
/// when a suffix goes on with `[]`. Where every suffix has ended (a value a
/// schema checks the type of), the value is kept as its type alone: a
/// string emptied, an object or array with nothing below it left empty, a
/// number as it is (times are checked for their unit). [`check`] judges the
/// result exactly as it would judge the whole answer.
struct Prune<'p>(&'p [&'p [&'p str]]);

impl<'de> DeserializeSeed<'de> for Prune<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl Prune<'_> {
    /// The suffixes that go on after `head`.
    fn after(&self, head: &str) -> Vec<&[&str]> {
        self.0
            .iter()
            .filter_map(|p| p.split_first())
            .filter(|(h, _)| **h == head)
            .map(|(_, rest)| rest)
            .collect()
    }
}

impl<'de> Visitor<'de> for Prune<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::String(String::new()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let each = self.after("[]");
        let mut items = Vec::new();
        if each.is_empty() {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        } else {
            while let Some(item) = seq.next_element_seed(Prune(&each))? {
                items.push(item);
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(Wanted(self.0))? {
            match key {
                Some(key) => {
                    let below = self.after(&key);
                    let value = map.next_value_seed(Prune(&below))?;
                    kept.insert(key, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }
}

/// An object key, owned only when a suffix starts with it (`None` otherwise,
/// so skipped keys cost no allocation).
struct Wanted<'p>(&'p [&'p [&'p str]]);

impl<'de> DeserializeSeed<'de> for Wanted<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<String>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Wanted<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Option<String>, E> {
        let wanted = self.0.iter().any(|p| p.first() == Some(&key));
        Ok(wanted.then(|| key.to_owned()))
    }
}

fn check_path(v: &Value, path: &[&str], want: Want) -> Option<&'static str> {
    let Some((head, rest)) = path.split_first() else {
        return check_value(v, want);
    };
    if *head == "[]" {
        let items = v.as_array()?;
        return items.iter().find_map(|item| check_path(item, rest, want));
    }
    match v.get(*head) {
        None | Some(Value::Null) => Some(kind::MISSING_FIELD),
        Some(child) => check_path(child, rest, want),
    }
}

fn check_value(v: &Value, want: Want) -> Option<&'static str> {
    let ok = match want {
        Want::Str => v.is_string(),
        Want::Num => v.is_number(),
        Want::Arr => v.is_array(),
        Want::Obj => v.is_object(),
        Want::Seconds => {
            let Some(n) = v.as_f64() else {
                return Some(kind::WRONG_TYPE);
            };
            // Seconds of this century are below 1e11; milliseconds above.
            return (n >= 1e11).then_some(kind::TIME_UNIT);
        }
    };
    (!ok).then_some(kind::WRONG_TYPE)
}

/// What a failed request says about drift: a plain-text 404 (Fansly's
/// unknown route) on a route the client uses, or a check-key refusal.
pub(crate) fn error_kind(e: &UpstreamError) -> Option<&'static str> {
    match e {
        UpstreamError::Api {
            status: 404,
            code: None,
            ..
        } => Some(kind::GONE),
        e if is_check_key_refusal(e) => Some(kind::CHECK_KEY),
        _ => None,
    }
}

/// Fansly refusing the `fansly-client-check` digest: a 400 whose details
/// name the header. INFERRED (no public capture shows Fansly refusing a
/// digest; public clients see no enforcement today, spec §2.2): the shape
/// is the sandbox's, which answers bad parameters the way Fansly does.
pub(crate) fn is_check_key_refusal(e: &UpstreamError) -> bool {
    matches!(e, UpstreamError::Api { status: 400, details, .. } if details.contains("client-check"))
}

#[derive(Clone, Debug)]
struct Seen {
    count: u64,
    last_ms: i64,
    field: Option<String>,
}

/// Every drift seen since the process started, per (account, route, kind).
pub struct DriftLog {
    seen: Mutex<HashMap<(String, String, &'static str), Seen>>,
    logged: Mutex<HashMap<(String, &'static str), Instant>>,
    /// Per schema (index into `SCHEMAS`): when its next answer is checked,
    /// in ms since `born` ([`DriftLog::due`]).
    next_check: Box<[AtomicU64]>,
    born: Instant,
}

impl Default for DriftLog {
    fn default() -> Self {
        DriftLog {
            seen: Mutex::default(),
            logged: Mutex::default(),
            next_check: SCHEMAS.iter().map(|_| AtomicU64::new(0)).collect(),
            born: Instant::now(),
        }
    }
}

impl DriftLog {
    /// Whether this answer of schema `index` is checked. Each schema's
    /// answers are checked at most once per `every` (zero: every answer),
    /// so checking costs a bounded amount whatever the load: a check reads
    /// the whole answer a second time, which was a tenth of a call's CPU at
    /// full load (BENCHMARKS.md, issue 12). A route that drifts drifts for
    /// every later answer, so it is seen within `every` of its traffic; a
    /// drift in only some answers of a busy route is seen in proportion.
    pub(crate) fn due(&self, index: usize, every: Duration) -> bool {
        if every.is_zero() {
            return true;
        }
        let Some(slot) = self.next_check.get(index) else {
            return false;
        };
        let now = self.born.elapsed().as_millis() as u64;
        let next = slot.load(Ordering::Relaxed);
        // One caller wins the slot; the others skip this period.
        now >= next
            && slot
                .compare_exchange(
                    next,
                    now.saturating_add(every.as_millis() as u64),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Counts one drift (`account` `None` for calls outside any account,
    /// such as the web app fetch), in the metric and on the account, and
    /// logs it unless the same route and kind was logged within the period.
    pub fn record(
        &self,
        account: Option<&str>,
        route: &str,
        kind: &'static str,
        field: Option<&str>,
    ) {
        metrics::counter!(DRIFT, "route" => route.to_owned(), "kind" => kind).increment(1);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let entry = seen
                .entry((
                    account.unwrap_or_default().to_owned(),
                    route.to_owned(),
                    kind,
                ))
                .or_insert(Seen {
                    count: 0,
                    last_ms: now_ms,
                    field: None,
                });
            entry.count += 1;
            entry.last_ms = now_ms;
            entry.field = field.map(str::to_owned);
        }
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        let key = (route.to_owned(), kind);
        let due = logged.get(&key).is_none_or(|at| at.elapsed() >= LOG_EVERY);
        if due {
            logged.insert(key, Instant::now());
            tracing::warn!(
                route,
                kind,
                field,
                account,
                "Fansly's protocol drifted from what the gateway expects"
            );
        }
    }

    /// The account's drift, newest first: `[{route, kind, field, count,
    /// last_seen_ms}]`.
    pub fn for_account(&self, account: &str) -> Vec<Value> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<(&(String, String, &'static str), &Seen)> =
            seen.iter().filter(|((a, _, _), _)| a == account).collect();
        rows.sort_by(|a, b| b.1.last_ms.cmp(&a.1.last_ms).then(a.0.cmp(b.0)));
        rows.into_iter()
            .map(|((_, route, kind), s)| {
                json!({
                    "route": route,
                    "kind": kind,
                    "field": s.field,
                    "count": s.count,
                    "last_seen_ms": s.last_ms
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_field_a_retyped_one_and_a_time_unit_are_told_apart() {
        let good = json!({"messages": [{"id": "1", "senderId": "2", "createdAt": 1_776_225_990}]});
        assert!(check("GET", "/api/v1/message", &good).is_empty());
        let dropped = json!([{"id": "1"}]);
        assert_eq!(
            check("GET", "/api/v1/account", &dropped),
            vec![("[].username".to_owned(), kind::MISSING_FIELD)]
        );
        let retyped = json!([{"id": 1, "username": "a"}]);
        assert_eq!(
            check("GET", "/api/v1/account", &retyped),
            vec![("[].id".to_owned(), kind::WRONG_TYPE)]
        );
        let millis =
            json!({"messages": [{"id": "1", "senderId": "2", "createdAt": 1_776_225_990_000_i64}]});
        assert_eq!(
            check("GET", "/api/v1/message", &millis),
            vec![("messages.[].createdAt".to_owned(), kind::TIME_UNIT)]
        );
        assert!(check("GET", "/api/v1/unknown", &json!(null)).is_empty());
    }

    /// The raw-text check finds exactly what the tree check finds, on
    /// answers that pass, drift, nest, repeat keys and carry what no schema reads.
    #[test]
    fn the_raw_check_judges_as_the_tree_check() {
        let cases = [
            (
                "GET",
                "/api/v1/account",
                r#"[{"id":"1","username":"a","bio":{"x":[1,2]}},{"id":"2","username":"b"}]"#,
            ),
            (
                "GET",
                "/api/v1/account",
                r#"[{"id":"1"},{"id":2,"username":"b"}]"#,
            ),
            ("GET", "/api/v1/account", r#"[{"id":"1","username":null}]"#),
            ("GET", "/api/v1/account", r#"{"id":"1"}"#),
            ("GET", "/api/v1/account", "[]"),
            (
                "GET",
                "/api/v1/account",
                r#"[{"id":"1","id":3,"username":"a"}]"#,
            ),
            (
                "GET",
                "/api/v1/account/me",
                r#"{"account":{"id":"1","username":"me","avatar":{"v":[{}]}}}"#,
            ),
            ("GET", "/api/v1/account/me", r#"{"account":[]}"#),
            ("GET", "/api/v1/account/me", r#"{"account":"x"}"#),
            (
                "GET",
                "/api/v1/messaging/groups",
                r#"{"data":[{"a":1}],"aggregationData":{"accounts":[]}}"#,
            ),
            (
                "GET",
                "/api/v1/messaging/groups",
                r#"{"data":{},"aggregationData":[]}"#,
            ),
            (
                "GET",
                "/api/v1/message",
                r#"{"messages":[{"id":"1","senderId":"2","createdAt":1776225990,"content":"hi \"there\""}]}"#,
            ),
            (
                "GET",
                "/api/v1/message",
                r#"{"messages":[{"id":"1","senderId":"2","createdAt":1776225990000}]}"#,
            ),
            (
                "GET",
                "/api/v1/message",
                r#"{"messages":[{"id":"1","senderId":"2","createdAt":1.7e9}]}"#,
            ),
            ("GET", "/api/v1/message", r#"{"messages":"none"}"#),
            (
                "POST",
                "/api/v1/message",
                r#"{"id":"1","createdAt":"1776225990"}"#,
            ),
            (
                "GET",
                "/api/v1/vault/albumsnew",
                r#"[{"id":"1","type":"1"}]"#,
            ),
            ("GET", "/api/v1/unknown", r#"{"anything":true}"#),
        ];
        for (method, route, text) in cases {
            let tree: Value = serde_json::from_str(text).unwrap();
            let raw = RawValue::from_string(text.to_owned()).unwrap();
            assert_eq!(
                check_raw(method, route, &raw),
                check(method, route, &tree),
                "{method} {route} {text}"
            );
        }
        let drifted = RawValue::from_string(r#"[{"id":1,"username":"a"}]"#.into()).unwrap();
        assert_eq!(
            check_raw("GET", "/api/v1/account", &drifted),
            vec![("[].id".to_owned(), kind::WRONG_TYPE)]
        );
    }

    #[test]
    fn drift_is_kept_per_account() {
        let log = DriftLog::default();
        log.record(
            Some("a"),
            "/api/v1/account",
            kind::MISSING_FIELD,
            Some("[].username"),
        );
        log.record(
            Some("a"),
            "/api/v1/account",
            kind::MISSING_FIELD,
            Some("[].username"),
        );
        log.record(Some("b"), "/api/v1/message", kind::GONE, None);
        let a = log.for_account("a");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0]["count"], 2);
        assert_eq!(a[0]["field"], "[].username");
        assert!(log.for_account("c").is_empty());
    }

    #[test]
    fn each_schema_is_checked_at_most_once_per_period_and_always_when_zero() {
        let log = DriftLog::default();
        let account = schema_of("GET", "/api/v1/account").expect("a schema");
        let other = (account + 1) % SCHEMAS.len();
        let every = Duration::from_secs(3600);
        assert!(log.due(account, every), "the first answer is checked");
        assert!(!log.due(account, every), "not again within the period");
        assert!(log.due(other, every), "another schema has its own period");
        assert!(log.due(account, Duration::ZERO), "zero: every answer");
        assert!(log.due(account, Duration::ZERO));
        assert!(!log.due(SCHEMAS.len(), every), "no such schema");
        // A period ended: the next answer is checked.
        log.next_check[account].store(0, Ordering::Relaxed);
        assert!(log.due(account, every));
    }
}
