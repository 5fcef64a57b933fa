//! Configuration: compiled defaults, then an optional TOML file, then
//! `FANSLY_GATEWAY_*` environment variables (`__` separates nested keys, e.g.
//! `FANSLY_GATEWAY_UPSTREAM__TIMEOUT_MS`), then command-line flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub const ENV_PREFIX: &str = "FANSLY_GATEWAY_";

/// Variables under the prefix that are not config keys: the config file's
/// path, and the test harness's and CI scripts' own (a gateway started by a
/// test or script inherits them and must not refuse them as unknown keys).
const NOT_CONFIG: &[&str] = &[
    "CONFIG",
    "TEST_DATABASE_URL",
    "TEST_REDIS_URL",
    "BROWSER_TESTS",
    "BIN",
];

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Base URL clients reach this gateway at, for absolute URLs in answers
    /// (`_pagination.next_page`); unset means `http://<listen address>`.
    pub public_url: Option<String>,
    /// Where the SQLite database and sandbox files live.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; unset means SQLite at `<data_dir>/gateway.db`.
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    /// Largest accepted JSON request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Requests per team per minute unless the team has its own limit.
    pub default_rate_limit_per_minute: i64,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// OTLP/HTTP collector base URL (e.g. `http://otel-collector:4318`): spans
    /// are exported there besides the log. Unset: no export. Needs a build
    /// with the `otlp` cargo feature.
    pub otlp_endpoint: Option<String>,
    /// Master keys sealing secrets at rest: `id:base64` entries, comma
    /// separated, the first one current. Takes precedence over the file.
    pub master_keys: Option<String>,
    /// A file of master keys, one `id:base64` per line, the first current.
    pub master_key_file: Option<PathBuf>,
    /// `proxyCountry` → proxy URL (e.g. `us = "http://user:pass@host:3128"`).
    pub proxies: BTreeMap<String, String>,
    /// After a re-login fails for a passing reason, how long until the next try.
    pub relogin_cooldown_ms: u64,
    /// A bearer token that sees every team (the console's operator sign-in;
    /// team routes then take the team from `X-Team-Id`). Unset: no operator.
    /// Mint one with `fansly-gateway operator-token`. `/metrics` asks for it
    /// when it is set.
    pub operator_token: Option<String>,
    /// How long an instance answers from its memory of an API key (its team
    /// and rate limit) before reading it again: a key revoked or a team
    /// changed on another instance is seen here within this time.
    pub key_cache_ms: u64,
    /// An instance whose credit heartbeat (every 5 s) stopped for this long
    /// died: the reservations it left unsettled are refunded (at start and by
    /// housekeeping). At least 15 s (checked at start). (Named
    /// `credit_hold_timeout_ms` before migration 0019, still read.)
    #[serde(alias = "credit_hold_timeout_ms")]
    pub credit_run_timeout_ms: u64,
    /// Recent requests kept in memory per team for the console's Requests page.
    pub request_log_per_team: usize,
    /// `redis://host:port/db`: cluster mode. Instances sharing one
    /// PostgreSQL database and this Redis behave as one (shared rate limits
    /// and Fansly budgets, one websocket per account, wake-ups by pub/sub).
    /// Unset: a single node, everything coordinated in memory.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel this cluster uses, so several
    /// clusters (or test runs) can share one Redis.
    pub redis_prefix: String,
    pub upstream: UpstreamSettings,
    pub sandbox: SandboxSettings,
    pub media: MediaSettings,
    pub broadcasts: BroadcastSettings,
    pub relay: RelaySettings,
    pub webhooks: WebhookSettings,
    pub logins: LoginSettings,
    pub data_exports: DataExportSettings,
    pub workers: WorkerSettings,
}

/// The background loops that run due work (webhook delivery, broadcasts,
/// housekeeping); the relay has its own switch (`relay.enabled`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Start the loops with the server. Off, due work waits until something
    /// runs it (the tests drive the workers' `run_due` this way).
    pub autostart: bool,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self { autostart: true }
    }
}

/// Connecting accounts: what a tenant may make the gateway store and reach.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginSettings {
    /// Let `customProxy` point at loopback, private and link-local addresses.
    /// Off by default: otherwise any API key could make the gateway connect
    /// into its own network through the "proxy" (SSRF).
    pub allow_private_proxies: bool,
    /// Logins of one team that are not connected (queued, in a challenge,
    /// failed) at once; Start Authentication answers 429 beyond it.
    pub max_unconnected_per_team: i64,
    /// Failed logins that never connected are deleted after this long.
    pub failed_retention_ms: u64,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            allow_private_proxies: false,
            max_unconnected_per_team: 20,
            failed_retention_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// Data exports (`/api/data-exports`): how much and how long.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataExportSettings {
    /// Finished exports (and their files) are deleted after this long.
    pub retention_ms: u64,
    /// Exports of one team queued or running at once (429 beyond it).
    pub max_active_per_team: i64,
    /// How often the worker looks for exports to run.
    pub poll_interval_ms: u64,
    /// Messages fetched per Fansly page (Fansly's cap is 100).
    pub page_size: u32,
}

impl Default for DataExportSettings {
    fn default() -> Self {
        Self {
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            max_active_per_team: 3,
            poll_interval_ms: 2_000,
            page_size: 100,
        }
    }
}

/// Webhook delivery: workers, retries, retention, safety and price.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Deliveries sent at once by this instance.
    pub workers: usize,
    /// Waits before the 2nd, 3rd, … attempt; the delivery is given up after
    /// the last. Each wait is jittered to between half and all of its value.
    pub retry_schedule_ms: Vec<u64>,
    /// A receiver that has failed without a single success for this long is
    /// disabled (re-enable it with PUT).
    pub disable_after_ms: u64,
    /// Deliveries and their attempts are kept this long.
    pub retention_ms: u64,
    /// Let endpoints point at loopback, private and link-local addresses.
    pub allow_private_targets: bool,
    /// Credits charged per 100 delivered events (0: free).
    pub credits_per_100_events: i64,
    pub connect_timeout_ms: u64,
    /// Whole request, answer included.
    pub timeout_ms: u64,
    /// How long a worker owns a claimed delivery; a worker that dies holding
    /// one loses it after this. Never shorter than `timeout_ms` + 1 s.
    pub lease_ms: u64,
    /// How often idle workers look for due deliveries (new events in this
    /// process wake them at once).
    pub poll_interval_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            workers: 4,
            retry_schedule_ms: vec![
                5_000,
                30_000,
                2 * 60_000,
                10 * 60_000,
                30 * 60_000,
                60 * 60_000,
                3 * 60 * 60_000,
                6 * 60 * 60_000,
                12 * 60 * 60_000,
            ],
            disable_after_ms: 24 * 60 * 60_000,
            retention_ms: 7 * 24 * 60 * 60_000,
            allow_private_targets: false,
            credits_per_100_events: 1,
            connect_timeout_ms: 5_000,
            timeout_ms: 10_000,
            lease_ms: 60_000,
            poll_interval_ms: 1_000,
        }
    }
}

/// Mass messages: how the gateway's fan-out worker finds and holds work.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BroadcastSettings {
    /// How often due broadcasts are looked for.
    pub poll_ms: u64,
    /// How long a claim on a broadcast holds without renewal; a stopped
    /// instance's broadcast is taken over after this.
    pub lease_ms: u64,
    /// Attempts per recipient for passing failures before it counts as failed.
    pub max_attempts: u32,
    /// First wait after a passing failure; doubles per attempt.
    pub retry_base_ms: u64,
}

impl Default for BroadcastSettings {
    fn default() -> Self {
        Self {
            poll_ms: 500,
            lease_ms: 120_000,
            max_attempts: 5,
            retry_base_ms: 2_000,
        }
    }
}

/// The websocket relay: one Fansly event socket per connected account.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    /// Keep a websocket open for every authenticated account.
    pub enabled: bool,
    /// The keep-alive goes out every `ping_min_ms..=ping_max_ms` (jittered).
    pub ping_min_ms: u64,
    pub ping_max_ms: u64,
    /// Bound on connecting, upgrading and the handshake answer.
    pub connect_timeout_ms: u64,
    /// Reconnect backoff: full jitter over `base · 2^attempt`, capped. The
    /// defaults are the web app's (1.5 s doubling, cap 15 s; spec §10.3);
    /// unlike the web app the relay never stops retrying.
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    /// A socket about to open first fetches a new Fansly device id when the
    /// account's is older than this (the web app's ~3 h; 0 refetches at
    /// every opening).
    pub device_id_refresh_ms: u64,
    /// After every (re)connect and on a slow sweep, ask Fansly's REST API
    /// what the socket missed (README "Gap fill").
    pub gap_fill: bool,
    /// How far back a gap fill looks, at most.
    pub gap_fill_horizon_ms: u64,
    /// How often each account is swept even when its socket never broke.
    pub gap_fill_sweep_ms: u64,
    /// How often this instance looks for accounts whose fill is due.
    pub gap_fill_poll_ms: u64,
    /// Fansly requests one fill may spend; the rest waits for the next run,
    /// so a long gap never crowds the account's budget.
    pub gap_fill_max_requests: u32,
    /// Cluster mode: how long an instance's hold on an account's socket
    /// lasts without renewal (renewed every third of it). When the holder
    /// dies another instance opens the socket within about 1⅓ of this.
    pub lease_ms: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            ping_min_ms: 20_000,
            ping_max_ms: 25_000,
            connect_timeout_ms: 15_000,
            backoff_base_ms: 1_500,
            backoff_cap_ms: 15_000,
            device_id_refresh_ms: 3 * 60 * 60 * 1000,
            gap_fill: true,
            gap_fill_horizon_ms: 24 * 60 * 60 * 1000,
            gap_fill_sweep_ms: 15 * 60 * 1000,
            gap_fill_poll_ms: 2_000,
            gap_fill_max_requests: 200,
            lease_ms: 10_000,
        }
    }
}

/// Media uploads: limits, price, and how the upload is watched upstream.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSettings {
    /// Largest accepted file (multipart `file` or `file_url`), in bytes.
    pub max_upload_bytes: u64,
    /// Credits per started megabyte (1 MB = 1,000,000 bytes), at least 1 per upload.
    pub credits_per_mb: i64,
    /// How often Fansly is asked whether an uploaded file is processed.
    pub poll_interval_ms: u64,
    /// An upload not processed within this time fails.
    pub processing_timeout_ms: u64,
    /// Let `file_url` reach loopback, private and link-local addresses.
    /// Off by default: otherwise any API key could make the gateway fetch
    /// from its own network (SSRF).
    pub allow_private_file_urls: bool,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 100 * 1024 * 1024,
            credits_per_mb: 6,
            poll_interval_ms: 1000,
            processing_timeout_ms: 10 * 60 * 1000,
            allow_private_file_urls: false,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// How the gateway talks to Fansly (or to the sandbox standing in for it).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamSettings {
    pub api_base: String,
    /// Fansly's media host (upload sessions).
    pub media_base: String,
    /// Fansly's event websocket.
    pub ws_url: String,
    /// The web app; its `main.<hash>.js` carries the current check key.
    pub web_base: String,
    /// The check key to start with; the gateway reads the current one from
    /// the web app at start, every `check_key_refresh_ms` and at once when
    /// Fansly refuses a digest.
    pub check_key: String,
    /// How often the check key is read from the web app (0: only at start
    /// and on refusals).
    pub check_key_refresh_ms: u64,
    pub user_agent: String,
    pub timeout_ms: u64,
    pub max_retries: u32,
    pub max_retry_wait_ms: u64,
    pub backoff_base_ms: u64,
    /// Each Fansly route's answers are checked for protocol drift at most
    /// once per this (0: every answer). A check reads the answer a second
    /// time; under load this bounds its cost, and a drift that holds is
    /// still seen within this much of a route's traffic.
    pub drift_check_every_ms: u64,
    pub throttle: ThrottleSettings,
}

/// Each account's request budget towards Fansly: reads and writes overall,
/// and each read route's own bucket (Fansly tolerates about 20 requests per
/// minute per route; spec §3.3).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleSettings {
    pub reads_per_minute: u32,
    pub writes_per_minute: u32,
    pub burst: u32,
    /// A call that would wait longer for its slot is answered 429 instead.
    pub max_wait_ms: u64,
    /// Each read route's own budget within the account's (the chat reads,
    /// `/messaging/groups`, `/group/{id}` and `GET /message`, share one):
    /// Fansly tolerates about 20 per minute per route, burst about 10.
    pub route_reads_per_minute: u32,
    pub route_burst: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            reads_per_minute: 120,
            writes_per_minute: 60,
            burst: 20,
            max_wait_ms: 10_000,
            route_reads_per_minute: 20,
            route_burst: 10,
        }
    }
}

impl ThrottleSettings {
    pub fn to_config(&self) -> fansly_upstream::ThrottleConfig {
        fansly_upstream::ThrottleConfig {
            reads_per_minute: self.reads_per_minute,
            writes_per_minute: self.writes_per_minute,
            burst: self.burst,
            max_wait: Duration::from_millis(self.max_wait_ms),
            route_reads_per_minute: self.route_reads_per_minute,
            route_burst: self.route_burst,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// Run the in-process Fansly sandbox and point the upstream client at it.
    pub enabled: bool,
    /// Where the in-process sandbox listens (loopback, any free port by default).
    pub listen: SocketAddr,
    pub strict_client_check: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            public_url: None,
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_max_connections: 10,
            max_body_bytes: 1024 * 1024,
            default_rate_limit_per_minute: 5000,
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            master_keys: None,
            master_key_file: None,
            proxies: BTreeMap::new(),
            relogin_cooldown_ms: 30_000,
            operator_token: None,
            key_cache_ms: 1_000,
            credit_run_timeout_ms: 60 * 1000,
            request_log_per_team: 500,
            redis_url: None,
            redis_prefix: "fgw".into(),
            upstream: UpstreamSettings::default(),
            sandbox: SandboxSettings::default(),
            media: MediaSettings::default(),
            broadcasts: BroadcastSettings::default(),
            relay: RelaySettings::default(),
            webhooks: WebhookSettings::default(),
            logins: LoginSettings::default(),
            data_exports: DataExportSettings::default(),
            workers: WorkerSettings::default(),
        }
    }
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        let d = fansly_upstream::FanslyConfig::default();
        Self {
            api_base: fansly_upstream::DEFAULT_API_BASE.into(),
            media_base: fansly_upstream::DEFAULT_MEDIA_BASE.into(),
            ws_url: fansly_upstream::ws::DEFAULT_WS_URL.into(),
            web_base: fansly_upstream::DEFAULT_WEB_BASE.into(),
            check_key: d.check_key,
            check_key_refresh_ms: 6 * 3_600_000,
            user_agent: d.user_agent,
            timeout_ms: d.timeout.as_millis() as u64,
            max_retries: d.max_retries,
            max_retry_wait_ms: d.max_retry_wait.as_millis() as u64,
            backoff_base_ms: d.backoff_base.as_millis() as u64,
            drift_check_every_ms: d.drift_check_every.as_millis() as u64,
            throttle: ThrottleSettings::default(),
        }
    }
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:0".parse().expect("valid address"),
            strict_client_check: true,
        }
    }
}

impl Config {
    /// Defaults < file (if given) < environment < `overrides` (command-line flags).
    pub fn load(file: Option<&Path>, overrides: Figment) -> Result<Config, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(Box::new(figment::Error::from(format!(
                    "config file {} does not exist",
                    file.display()
                ))));
            }
            fig = fig.merge(Toml::file(file));
        }
        fig.merge(Env::prefixed(ENV_PREFIX).ignore(NOT_CONFIG).split("__"))
            .merge(overrides)
            .extract()
            .map_err(Box::new)
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("gateway.db").display()
            ),
        }
    }
}

impl UpstreamSettings {
    pub fn to_client_config(&self) -> anyhow::Result<fansly_upstream::FanslyConfig> {
        Ok(fansly_upstream::FanslyConfig {
            api_base: self
                .api_base
                .parse()
                .map_err(|e| anyhow::anyhow!("upstream.api_base {:?}: {e}", self.api_base))?,
            media_base: self
                .media_base
                .parse()
                .map_err(|e| anyhow::anyhow!("upstream.media_base {:?}: {e}", self.media_base))?,
            web_base: self
                .web_base
                .parse()
                .map_err(|e| anyhow::anyhow!("upstream.web_base {:?}: {e}", self.web_base))?,
            check_key: self.check_key.clone(),
            user_agent: self.user_agent.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
            max_retries: self.max_retries,
            max_retry_wait: Duration::from_millis(self.max_retry_wait_ms),
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            drift_check_every: Duration::from_millis(self.drift_check_every_ms),
        })
    }
}

#[cfg(test)]
// figment's test jail fixes the closure's error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn layers_file_env_and_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "gw.toml",
                "listen = \"127.0.0.1:9000\"\n[upstream]\ntimeout_ms = 1234\n",
            )?;
            jail.set_env("FANSLY_GATEWAY_UPSTREAM__MAX_RETRIES", "7");
            jail.set_env("FANSLY_GATEWAY_LISTEN", "127.0.0.1:9001");
            // The harness's own variables are not refused as unknown keys.
            jail.set_env("FANSLY_GATEWAY_BROWSER_TESTS", "1");
            jail.set_env("FANSLY_GATEWAY_TEST_REDIS_URL", "redis://x");
            let flags = Figment::new().merge(Serialized::default("data_dir", "/tmp/x"));
            let c = Config::load(Some(Path::new("gw.toml")), flags).map_err(|e| *e)?;
            assert_eq!(c.listen.port(), 9001, "env beats file");
            assert_eq!(c.upstream.timeout_ms, 1234, "file beats defaults");
            assert_eq!(c.upstream.max_retries, 7);
            assert_eq!(c.data_dir, PathBuf::from("/tmp/x"), "flags beat all");
            assert_eq!(c.default_rate_limit_per_minute, 5000);
            Ok(())
        });
    }

    #[test]
    fn rejects_unknown_keys_and_missing_files() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("gw.toml", "lisen = \"127.0.0.1:9000\"\n")?;
            let err = Config::load(Some(Path::new("gw.toml")), Figment::new()).unwrap_err();
            assert!(err.to_string().contains("lisen"), "{err}");
            assert!(Config::load(Some(Path::new("nope.toml")), Figment::new()).is_err());
            Ok(())
        });
    }
}
