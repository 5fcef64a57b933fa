//! Deriving the check key the way public clients do (spec §2.2; JK's
//! `helpers/checkkey.py` fetches the start page, finds the `main.<hash>.js`
//! script and evaluates the right-hand side of the `this.checkKey_`
//! assignments; HUB showed the *last* assignment is the effective one): the
//! start page of the web app (`upstream.web_base`), its bundle, and a tiny
//! evaluator for the expressions current builds use (string literals,
//! array literals, `.reverse()`, `.join(sep)`, `+`). No JavaScript engine.

use url::Url;

/// The `src` of the web app's main bundle in its start page.
pub fn main_script(html: &str) -> Option<&str> {
    html.split("src=")
        .skip(1)
        .filter_map(|rest| {
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let rest = &rest[1..];
            rest.find(quote).map(|end| &rest[..end])
        })
        .find(|src| {
            let file = src.rsplit('/').next().unwrap_or_default();
            file.starts_with("main.") && file.ends_with(".js")
        })
}

/// The effective check key in a bundle: the last `this.checkKey_ = …`
/// assignment whose value evaluates and looks like a key (10–50
/// characters of letters, digits and `-`, with a `-`).
pub fn extract(js: &str) -> Option<String> {
    const TARGET: &str = "this.checkKey_";
    let mut found = None;
    let mut rest = js;
    while let Some(at) = rest.find(TARGET) {
        rest = &rest[at + TARGET.len()..];
        let after = rest.trim_start();
        let Some(rhs) = after.strip_prefix('=') else {
            continue;
        };
        if rhs.starts_with('=') {
            continue; // a comparison, not an assignment
        }
        let mut p = Parser {
            s: rhs.as_bytes(),
            i: 0,
        };
        if let Some(Val::Str(key)) = p.expr() {
            if plausible(&key) {
                found = Some(key);
            }
        }
    }
    found
}

fn plausible(key: &str) -> bool {
    (10..=50).contains(&key.len())
        && key.contains('-')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[derive(Clone, Debug)]
enum Val {
    Str(String),
    Arr(Vec<Val>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// expr := term ('+' term)*
    fn expr(&mut self) -> Option<Val> {
        let mut v = self.term()?;
        while self.eat(b'+') {
            let r = self.term()?;
            v = match (v, r) {
                (Val::Str(a), Val::Str(b)) => Val::Str(a + &b),
                _ => return None,
            };
        }
        Some(v)
    }

    /// term := primary ('.' ('reverse()' | 'join(' string ')'))*
    fn term(&mut self) -> Option<Val> {
        let mut v = self.primary()?;
        loop {
            self.ws();
            let rest = &self.s[self.i..];
            if rest.starts_with(b".reverse()") {
                self.i += ".reverse()".len();
                let Val::Arr(mut items) = v else { return None };
                items.reverse();
                v = Val::Arr(items);
            } else if rest.starts_with(b".join(") {
                self.i += ".join(".len();
                let Val::Str(sep) = self.primary()? else {
                    return None;
                };
                if !self.eat(b')') {
                    return None;
                }
                let Val::Arr(items) = v else { return None };
                let parts: Option<Vec<String>> = items
                    .into_iter()
                    .map(|i| match i {
                        Val::Str(s) => Some(s),
                        Val::Arr(_) => None,
                    })
                    .collect();
                v = Val::Str(parts?.join(&sep));
            } else {
                return Some(v);
            }
        }
    }

    /// primary := string | '[' (expr (',' expr)*)? ']'
    fn primary(&mut self) -> Option<Val> {
        self.ws();
        match *self.s.get(self.i)? {
            q @ (b'"' | b'\'' | b'`') => {
                let start = self.i + 1;
                let len = self.s[start..].iter().position(|c| *c == q)?;
                self.i = start + len + 1;
                let text = std::str::from_utf8(&self.s[start..start + len]).ok()?;
                (!text.contains('\\') && !text.contains("${")).then(|| Val::Str(text.to_owned()))
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Val::Arr(items));
                }
                loop {
                    items.push(self.expr()?);
                    if self.eat(b']') {
                        return Some(Val::Arr(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            _ => None,
        }
    }
}

/// The bundle's URL from the start page's `src`, relative to `web_base`.
pub fn script_url(web_base: &Url, src: &str) -> Option<Url> {
    web_base.join(src).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_main_bundle() {
        let html = r#"<script src="runtime.1.js"></script><script src='main.ab12.js' type="module"></script>"#;
        assert_eq!(main_script(html), Some("main.ab12.js"));
        assert_eq!(main_script("<script src=\"polyfills.js\"></script>"), None);
    }

    #[test]
    fn the_last_plausible_assignment_wins() {
        let js = r#"a(){this.checkKey_="oybZy8-fySzis-bubayf",this.x=1,this.checkKey_ = ["govry3","necvac"].reverse().join("-")+"-tybkYz";if(this.checkKey_==="x"){}}"#;
        assert_eq!(extract(js).as_deref(), Some("necvac-govry3-tybkYz"));
        assert_eq!(
            extract(r#"this.checkKey_="qybZy9-fyszis-bybxyf""#).as_deref(),
            Some("qybZy9-fyszis-bybxyf")
        );
        assert_eq!(extract(r#"this.checkKey_=e.key"#), None);
        assert_eq!(extract(r#"this.checkKey_="short""#), None);
    }
}
