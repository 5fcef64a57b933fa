//! A finished export's rows as a download: JSON Lines (each stored row as
//! is) or CSV (a header of [`COLUMNS`], RFC 4180 quoting).

use serde_json::Value;

use crate::exports::store::COLUMNS;

/// The download formats and their media types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    /// `csv`, or `jsonl` / `ndjson` / `json_lines`; `None` otherwise.
    pub fn parse(raw: &str) -> Option<Format> {
        match raw.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json_lines" => Some(Format::JsonLines),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::JsonLines => "application/x-ndjson",
        }
    }

    /// What comes before the first row.
    pub fn header(self) -> String {
        match self {
            Format::Csv => format!("{}\r\n", COLUMNS.join(",")),
            Format::JsonLines => String::new(),
        }
    }

    /// One stored row (a JSON object) as a line of this format.
    pub fn line(self, stored: &str) -> String {
        match self {
            Format::JsonLines => format!("{stored}\n"),
            Format::Csv => {
                let row: Value = serde_json::from_str(stored).unwrap_or(Value::Null);
                let cells: Vec<String> = COLUMNS
                    .iter()
                    .map(|c| match row.get(*c) {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => quote(s),
                        Some(other) => quote(&other.to_string()),
                    })
                    .collect();
                format!("{}\r\n", cells.join(","))
            }
        }
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break; a
/// leading `=`, `+`, `-` or `@` is prefixed with `'` so spreadsheets do not
/// run a fan's message as a formula.
fn quote(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
        assert_eq!(quote("=1+1"), "'=1+1");
        let line = Format::Csv.line(r#"{"chat_id":"5","content":"x,y","attachment_count":2}"#);
        assert_eq!(line, ",5,,,,,,\"x,y\",2\r\n");
    }
}
