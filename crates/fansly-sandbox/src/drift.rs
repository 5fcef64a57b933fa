//! Protocol drift the sandbox can be told to show, so the gateway's drift
//! guard is tested end to end: a rotated check key (required from then on
//! and served in the sandbox's own copy of the web app, its HTML and
//! `main.<hash>.js`), a field dropped from one route's answers, a route gone
//! (Fansly's plain-text 404). Steered by `POST/DELETE /_sandbox/drift`
//! (`drift_api.rs`); applied by `control::intercept`.

use serde_json::Value;

#[derive(Clone, Debug, Default)]
pub struct Drift {
    /// The check key Fansly's web app carries now (`None`: the configured one).
    pub check_key: Option<String>,
    /// (path, field): answers on `path` lose `field` wherever it appears.
    pub dropped: Vec<(String, String)>,
    /// Paths answered with the plain-text 404 of an unknown route.
    pub gone: Vec<String>,
}

impl Drift {
    pub fn is_gone(&self, path: &str) -> bool {
        self.gone.iter().any(|p| p == path)
    }

    /// The fields to drop from `path`'s answers.
    pub fn dropped_on(&self, path: &str) -> Vec<String> {
        self.dropped
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

/// Removes `field` from every object inside `v`.
pub fn drop_field(v: &mut Value, field: &str) {
    match v {
        Value::Object(map) => {
            map.remove(field);
            for child in map.values_mut() {
                drop_field(child, field);
            }
        }
        Value::Array(items) => {
            for child in items {
                drop_field(child, field);
            }
        }
        _ => {}
    }
}

/// The bundle's file name for a key: changes with every rotation, as a
/// redeploy renames Fansly's `main.<hash>.js`.
pub fn main_js_name(key: &str) -> String {
    format!(
        "main.{:x}.js",
        fansly_upstream::check::cyrb53(key, 7) & 0xffff_ffff
    )
}

/// The web app's start page: the script tags of its bundle, as public
/// clients find `main.<hash>.js` in it.
pub fn web_app_html(key: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Fansly</title>\
         <base href=\"/\"></head><body><app-root></app-root>\
         <script src=\"runtime.3f1e2a.js\" type=\"module\"></script>\
         <script src=\"polyfills.9c4d1b.js\" type=\"module\"></script>\
         <script src=\"{}\" type=\"module\"></script></body></html>",
        main_js_name(key)
    )
}

/// A minified bundle with the interceptor's constructor in it, written the
/// way current builds write it (spec §2.2): a first assignment of an older
/// key, then the effective one built from fragments (two reversed and
/// joined with `-`, plus a suffix) when the key has three dash-separated
/// parts, else a plain literal.
pub fn main_js(key: &str) -> String {
    let parts: Vec<&str> = key.split('-').collect();
    let effective = match parts.as_slice() {
        [a, b, c] => format!("[\"{b}\",\"{a}\"].reverse().join(\"-\")+\"-{c}\""),
        _ => format!("\"{key}\""),
    };
    format!(
        "(self.webpackChunkfansly=self.webpackChunkfansly||[]).push([[179],{{4521:(e,t,n)=>{{\
         class r{{constructor(e,t){{this.http=e,this.deviceService=t,\
         this.checkKey_=\"oybZy8-fySzis-bubayf\",this.cachedChecks_={{}},\
         this.checkKey_={effective},this.ts_=0}}}}n.d(t,{{K:()=>r}})}}}}]);"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_a_field_at_any_depth() {
        let mut v = serde_json::json!([{"id": "1", "username": "a", "x": {"username": "b"}}]);
        drop_field(&mut v, "username");
        assert_eq!(v, serde_json::json!([{"id": "1", "x": {}}]));
    }

    #[test]
    fn the_bundle_names_change_with_the_key() {
        assert_ne!(main_js_name("a-b-c"), main_js_name("a-b-d"));
        assert!(web_app_html("a-b-c").contains(&main_js_name("a-b-c")));
        assert!(main_js("necvac-govry3-tybkYz")
            .contains("[\"govry3\",\"necvac\"].reverse().join(\"-\")+\"-tybkYz\""));
    }
}
