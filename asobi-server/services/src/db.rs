//! Storage: one connection pool over SQLite (the embedded default) or PostgreSQL, chosen by
//! URL, with the migrations under `migrations/` embedded in the binary.
//!
//! Queries go through sqlx's `Any` driver and are written once, with `$N` placeholders that
//! both backends accept; column types are kept to TEXT and BIGINT so rows decode the same way
//! on both. Migrations differ per dialect, so there are two folders. Concurrent starts against
//! one PostgreSQL are safe: sqlx's migrator holds a PostgreSQL advisory lock while it applies.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Transaction};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Which database the pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// A short name for logs and `/health`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no supported database.
    #[error("unsupported database URL `{0}`: use sqlite://FILE or postgres://…")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot connect to the {backend} database: {source}")]
    Connect {
        /// Backend name.
        backend: &'static str,
        /// Driver error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("cannot migrate the {backend} database: {source}")]
    Migrate {
        /// Backend name.
        backend: &'static str,
        /// Migrator error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

/// The storage handle shared by every service.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite's one write lock, taken in this process first: see [`Db::serialized`].
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A transaction from [`Db::serialized`]: use it as the connection (`&mut *tx`), then
/// [`commit`](WriteTx::commit). Dropped uncommitted, it rolls back.
pub struct WriteTx {
    /// Some until committed or rolled back.
    tx: Option<Transaction<'static, Any>>,
    /// SQLite's turn: released only once the transaction has ended.
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.tx
            .as_ref()
            .expect("a WriteTx holds its transaction until it is consumed")
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.tx
            .as_mut()
            .expect("a WriteTx holds its transaction until it is consumed")
    }
}

impl WriteTx {
    /// Commits.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self.tx.take() {
            Some(tx) => tx.commit().await,
            None => Ok(()),
        }
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        match self.tx.take() {
            Some(tx) => tx.rollback().await,
            None => Ok(()),
        }
    }
}

impl Drop for WriteTx {
    /// Dropped uncommitted (an early return): roll back, then hand the turn on. Dropping the
    /// sqlx transaction alone only queues the rollback, and the next writer could find the
    /// database still locked.
    fn drop(&mut self) {
        let (Some(tx), turn) = (self.tx.take(), self.turn.take()) else {
            return;
        };
        match (turn, tokio::runtime::Handle::try_current()) {
            (Some(turn), Ok(rt)) => {
                rt.spawn(async move {
                    let _ = tx.rollback().await;
                    drop(turn);
                });
            }
            _ => drop(tx),
        }
    }
}

impl Db {
    /// Opens a pool for `url`. A SQLite file is created if missing.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let mut url = format!("sqlite:{rest}");
            if !rest.contains("mode=") && !rest.contains(":memory:") {
                url.push(if rest.contains('?') { '&' } else { '?' });
                url.push_str("mode=rwc");
            }
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(DbError::UnsupportedUrl(redact(url)));
        };
        let connect_err = |source| DbError::Connect {
            backend: backend.name(),
            source,
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(connect_err)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let mut pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            // Durable at every commit in WAL mode, without an fsync per statement.
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(conn, "PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(options).await.map_err(connect_err)?;
        if backend == Backend::Sqlite {
            // A rollback journal serialises readers behind every writer and fsyncs each
            // commit: under a few hundred concurrent sign-ups inserts took over 500 ms and
            // then failed with `database is locked`. WAL lets readers run beside the one
            // writer. The mode is stored in the file, so this is a no-op after the first start.
            // Switching needs the file to itself: processes starting together on a new file
            // see `database is locked` until the first one has switched, so wait for it.
            let mut attempt = 0;
            while let Err(e) = sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await
            {
                attempt += 1;
                if attempt == 50 {
                    return Err(connect_err(e));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(Db {
            pool,
            backend,
            writer: Arc::default(),
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|source| DbError::Migrate {
                backend: self.backend.name(),
                source,
            })
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A write transaction in which every caller naming the same `key` runs alone, for a
    /// decision that needs a read before its write (the owner of a storage key, the number of
    /// a player's save slots). PostgreSQL takes a transaction-scoped advisory lock on the
    /// key's hash; SQLite begins `IMMEDIATE`, taking the database's one write lock up front
    /// (a deferred transaction that read first could not upgrade if another wrote meanwhile).
    ///
    /// On SQLite the callers of this process also queue on an in-process lock before
    /// `BEGIN IMMEDIATE`: they take the database's write lock in turn instead of polling it
    /// through SQLite's busy handler, whose sleeps (up to 100 ms each) made the tail of 32
    /// concurrent purchases 140 ms at p99 where the median was 7 ms.
    pub async fn serialized(&self, key: &str) -> Result<WriteTx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let turn = self.writer.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx: Some(tx),
                    turn: Some(turn),
                })
            }
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                Ok(WriteTx {
                    tx: Some(tx),
                    turn: None,
                })
            }
        }
    }

    /// Round-trips a trivial query; used by `/ready` and `/health`.
    pub async fn ping(&self) -> Result<Duration, sqlx::Error> {
        let started = std::time::Instant::now();
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(started.elapsed())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Drops credentials from a URL before it is logged.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
