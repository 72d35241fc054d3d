//! whatsapp-rust's device state in our database: our implementation of wacore's
//! storage traits (`SignalStore`, `AppSyncStore`, `ProtocolStore`, `MsgSecretStore`,
//! `DeviceStore`; together wacore's `Backend`) on the store's one sqlx pool.
//!
//! Each client gets a [`DeviceHandle`] = {pool, session}: every statement names the
//! session (first column of every primary key, see `0008_device_state.sql`), so
//! sessions never see each other's rows and wiping one is a single DELETE that
//! cascades. What whatsapp-rust relies on (see `shared/notes/whatsapp-rust-0.7-storage.md`):
//! each call is atomic on its own (batches run in one transaction, `BEGIN IMMEDIATE`
//! on SQLite),
//! `Ok` means committed, a read sees every earlier write, and concurrent calls of one
//! account are race-free (upserts, never select-then-insert).

mod account;
mod appsync;
mod import;
#[cfg(test)]
mod import_tests;
mod msg_secret;
mod protocol;
mod signal;

pub use import::{ImportReport, LegacyDeviceDb};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use wacontacts_core::session::SessionName;
use wacore::store::error::StoreError;

use crate::{Pool, Store, Tx};

/// The result type of wacore's storage traits.
type Result<T> = std::result::Result<T, StoreError>;

/// Device state of every session (the `wa_*` tables). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Devices {
    pool: Pool,
}

impl Store {
    /// Device state of every session, on this store's pool.
    pub fn devices(&self) -> Devices {
        Devices {
            pool: self.pool().clone(),
        }
    }
}

impl Devices {
    /// The backend of one session's client: give it to `Bot::builder().with_backend`.
    /// Each call returns a fresh handle; close it with [`DeviceHandle::close`] once its
    /// client has ended, so the library's detached tasks cannot write after a wipe.
    pub fn handle(&self, session: &SessionName) -> DeviceHandle {
        DeviceHandle {
            pool: self.pool.clone(),
            session: Arc::from(session.as_str()),
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Deletes every device row of `session` (keys, Signal sessions, app-state, LID
    /// map ...): one DELETE of the account row, the rest cascades. Missing is fine.
    pub async fn wipe(&self, session: &SessionName) -> anyhow::Result<()> {
        on_pool!(&self.pool, |pool| sqlx::query(
            "DELETE FROM wa_device WHERE session = $1"
        )
        .bind(session.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("Failed to wipe a session's device state")?;
        Ok(())
    }

    /// Whether `session` has an account row (created at its first start, linked or not).
    pub async fn exists(&self, session: &SessionName) -> anyhow::Result<bool> {
        let found: Option<i32> = on_pool!(&self.pool, |pool| sqlx::query_scalar(
            "SELECT 1 FROM wa_device WHERE session = $1"
        )
        .bind(session.as_str())
        .fetch_optional(pool)
        .await)
        .context("Failed to read a session's device row")?;
        Ok(found.is_some())
    }

    /// Whether `session` is linked to an account: its device row knows its phone number.
    pub async fn is_linked(&self, session: &SessionName) -> anyhow::Result<bool> {
        let found: Option<i32> = on_pool!(&self.pool, |pool| sqlx::query_scalar(
            "SELECT 1 FROM wa_device WHERE session = $1 AND pn <> ''"
        )
        .bind(session.as_str())
        .fetch_optional(pool)
        .await)
        .context("Failed to read a session's device row")?;
        Ok(found.is_some())
    }

    /// Names of the sessions with a device row (linked, or linking), sorted. Rows whose
    /// name is not a valid session name (none are written) are skipped.
    pub async fn sessions(&self) -> anyhow::Result<Vec<SessionName>> {
        let names: Vec<String> = on_pool!(&self.pool, |pool| sqlx::query_scalar(
            "SELECT session FROM wa_device ORDER BY session"
        )
        .fetch_all(pool)
        .await)
        .context("Failed to list device rows")?;
        Ok(names
            .iter()
            .filter_map(|n| SessionName::parse(n).ok())
            .collect())
    }
}

/// One session's device state: what one whatsapp-rust client reads and writes.
#[derive(Clone, Debug)]
pub struct DeviceHandle {
    pool: Pool,
    session: Arc<str>,
    /// Set by [`DeviceHandle::close`]; shared by the clones the client holds.
    closed: Arc<AtomicBool>,
}

impl DeviceHandle {
    /// Refuses every further call (an error, which the library logs or retries). Called
    /// once the client has ended and flushed: its detached tasks (sweeps, LID
    /// persistence) must not write into a wiped or handed-over account.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// The pool, unless the handle was closed.
    fn db(&self) -> Result<&Pool> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Connection(
                format!("device state of session {} is closed", self.session).into(),
            ));
        }
        Ok(&self.pool)
    }

    /// A write transaction; on SQLite it holds the write lock from its first statement,
    /// so a read-then-write cannot deadlock on the lock upgrade.
    async fn tx(&self) -> Result<Tx> {
        self.db()?.write_tx().await.map_err(db)
    }

    fn session(&self) -> &str {
        &self.session
    }

    /// Runs a retention sweep `sql` (`$1` = session, `$2`… = `cutoffs`); returns the
    /// rows deleted.
    async fn sweep(&self, sql: &'static str, cutoffs: &[i64]) -> Result<u32> {
        let done = on_pool!(self.db()?, |pool| {
            let mut query = sqlx::query(sql).bind(self.session());
            for cutoff in cutoffs {
                query = query.bind(*cutoff);
            }
            query.execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(db)?;
        Ok(u32::try_from(done).unwrap_or(u32::MAX))
    }
}

/// A database error, with its source kept: "database is locked" stays in the chain
/// that `StoreError::is_database_busy_or_locked` searches (app-state sync retries on it).
/// PostgreSQL's transient conflicts (serialization failure 40001, deadlock 40P01,
/// lock not available 55P03) say "busy" so that the library retries them alike.
fn db(e: sqlx::Error) -> StoreError {
    const TRANSIENT: [&str; 3] = ["40001", "40P01", "55P03"];
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned());
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Connection(Box::new(e))
        }
        e if code.as_deref().is_some_and(|c| TRANSIENT.contains(&c)) => StoreError::Database(
            format!("database is busy ({}): {e}", code.unwrap_or_default()).into(),
        ),
        e => StoreError::Database(Box::new(e)),
    }
}

/// A stored integer that must fit the trait's `u32` (prekey ids, registration ids).
fn to_u32(value: i64, what: &str) -> Result<u32> {
    u32::try_from(value).map_err(|_| StoreError::Validation(format!("{what} {value} is not a u32")))
}

/// Lowercase hex of `bytes`, to pass a set of blobs as one JSON array (`unhex` in SQL).
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A JSON array of `items`, bound as one parameter and read with `json_each`: sets of
/// any size in one statement, no variable limit, no chunking.
fn json_list<T: serde::Serialize>(items: &[T]) -> Result<String> {
    serde_json::to_string(items).map_err(|e| StoreError::Serialization(Box::new(e)))
}

#[cfg(test)]
mod tests;
