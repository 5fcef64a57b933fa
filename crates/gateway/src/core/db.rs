//! The database: SQLite (embedded, the default) or PostgreSQL, behind one
//! sqlx `Any` pool. Queries are written once in the SQL both engines accept
//! (`$n` parameters, `RETURNING`, `ON CONFLICT`); only the DDL differs, so each
//! engine has its own migrations directory.

use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    /// For reads (and, on PostgreSQL, everything).
    pub pool: AnyPool,
    /// For writes. On SQLite this is a single connection: SQLite runs one
    /// writer at a time anyway, and queueing on the pool is fair and prompt
    /// where SQLite's own busy handler sleeps and retries. On PostgreSQL it is
    /// the same pool as `pool`.
    pub writer: AnyPool,
    pub backend: Backend,
    /// SQLite only: one connection, opened on first use, that copies the
    /// write-ahead log back into the database file ([`Db::checkpoint_wal`])
    /// beside the writer instead of inside its commits.
    checkpointer: Option<AnyPool>,
}

/// The log size (pages) at which SQLite's writer checkpoints inside a commit
/// itself. SQLite's default, 1,000 pages, made every ~10th credit commit
/// under load copy ~4 MB and wait for two fsyncs (2–10 ms each here): the
/// calls of that batch and of the next one waited with it, which was most of
/// the gateway's added p99. The log is copied back by [`Db::checkpoint_wal`]
/// on its own connection instead; this larger threshold stays as the bound
/// for when nothing runs it (the CLI, tests without workers) and to reset a
/// log that never stops growing under sustained writes (a passive checkpoint
/// beside a busy writer never catches up to the log's very end, and only
/// then does the next writer start the log over). At that point nearly
/// everything is copied already, so the writer's own checkpoint is short.
pub const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// What one WAL checkpoint found: the frames in the log and how many of them
/// are now in the database file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalCheckpoint {
    pub busy: bool,
    pub log_frames: i64,
    pub checkpointed_frames: i64,
}

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("database_url must start with sqlite: or postgres:");
        };
        if backend == Backend::Sqlite {
            create_sqlite_parent_dir(url)?;
        }
        let options: AnyConnectOptions = url
            .parse()
            .with_context(|| format!("invalid database_url for {backend:?}"))?;
        let pool = pool_options(backend, max_connections)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        let (writer, checkpointer) = match backend {
            Backend::Sqlite => (
                pool_options(backend, 1)
                    .connect_with(options.clone())
                    .await?,
                Some(pool_options(backend, 1).connect_lazy_with(options)),
            ),
            Backend::Postgres => (pool.clone(), None),
        };
        Ok(Db {
            pool,
            writer,
            backend,
            checkpointer,
        })
    }

    /// SQLite: copies what the write-ahead log holds back into the database
    /// file, without waiting for or holding up the writer or readers
    /// (`PASSIVE`), on a connection of its own. `None` on PostgreSQL.
    pub async fn checkpoint_wal(&self) -> Result<Option<WalCheckpoint>, sqlx::Error> {
        let Some(checkpointer) = &self.checkpointer else {
            return Ok(None);
        };
        let (busy, log_frames, checkpointed_frames): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(checkpointer)
                .await?;
        Ok(Some(WalCheckpoint {
            busy: busy != 0,
            log_frames,
            checkpointed_frames,
        }))
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.writer)
            .await
            .context("running database migrations")
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}

fn pool_options(backend: Backend, max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // An SQLite connection is a file handle in this process: a ping
        // before each checkout finds nothing and costs a round trip to its
        // thread (one more per credit transaction). PostgreSQL keeps it: a
        // server restart must not hand out dead connections.
        .test_before_acquire(backend != Backend::Sqlite)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the writer; the busy timeout
                    // covers writers in other processes (the CLI).
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    // Deleted rows (disconnected accounts) are overwritten, not left in free pages.
                    conn.execute("PRAGMA secure_delete = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    let pages = format!("PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}");
                    conn.execute(pages.as_str()).await?;
                }
                Ok(())
            })
        })
}

/// Makes sure the SQLite file's directory exists (created 0700) and the
/// file itself is readable by its owner only: it is created 0600 before
/// SQLite opens it (SQLite gives its `-wal` and `-shm` files the database
/// file's permissions), and an existing one loses group and world access.
fn create_sqlite_parent_dir(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    let path = std::path::Path::new(path);
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            create_private_dir(dir)
                .with_context(|| format!("creating database directory {}", dir.display()))?;
        }
    }
    private_file(path).with_context(|| format!("securing database file {}", path.display()))?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = std::path::PathBuf::from(side);
        if side.exists() {
            private_file(&side)?;
        }
    }
    Ok(())
}

/// Creates `dir` and missing parents with mode 0700 (an existing directory
/// is left as the operator made it): the data dir holds the database, the
/// master key and spooled uploads.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Creates `path` empty with mode 0600 if missing, else removes group and
/// world permissions from it.
fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}
