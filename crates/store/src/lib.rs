//! Persistence of wacontacts on sqlx. SQLite is the embedded default; every table is
//! keyed by session. Handlers never see SQL: they call the typed methods here.

mod bulk;
mod check_queue;
mod checks;
mod contacts;
pub mod device;
mod leases;
mod page_index;
mod ports;
mod search;
mod sessions;
mod sink;
mod usernames;
mod webhooks;

pub use bulk::ImportedContact;
pub(crate) use contacts::{AddressBookRow, StoredContact};

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The database of one deployment. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// Keys for deep pages of large listings (see `page_index`).
    page_index: std::sync::Arc<page_index::PageIndex>,
}

/// Outcome of a write that may target a missing row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    NotFound,
}

impl Store {
    /// Opens (creating if needed) `wacontacts.db` in `data_dir` and runs migrations.
    pub async fn open_in_dir(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("Failed to create data dir {}", data_dir.display()))?;
        let path = data_dir.join("wacontacts.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        Self::open_with(options).await
    }

    /// Opens a database by sqlx URL (`sqlite://path?mode=rwc`, `sqlite::memory:`).
    pub async fn open_url(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("Failed to parse database URL {url}"))?;
        Self::open_with(options).await
    }

    async fn open_with(options: SqliteConnectOptions) -> anyhow::Result<Self> {
        // WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // Reads map the file instead of copying pages into each connection's cache:
            // deep list pages walk ~1,000 index pages per 100k contacts.
            .pragma("mmap_size", "268435456");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .context("Failed to open the SQLite database")?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .context("Failed to run database migrations")?;
        Ok(Self {
            pool,
            page_index: Default::default(),
        })
    }

    /// Answers whether the database takes a trivial query (for `/health`).
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("Failed to query the database")?;
        Ok(())
    }

    /// The pragmas in force, for tests and diagnostics: (journal_mode, foreign_keys).
    pub async fn pragmas(&self) -> anyhow::Result<(String, bool)> {
        let mut conn = self.pool.acquire().await?;
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await?;
        Ok((journal, fk == 1))
    }

    /// Closes the pool, waiting for connections to return (on shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A transaction that writes: it takes SQLite's write lock up front (`BEGIN
    /// IMMEDIATE`), so it waits its turn under the busy timeout instead of failing
    /// with "database is locked" when another writer committed after it first read.
    pub(crate) async fn write_tx(
        &self,
    ) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("Failed to begin a write transaction")
    }

    pub(crate) fn page_index(&self) -> &page_index::PageIndex {
        &self.page_index
    }
}

/// Milliseconds since the Unix epoch; the one clock of stored timestamps.
pub(crate) fn now_ms() -> i64 {
    wacontacts_core::ports::unix_now_ms()
}

/// Shared set-up of the store's unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use wacontacts_core::session::SessionName;

    use wacontacts_core::session::NewSession;

    use crate::Store;

    /// A store in a fresh temp dir with one session named `name`; keep the dir alive.
    pub async fn store_with_session(name: &str) -> (tempfile::TempDir, Store, SessionName) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_dir(dir.path()).await.unwrap();
        let name = SessionName::parse(name).unwrap();
        store
            .create_session(&NewSession {
                name: name.clone(),
                config: serde_json::json!({}),
            })
            .await
            .unwrap();
        (dir, store, name)
    }
}
