//! The recent requests of each team, for the console's Requests page: an
//! in-memory ring per team (newest last), bounded, lost on restart. A push
//! is one short mutex hold with no I/O, so recording stays off the hot path's
//! critical costs; nothing here touches the database.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// One answered request of a team.
#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    /// Unix milliseconds when the request arrived.
    pub at: i64,
    pub method: String,
    /// The route template (`/api/fansly/{fanslyAccount}/chats`).
    pub route: String,
    /// The path as called.
    pub path: String,
    pub status: u16,
    /// Credits taken (from `x-ofapi-credits-used`; 0 when none).
    pub credits: i64,
    pub latency_ms: u64,
    /// Requests sent to Fansly while answering it (retries included).
    pub upstream_calls: u32,
    pub request_id: Option<String>,
    pub key_id: String,
    /// Made by the console itself (it says so with `X-Console: 1`).
    pub console: bool,
}

/// What a listing keeps.
#[derive(Clone, Debug, Default)]
pub struct RequestFilter {
    /// Substring of the route or path.
    pub route: Option<String>,
    /// `2xx`, `4xx`, `5xx`, or an exact status such as `404`.
    pub status: Option<String>,
    pub include_console: bool,
}

impl RequestFilter {
    fn keeps(&self, r: &RequestRecord) -> bool {
        if r.console && !self.include_console {
            return false;
        }
        if let Some(route) = self.route.as_deref().filter(|s| !s.is_empty()) {
            if !r.route.contains(route) && !r.path.contains(route) {
                return false;
            }
        }
        match self.status.as_deref().map(str::trim) {
            None | Some("") => true,
            Some(s) if s.len() == 3 && s.ends_with("xx") => {
                s.as_bytes()[0] == b'0' + (r.status / 100) as u8
            }
            Some(s) => s.parse::<u16>().map_or(true, |code| code == r.status),
        }
    }
}

#[derive(Clone)]
pub struct RequestLog {
    per_team: usize,
    teams: Arc<Mutex<HashMap<String, VecDeque<RequestRecord>>>>,
}

impl RequestLog {
    /// Keeps the newest `per_team` requests of each team (0 keeps none).
    pub fn new(per_team: usize) -> RequestLog {
        RequestLog {
            per_team,
            teams: Arc::default(),
        }
    }

    pub fn push(&self, team_id: &str, record: RequestRecord) {
        if self.per_team == 0 {
            return;
        }
        let mut teams = self.teams.lock().unwrap_or_else(|e| e.into_inner());
        let ring = teams
            .entry(team_id.to_owned())
            .or_insert_with(|| VecDeque::with_capacity(self.per_team.min(64)));
        if ring.len() >= self.per_team {
            ring.pop_front();
        }
        ring.push_back(record);
    }

    /// Up to `limit` matching requests of the team, newest first.
    pub fn recent(
        &self,
        team_id: &str,
        filter: &RequestFilter,
        limit: usize,
    ) -> Vec<RequestRecord> {
        let teams = self.teams.lock().unwrap_or_else(|e| e.into_inner());
        teams.get(team_id).map_or_else(Vec::new, |ring| {
            ring.iter()
                .rev()
                .filter(|r| filter.keeps(r))
                .take(limit)
                .cloned()
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(route: &str, status: u16, console: bool) -> RequestRecord {
        RequestRecord {
            at: 0,
            method: "GET".into(),
            route: route.into(),
            path: route.into(),
            status,
            credits: 0,
            latency_ms: 1,
            upstream_calls: 0,
            request_id: None,
            key_id: "key_1".into(),
            console,
        }
    }

    #[test]
    fn keeps_the_newest_per_team_and_filters() {
        let log = RequestLog::new(3);
        for i in 0..5 {
            log.push("t", rec(&format!("/r{i}"), 200 + i, false));
        }
        log.push("t", rec("/console", 404, true));
        log.push("u", rec("/other", 200, false));
        let all = RequestFilter {
            include_console: true,
            ..RequestFilter::default()
        };
        let got: Vec<String> = log
            .recent("t", &all, 10)
            .into_iter()
            .map(|r| r.route)
            .collect();
        assert_eq!(got, ["/console", "/r4", "/r3"]);
        assert_eq!(log.recent("t", &RequestFilter::default(), 10).len(), 2);
        let four = RequestFilter {
            status: Some("4xx".into()),
            include_console: true,
            ..RequestFilter::default()
        };
        assert_eq!(log.recent("t", &four, 10).len(), 1);
        let exact = RequestFilter {
            status: Some("203".into()),
            ..RequestFilter::default()
        };
        assert_eq!(log.recent("t", &exact, 10)[0].route, "/r3");
        let route = RequestFilter {
            route: Some("r4".into()),
            ..RequestFilter::default()
        };
        assert_eq!(log.recent("t", &route, 10).len(), 1);
        assert!(log.recent("nobody", &all, 10).is_empty());
    }
}
