//! Tool arguments as a model sends them, checked one by one so every
//! refusal names the argument and says why (returned as a tool error the
//! model can read, never as a protocol failure).

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A refusal naming the argument.
#[derive(Debug)]
pub struct ArgError(pub String);

impl ArgError {
    pub fn new(name: &str, why: impl std::fmt::Display) -> ArgError {
        ArgError(format!("argument `{name}`: {why}"))
    }
}

pub struct Args<'a>(pub &'a Map<String, Value>);

impl Args<'_> {
    /// Refuses arguments the tool's schema does not name.
    pub fn only(&self, schema: &Value) -> Result<(), ArgError> {
        let known = schema["properties"].as_object();
        for name in self.0.keys() {
            if !known.is_some_and(|k| k.contains_key(name)) {
                return Err(ArgError::new(name, "this tool has no such argument"));
            }
        }
        Ok(())
    }

    fn present(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, ArgError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            // Ids are often produced as numbers by models; accept them as text.
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ArgError::new(name, "must be a string")),
        }
    }

    pub fn required(&self, name: &str) -> Result<String, ArgError> {
        self.string(name)?
            .ok_or_else(|| ArgError::new(name, "is required"))
    }

    /// Free text kept as written (message and post text).
    pub fn text(&self, name: &str) -> Result<Option<String>, ArgError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ArgError::new(name, "must be a string")),
        }
    }

    /// A Fansly id: digits only.
    pub fn id(&self, name: &str) -> Result<Option<String>, ArgError> {
        let v = self.string(name)?;
        if let Some(id) = &v {
            if !id.bytes().all(|b| b.is_ascii_digit()) || id.len() > 25 {
                return Err(ArgError::new(
                    name,
                    format!("must be a Fansly id (a string of digits), got {id:?}"),
                ));
            }
        }
        Ok(v)
    }

    pub fn required_id(&self, name: &str) -> Result<String, ArgError> {
        self.id(name)?
            .ok_or_else(|| ArgError::new(name, "is required"))
    }

    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ArgError> {
        let n = match self.present(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        }
        .ok_or_else(|| ArgError::new(name, "must be a whole number"))?;
        if !(min..=max).contains(&n) {
            return Err(ArgError::new(
                name,
                format!("must be between {min} and {max}, got {n}"),
            ));
        }
        Ok(Some(n))
    }

    pub fn flag(&self, name: &str) -> Result<bool, ArgError> {
        match self.present(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ArgError::new(name, "must be true or false")),
        }
    }

    pub fn list(&self, name: &str) -> Result<Vec<String>, ArgError> {
        match self.present(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(ArgError::new(name, "must be a list of non-empty strings")),
                })
                .collect(),
            Some(_) => Err(ArgError::new(name, "must be a list of strings")),
        }
    }

    /// An ISO 8601 / RFC 3339 instant, as Unix milliseconds.
    pub fn instant_ms(&self, name: &str) -> Result<Option<i64>, ArgError> {
        let Some(raw) = self.string(name)? else {
            return Ok(None);
        };
        let at = OffsetDateTime::parse(&raw, &Rfc3339).map_err(|_| {
            ArgError::new(
                name,
                format!("must be an ISO 8601 date-time with a zone, e.g. 2026-12-01T18:00:00Z; got {raw:?}"),
            )
        })?;
        Ok(Some((at.unix_timestamp_nanos() / 1_000_000) as i64))
    }

    /// An ISO 8601 instant checked and passed on as written (routes that
    /// take ISO 8601 themselves).
    pub fn instant(&self, name: &str) -> Result<Option<String>, ArgError> {
        self.instant_ms(name)?;
        self.string(name)
    }

    /// Dollars (e.g. 4.99) as thousandths of a dollar (4990), the unit of
    /// every price in the REST API.
    pub fn dollars_as_mills(&self, name: &str) -> Result<Option<i64>, ArgError> {
        let dollars = match self.present(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().trim_start_matches('$').parse().ok(),
            Some(_) => None,
        }
        .filter(|d: &f64| d.is_finite())
        .ok_or_else(|| ArgError::new(name, "must be an amount in dollars, e.g. 4.99"))?;
        let mills = (dollars * 1000.0).round();
        if !(1_000.0..=500_000.0).contains(&mills) {
            return Err(ArgError::new(
                name,
                format!("must be between 1.00 and 500.00 dollars, got {dollars}"),
            ));
        }
        Ok(Some(mills as i64))
    }
}
