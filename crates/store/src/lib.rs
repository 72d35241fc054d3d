//! Persistence of wacontacts on sqlx: SQLite (the embedded default) or PostgreSQL (see
//! `db`: each statement written once, run on either). Every table is keyed by
//! session. Handlers never see SQL: they call the typed methods here.

// First: its macros (`on_pool!`, `on_tx!`) serve the modules below.
#[macro_use]
mod db;

mod bulk;
mod check_queue;
mod checks;
mod contacts;
mod deliveries;
pub mod device;
mod leases;
mod page_index;
mod ports;
mod search;
mod sessions;
mod sink;
pub mod testing;
mod usernames;
mod webhooks;

pub use bulk::ImportedContact;
pub(crate) use contacts::{AddressBookRow, StoredContact};
pub use db::DatabaseUrl;
pub(crate) use db::{DbRow, Pool, Tx};

use std::path::Path;

use anyhow::Context;

/// The database of one deployment. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
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
        Self::open(&DatabaseUrl::in_dir(data_dir)?).await
    }

    /// Opens a database by URL (`sqlite://path?mode=rwc`, `sqlite::memory:`,
    /// `postgres://user:password@host/db`); errors never show the password.
    pub async fn open_url(url: &str) -> anyhow::Result<Self> {
        Self::open(&DatabaseUrl::parse(url)?).await
    }

    /// Opens the database `url` names and runs its backend's migrations.
    pub async fn open(url: &DatabaseUrl) -> anyhow::Result<Self> {
        Ok(Self {
            pool: db::connect(url).await?,
            page_index: Default::default(),
        })
    }

    /// Answers whether the database takes a trivial query (for `/health`).
    pub async fn ping(&self) -> anyhow::Result<()> {
        on_pool!(self.pool(), |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))
        .context("Failed to query the database")
    }

    /// Which backend this store runs on: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        on_pool!(self.pool(), |_pool| if PG { "postgres" } else { "sqlite" })
    }

    /// The pragmas in force, for tests and diagnostics: (journal_mode, foreign_keys).
    /// SQLite only (PostgreSQL has neither knob): `None` there.
    pub async fn pragmas(&self) -> anyhow::Result<Option<(String, bool)>> {
        let Pool::Sqlite(pool) = self.pool() else {
            return Ok(None);
        };
        let mut conn = pool.acquire().await?;
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await?;
        Ok(Some((journal, fk == 1)))
    }

    /// Closes the pool, waiting for connections to return (on shutdown).
    pub async fn close(&self) {
        on_pool!(self.pool(), |pool| pool.close().await)
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A transaction that writes. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`), so it waits its turn under the busy timeout instead of failing
    /// with "database is locked" when another writer committed after it first read.
    pub(crate) async fn write_tx(&self) -> anyhow::Result<Tx> {
        self.pool
            .write_tx()
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

/// Shared set-up of the store's unit tests: each test is written once, as
/// `async fn name(backend: Backend)`, and [`both_backends!`] runs it on SQLite and on
/// PostgreSQL, each run on a fresh database.
#[cfg(test)]
pub(crate) mod test_support {
    use wacontacts_core::session::{NewSession, SessionName};

    pub use crate::testing::{Backend, TestDatabase};

    use crate::Store;

    /// A fresh database of `backend` and the store on it; keep the database alive.
    pub async fn fresh_store(backend: Backend) -> (TestDatabase, Store) {
        let db = TestDatabase::new(backend).await.expect("a test database");
        let store = Store::open(db.url()).await.unwrap();
        (db, store)
    }

    /// A fresh store with one session named `name`; keep the database alive.
    pub async fn store_with_session(
        backend: Backend,
        name: &str,
    ) -> (TestDatabase, Store, SessionName) {
        let (db, store) = fresh_store(backend).await;
        let name = SessionName::parse(name).unwrap();
        store
            .create_session(&NewSession {
                name: name.clone(),
                config: serde_json::json!({}),
            })
            .await
            .unwrap();
        (db, store, name)
    }
}
