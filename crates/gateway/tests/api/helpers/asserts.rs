//! Assertions on the gateway's answers: the error body, the JSON shape of a
//! response against an example, refusal tables, and reading one string
//! field of every item of a JSON array.

use reqwest::Response;
use serde_json::Value;

/// Asserts `{"error": "<non-empty message>"}` and `status`; returns the message.
pub async fn assert_error(resp: Response, status: u16) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    let body: Value = resp.json().await.expect("JSON error body");
    let obj = body.as_object().expect("error body is an object");
    let msg = obj
        .get("error")
        .and_then(Value::as_str)
        .expect("error body has an `error` string")
        .to_owned();
    assert!(!msg.is_empty());
    msg
}

/// Same keys and JSON types as `expected`, at every depth. Arrays are
/// compared element by element; elements beyond the example's are held to its
/// last element.
pub fn assert_same_shape(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let ek: Vec<&String> = e.keys().collect();
            let ak: Vec<&String> = a.keys().collect();
            let mut es = ek.clone();
            let mut as_ = ak.clone();
            es.sort();
            as_.sort();
            assert_eq!(es, as_, "keys differ at {path}");
            for (k, ev) in e {
                assert_same_shape(ev, &a[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.is_empty(), a.is_empty(), "emptiness differs at {path}");
            for (i, av) in a.iter().enumerate() {
                let ev = e.get(i).or_else(|| e.last()).unwrap();
                assert_same_shape(ev, av, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            assert_eq!(
                e.is_i64() || e.is_u64(),
                a.is_i64() || a.is_u64(),
                "integer vs float at {path}"
            );
        }
        (e, a) => assert_eq!(
            std::mem::discriminant(e),
            std::mem::discriminant(a),
            "type differs at {path}: expected like {e}, got {a}"
        ),
    }
}

/// [`assert_error`] whose message must mention `needle` (the field, id or
/// limit the refusal is about).
pub async fn assert_error_naming(resp: Response, status: u16, needle: impl AsRef<str>) {
    let msg = assert_error(resp, status).await;
    assert!(msg.contains(needle.as_ref()), "{msg}");
}

/// A request the gateway must refuse: method, path, JSON body, the status,
/// and a word the error message must contain (the parameter or id it names);
/// a leading `^` means the message must start with it (422s open with the
/// parameter's name).
pub type Refusal<'a> = (reqwest::Method, String, Option<Value>, u16, &'a str);

impl super::TestApp {
    /// Sends each refusal with the default team's key and checks its answer
    /// is the JSON error with that status, naming what it should.
    pub async fn assert_refusals(&self, cases: Vec<Refusal<'_>>) {
        for (method, path, body, status, needle) in cases {
            let resp = self.send(method.clone(), &path, body.as_ref()).await;
            assert_eq!(resp.status().as_u16(), status, "{method} {path}");
            let msg = assert_error(resp, status).await;
            match needle.strip_prefix('^') {
                Some(first) => assert!(msg.starts_with(first), "{method} {path}: {msg}"),
                None => assert!(msg.contains(needle), "{method} {path}: {msg}"),
            }
        }
    }
}

/// The `key` string of every item of the JSON array `items`, in order.
pub fn strs<'a>(items: &'a Value, key: &str) -> Vec<&'a str> {
    let items = items.as_array().expect("a JSON array");
    items.iter().map(|i| i[key].as_str().unwrap()).collect()
}

/// [`strs`], owned.
pub fn strings(items: &Value, key: &str) -> Vec<String> {
    strs(items, key).into_iter().map(str::to_owned).collect()
}
