//! The `fansly-gateway` binary: `serve` (optionally `--sandbox`), and the
//! operator's commands (teams, API keys, credits, master keys, accounts by
//! token, the console's operator token), over the library's `startup::app::App`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use figment::providers::Serialized;
use figment::Figment;
use secrecy::SecretString;
use serde_json::json;

use fansly_gateway::core::config::Config;
use fansly_gateway::core::db::Db;
use fansly_gateway::metering::credits;
use fansly_gateway::startup::bootstrap;
use fansly_gateway::{tenancy, webhooks, App};

/// mimalloc instead of glibc's malloc: a metered call allocates a few hundred
/// small objects (headers, JSON trees, futures) across threads, and glibc's
/// allocator spent ~17 % of the gateway's CPU on them (perf, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-hosted, wire-compatible Fansly API gateway.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (keys as in the README's reference).
    #[arg(long, global = true, env = "FANSLY_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Directory for the SQLite database and sandbox files.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// postgres://… or sqlite://… (default: SQLite under --data-dir).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve {
        /// Also run the Fansly sandbox in-process and use it as Fansly.
        #[arg(long)]
        sandbox: bool,
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Run only the Fansly sandbox (a simulator of Fansly's web API).
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// Do not verify fansly-client-check (real Fansly seems not to).
        #[arg(long)]
        lenient: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    #[command(subcommand)]
    Teams(TeamsCmd),
    #[command(subcommand)]
    Keys(KeysCmd),
    #[command(subcommand)]
    Credits(CreditsCmd),
    #[command(subcommand)]
    Accounts(AccountsCmd),
    /// Print a fresh operator token (it sees every team in the console):
    /// set it as FANSLY_GATEWAY_OPERATOR_TOKEN or `operator_token` and restart.
    OperatorToken,
    /// Compare a browser recording of Fansly's web app (a HAR export) with
    /// what the gateway sends and relies on, route by route. Exits 1 when a
    /// route the gateway uses differs.
    Conformance {
        /// The HAR file (DevTools → Network → "Save all as HAR").
        capture: PathBuf,
    },
}

#[derive(Subcommand)]
enum TeamsCmd {
    /// Create a team.
    Create {
        #[arg(long)]
        name: String,
        /// Initial credits.
        #[arg(long, default_value_t = 0)]
        credits: i64,
        /// Requests per minute (default: the configured default).
        #[arg(long)]
        rate_limit: Option<i64>,
    },
    List,
    /// Set (or with no --limit, clear) a team's own rate limit.
    SetRateLimit {
        #[arg(long)]
        team: String,
        #[arg(long)]
        limit: Option<i64>,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Create an API key; it is printed once and cannot be shown again.
    Create {
        #[arg(long)]
        team: String,
        #[arg(long, default_value = "default")]
        name: String,
        /// Make the key read-only on the MCP surface (/mcp): its write tools
        /// (send_message, react, create_post, schedule_mass_message) are refused.
        #[arg(long)]
        mcp_read_only: bool,
    },
    /// Turn a key's MCP read-only switch on (`--on`) or off.
    McpReadOnly {
        key_id: String,
        #[arg(long)]
        on: bool,
    },
    List {
        #[arg(long)]
        team: String,
    },
    /// Revoke a key by id (key_…); it stops working at once.
    Revoke { key_id: String },
    /// Print a fresh master key entry (`id:base64`) for sealing secrets.
    NewMaster,
    /// Re-encrypt every stored secret under the current (first) master key.
    /// Safe while the gateway runs, as long as every instance has both keys.
    RotateMaster,
}

#[derive(Subcommand)]
enum CreditsCmd {
    Grant {
        #[arg(long)]
        team: String,
        #[arg(long)]
        amount: i64,
        #[arg(long, default_value = "operator grant")]
        reason: String,
    },
    /// Balance and the newest ledger rows.
    Show {
        #[arg(long)]
        team: String,
        #[arg(long, default_value_t = 20)]
        ledger: i64,
    },
}

#[derive(Subcommand)]
enum AccountsCmd {
    /// Connect a Fansly account from a session token (read from stdin, or
    /// from FANSLY_TOKEN, so it never appears in the process list).
    AddToken(AddToken),
}

#[derive(Args)]
struct AddToken {
    #[arg(long)]
    team: String,
    /// Display name (default: the Fansly display name).
    #[arg(long)]
    name: Option<String>,
    /// The account's proxy (`http://user:pass@host:port`, `socks5://…`):
    /// every request of the account, the first included, goes through it.
    #[arg(long)]
    proxy: Option<String>,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut flags = Figment::new();
    if let Some(dir) = &cli.data_dir {
        flags = flags.merge(Serialized::default("data_dir", dir));
    }
    if let Some(url) = &cli.database_url {
        flags = flags.merge(Serialized::default("database_url", url));
    }
    if let Command::Serve { sandbox, listen } = &cli.command {
        if *sandbox {
            flags = flags.merge(Serialized::default("sandbox.enabled", true));
        }
        if let Some(addr) = listen {
            flags = flags.merge(Serialized::default("listen", addr));
        }
    }
    let config = Config::load(cli.config.as_deref(), flags).context("loading configuration")?;
    let _tracing = fansly_gateway::startup::telemetry::init_tracing(&config)?;

    match cli.command {
        Command::Serve { .. } => serve(config).await,
        Command::Sandbox { listen, lenient } => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            eprintln!(
                "Fansly sandbox listening on http://{}",
                listener.local_addr()?
            );
            eprintln!("Seeded creators and tokens: GET http://{listen}/_sandbox/creators");
            fansly_sandbox::serve(
                listener,
                fansly_sandbox::SandboxConfig {
                    check_key: config.upstream.check_key.clone(),
                    strict_client_check: !lenient,
                    data_dir: config.data_dir.join("sandbox"),
                    // Fansly's per-route read limits, as a client meets them.
                    rate_limit: Some(fansly_sandbox::RateLimits {
                        per_minute: 20,
                        burst: 10,
                    }),
                    ..fansly_sandbox::SandboxConfig::default()
                },
            )
            .await?;
            Ok(())
        }
        Command::Migrate => {
            open_db(&config).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Teams(cmd) => teams(&open_db(&config).await?, cmd).await,
        Command::Keys(KeysCmd::NewMaster) => {
            println!(
                "{}",
                fansly_gateway::core::crypto::Keyring::generate_entry()
            );
            eprintln!("Put it first in FANSLY_GATEWAY_MASTER_KEYS (comma separated) or in the master key file; keep older keys after it until `keys rotate-master` has run.");
            Ok(())
        }
        Command::Keys(KeysCmd::RotateMaster) => {
            let keyring = fansly_gateway::startup::keys::keyring(&config)?.context(
                "no master key configured (FANSLY_GATEWAY_MASTER_KEYS or master_key_file)",
            )?;
            let db = open_db(&config).await?;
            let n = fansly_gateway::core::crypto::rotate(&db, &keyring).await?;
            eprintln!(
                "re-encrypted {n} secret(s) under key {}",
                keyring.current_id()
            );
            Ok(())
        }
        Command::Keys(cmd) => keys(&open_db(&config).await?, cmd).await,
        Command::Credits(cmd) => credits_cmd(&open_db(&config).await?, cmd).await,
        Command::Accounts(AccountsCmd::AddToken(args)) => add_token(&config, args).await,
        Command::Conformance { capture } => {
            let text = std::fs::read_to_string(&capture)
                .with_context(|| format!("reading {}", capture.display()))?;
            let har: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", capture.display()))?;
            let report =
                fansly_upstream::conformance::compare_har(&har).map_err(anyhow::Error::msg)?;
            print!("{}", fansly_upstream::conformance::render(&report));
            if fansly_upstream::conformance::differs(&report) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::OperatorToken => {
            println!(
                "{}",
                fansly_gateway::core::ids::random_secret("fgw_op_", 43)
            );
            eprintln!("Set it as FANSLY_GATEWAY_OPERATOR_TOKEN (or operator_token in the config file) and restart; sign in to /console with it to see every team.");
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let sandbox = config.sandbox.enabled;
    let app = App::build(config).await?;
    let base = format!("http://{}", app.address());
    if sandbox {
        let demo = bootstrap::sandbox_demo(&app).await?;
        let fansly = app.sandbox().map(|s| s.url()).unwrap_or_default();
        eprintln!("fansly-gateway (sandbox mode) listening on {base}");
        eprintln!("  console:            {base}/console");
        eprintln!("  Fansly sandbox:     {fansly}");
        eprintln!("  demo team:          {}", demo.team_id);
        eprintln!("  connected account:  {}", demo.account_id);
        match &demo.new_key {
            Some(key) => eprintln!(
                "  API key (shown once, also in {}):\n    {key}",
                demo.key_file.display()
            ),
            None => eprintln!("  API key:            in {}", demo.key_file.display()),
        }
    } else {
        eprintln!("fansly-gateway listening on {base} (console: {base}/console)");
    }
    app.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

async fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url(), 2).await?;
    db.migrate().await?;
    Ok(db)
}

fn print(v: serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

async fn teams(db: &Db, cmd: TeamsCmd) -> anyhow::Result<()> {
    match cmd {
        TeamsCmd::Create {
            name,
            credits,
            rate_limit,
        } => print(json!(
            tenancy::create_team(db, &name, credits, rate_limit).await?
        )),
        TeamsCmd::List => print(json!(tenancy::list_teams(db).await?)),
        TeamsCmd::SetRateLimit { team, limit } => {
            tenancy::set_rate_limit(db, &team, limit).await?;
            print(json!(tenancy::get_team(db, &team).await?));
        }
    }
    Ok(())
}

async fn keys(db: &Db, cmd: KeysCmd) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::Create {
            team,
            name,
            mcp_read_only,
        } => {
            let key = tenancy::create_key(db, &team, &name).await?;
            if mcp_read_only {
                tenancy::set_mcp_read_only(db, &key.info.id, true).await?;
            }
            eprintln!("Store this key now: it cannot be shown again.");
            print(
                json!({"id": key.info.id, "team_id": key.info.team_id, "name": key.info.name, "mcp_read_only": mcp_read_only, "key": key.secret}),
            );
        }
        KeysCmd::McpReadOnly { key_id, on } => {
            tenancy::set_mcp_read_only(db, &key_id, on).await?;
            eprintln!("{key_id}: MCP read-only {}", if on { "on" } else { "off" });
        }
        KeysCmd::List { team } => print(json!(tenancy::list_keys(db, &team).await?)),
        KeysCmd::NewMaster | KeysCmd::RotateMaster => {
            unreachable!("handled before opening the database")
        }
        KeysCmd::Revoke { key_id } => {
            anyhow::ensure!(
                tenancy::revoke_key(db, &key_id).await?,
                "no active key {key_id}"
            );
            eprintln!("revoked {key_id}");
        }
    }
    Ok(())
}

async fn credits_cmd(db: &Db, cmd: CreditsCmd) -> anyhow::Result<()> {
    match cmd {
        CreditsCmd::Grant {
            team,
            amount,
            reason,
        } => {
            let balance = webhooks::deliveries::grant(db, &team, amount, &reason).await?;
            print(json!({"team_id": team, "balance": balance}));
        }
        CreditsCmd::Show { team, ledger } => {
            let balance = credits::balance(db, &team)
                .await?
                .with_context(|| format!("no team {team}"))?;
            let rows = credits::ledger(db, &team, ledger.max(0)).await?;
            print(json!({"team_id": team, "balance": balance, "ledger": rows}));
        }
    }
    Ok(())
}

async fn add_token(config: &Config, args: AddToken) -> anyhow::Result<()> {
    let token = match std::env::var("FANSLY_TOKEN") {
        Ok(t) if !t.trim().is_empty() => t,
        _ => {
            eprintln!("Paste the Fansly session token, then end input (Ctrl-D):");
            let mut t = String::new();
            std::io::stdin().read_to_string(&mut t)?;
            t
        }
    };
    let token = token.trim().to_owned();
    anyhow::ensure!(!token.is_empty(), "no token given");
    let db = open_db(config).await?;
    anyhow::ensure!(
        tenancy::get_team(&db, &args.team).await?.is_some(),
        "no team {}",
        args.team
    );
    let fansly = fansly_upstream::FanslyClient::new(config.upstream.to_client_config()?)?;
    let events = fansly_gateway::events::outbox::Events::new(db.clone());
    let sessions = fansly_gateway::accounts::sessions::Sessions::new(
        db,
        fansly,
        fansly_gateway::startup::keys::keyring(config)?.map(std::sync::Arc::new),
        config.upstream.throttle.to_config(),
        std::time::Duration::from_millis(config.relogin_cooldown_ms),
        events,
        // One call, no re-login: the cluster's budget and leases are not needed.
        None,
    );
    let row = sessions
        .add_token_via(
            &args.team,
            SecretString::from(token),
            args.name.as_deref(),
            args.proxy.as_deref(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    print(
        json!({"id": row.id, "fansly_id": row.fansly_id, "fansly_username": row.fansly_username, "display_name": row.display_name}),
    );
    Ok(())
}
