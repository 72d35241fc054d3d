//! wacore's `SignalStore`: peer identity keys, Signal sessions, one-time and signed
//! prekeys, group sender keys. Blobs are opaque and stored byte-exact (session and
//! sender-key records carry local metadata after the protobuf). Addresses look like
//! `5511987650001:3@c.us.0` or `100000012345678@lid.0`; sender keys are
//! `{group}:{sender address}`.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use wacore::store::error::StoreError;
use wacore::store::traits::SignalStore;

use super::{DeviceHandle, Result, db, json_list, to_u32};
use crate::db::dialect;

const PUT_IDENTITY: &str = "INSERT INTO wa_identities (session, address, key) VALUES ($1, $2, $3)
     ON CONFLICT (session, address) DO UPDATE SET key = excluded.key";
const PUT_SESSION: &str = "INSERT INTO wa_sessions (session, address, record) VALUES ($1, $2, $3)
     ON CONFLICT (session, address) DO UPDATE SET record = excluded.record";
const PUT_PREKEY: &str = "INSERT INTO wa_prekeys (session, id, record, uploaded) VALUES ($1, $2, $3, $4)
     ON CONFLICT (session, id) DO UPDATE SET record = excluded.record, uploaded = excluded.uploaded";
const PUT_SENDER_KEY: &str =
    "INSERT INTO wa_sender_keys (session, address, record) VALUES ($1, $2, $3)
     ON CONFLICT (session, address) DO UPDATE SET record = excluded.record";

impl DeviceHandle {
    /// Upserts `rows` of (text key, blob) with `sql` (`$1` session, `$2` key, `$3`
    /// blob) in one transaction: the batch is all or nothing.
    pub(super) async fn put_blobs<K: AsRef<str>, V: AsRef<[u8]>>(
        &self,
        sql: &'static str,
        rows: &[(K, V)],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.tx().await?;
        for (key, blob) in rows {
            on_tx!(&mut tx, |c| sqlx::query(sql)
                .bind(self.session())
                .bind(key.as_ref())
                .bind(blob.as_ref())
                .execute(&mut **c)
                .await
                .map(|r| r.rows_affected()))
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// Runs one statement binding the session and `key`.
    pub(super) async fn exec_keyed(&self, sql: &'static str, key: &str) -> Result<u64> {
        let done = on_pool!(self.db()?, |pool| sqlx::query(sql)
            .bind(self.session())
            .bind(key)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(done)
    }

    /// Reads one blob by session and `key`.
    pub(super) async fn blob_keyed(&self, sql: &'static str, key: &str) -> Result<Option<Vec<u8>>> {
        on_pool!(self.db()?, |pool| sqlx::query_scalar(sql)
            .bind(self.session())
            .bind(key)
            .fetch_optional(pool)
            .await)
        .map_err(db)
    }

    /// Reads one blob by session and integer `id`.
    async fn blob_by_id(&self, sql: &'static str, id: u32) -> Result<Option<Vec<u8>>> {
        on_pool!(self.db()?, |pool| sqlx::query_scalar(sql)
            .bind(self.session())
            .bind(i64::from(id))
            .fetch_optional(pool)
            .await)
        .map_err(db)
    }

    /// Runs one statement binding the session and integer `id`.
    async fn exec_by_id(&self, sql: &'static str, id: u32) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(sql)
            .bind(self.session())
            .bind(i64::from(id))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl SignalStore for DeviceHandle {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> Result<()> {
        self.put_blobs(PUT_IDENTITY, &[(address, key)]).await
    }

    async fn put_identities_batch(&self, identities: &[(Arc<str>, [u8; 32])]) -> Result<()> {
        self.put_blobs(PUT_IDENTITY, identities).await
    }

    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>> {
        let key = self
            .blob_keyed(
                "SELECT key FROM wa_identities WHERE session = $1 AND address = $2",
                address,
            )
            .await?;
        key.map(|k| {
            let len = k.len();
            <[u8; 32]>::try_from(k)
                .map_err(|_| StoreError::Validation(format!("identity key of {len} bytes, not 32")))
        })
        .transpose()
    }

    async fn delete_identity(&self, address: &str) -> Result<()> {
        self.exec_keyed(
            "DELETE FROM wa_identities WHERE session = $1 AND address = $2",
            address,
        )
        .await
        .map(drop)
    }

    async fn get_session(&self, address: &str) -> Result<Option<Bytes>> {
        let record = self
            .blob_keyed(
                "SELECT record FROM wa_sessions WHERE session = $1 AND address = $2",
                address,
            )
            .await?;
        Ok(record.map(Bytes::from))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> Result<()> {
        self.put_blobs(PUT_SESSION, &[(address, session)]).await
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> Result<()> {
        self.put_blobs(PUT_SESSION, sessions).await
    }

    async fn delete_session(&self, address: &str) -> Result<()> {
        self.exec_keyed(
            "DELETE FROM wa_sessions WHERE session = $1 AND address = $2",
            address,
        )
        .await
        .map(drop)
    }

    async fn has_session(&self, address: &str) -> Result<bool> {
        on_pool!(self.db()?, |pool| sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM wa_sessions WHERE session = $1 AND address = $2)",
        )
        .bind(self.session())
        .bind(address)
        .fetch_one(pool)
        .await)
        .map_err(db)
    }

    /// True when a Signal session or identity exists for any device of `user` (bare
    /// user part): an address that starts with `user:` or `user@`. Two range scans on
    /// the primary key (`user:` <= a < `user;` and `user@` <= a < `userA`, the next
    /// byte up), so no LIKE escaping is needed and the index is used.
    async fn has_signal_state_for_user(&self, user: &str) -> Result<bool> {
        let (colon, colon_end) = (format!("{user}:"), format!("{user};"));
        let (at, at_end) = (format!("{user}@"), format!("{user}A"));
        on_pool!(self.db()?, |pool| sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM wa_sessions WHERE session = $1
                 AND ((address >= $2 AND address < $3) OR (address >= $4 AND address < $5)))
             OR EXISTS (SELECT 1 FROM wa_identities WHERE session = $1
                 AND ((address >= $2 AND address < $3) OR (address >= $4 AND address < $5)))",
        )
        .bind(self.session())
        .bind(colon)
        .bind(colon_end)
        .bind(at)
        .bind(at_end)
        .fetch_one(pool)
        .await)
        .map_err(db)
    }

    async fn store_prekey(&self, id: u32, record: &[u8], uploaded: bool) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(PUT_PREKEY)
            .bind(self.session())
            .bind(i64::from(id))
            .bind(record)
            .bind(i64::from(uploaded))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], uploaded: bool) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut tx = self.tx().await?;
        for (id, record) in keys {
            on_tx!(&mut tx, |c| sqlx::query(PUT_PREKEY)
                .bind(self.session())
                .bind(i64::from(*id))
                .bind(record.as_ref())
                .bind(i64::from(uploaded))
                .execute(&mut **c)
                .await
                .map(|r| r.rows_affected()))
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn load_prekey(&self, id: u32) -> Result<Option<Bytes>> {
        let record = self
            .blob_by_id(
                "SELECT record FROM wa_prekeys WHERE session = $1 AND id = $2",
                id,
            )
            .await?;
        Ok(record.map(Bytes::from))
    }

    /// The ids that exist, in one statement whatever the count (up to 65,535 ids).
    async fn load_prekeys_batch(&self, ids: &[u32]) -> Result<Vec<(u32, Bytes)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = |pg| {
            format!(
                "SELECT id, record FROM wa_prekeys WHERE session = $1 AND id IN {}",
                dialect::int_set(pg, 2)
            )
        };
        let rows: Vec<(i64, Vec<u8>)> = on_pool!(self.db()?, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(sql(PG))
        )
        .bind(self.session())
        .bind(json_list(ids)?)
        .fetch_all(pool)
        .await)
        .map_err(db)?;
        rows.into_iter()
            .map(|(id, record)| Ok((to_u32(id, "prekey id")?, Bytes::from(record))))
            .collect()
    }

    /// UPDATE only: a prekey consumed (deleted) meanwhile never comes back.
    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = |pg| {
            format!(
                "UPDATE wa_prekeys SET uploaded = 1 WHERE session = $1 AND id IN {}",
                dialect::int_set(pg, 2)
            )
        };
        on_pool!(self.db()?, |pool| sqlx::query(sqlx::AssertSqlSafe(sql(PG)))
            .bind(self.session())
            .bind(json_list(ids)?)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn remove_prekey(&self, id: u32) -> Result<()> {
        self.exec_by_id("DELETE FROM wa_prekeys WHERE session = $1 AND id = $2", id)
            .await
    }

    async fn get_max_prekey_id(&self) -> Result<u32> {
        let max: i64 = on_pool!(self.db()?, |pool| sqlx::query_scalar(
            "SELECT COALESCE(MAX(id), 0) FROM wa_prekeys WHERE session = $1"
        )
        .bind(self.session())
        .fetch_one(pool)
        .await)
        .map_err(db)?;
        to_u32(max, "prekey id")
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(
            "INSERT INTO wa_signed_prekeys (session, id, record) VALUES ($1, $2, $3)
             ON CONFLICT (session, id) DO UPDATE SET record = excluded.record",
        )
        .bind(self.session())
        .bind(i64::from(id))
        .bind(record)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn load_signed_prekey(&self, id: u32) -> Result<Option<Vec<u8>>> {
        self.blob_by_id(
            "SELECT record FROM wa_signed_prekeys WHERE session = $1 AND id = $2",
            id,
        )
        .await
    }

    async fn load_all_signed_prekeys(&self) -> Result<Vec<(u32, Vec<u8>)>> {
        let rows: Vec<(i64, Vec<u8>)> = on_pool!(self.db()?, |pool| sqlx::query_as(
            "SELECT id, record FROM wa_signed_prekeys WHERE session = $1 ORDER BY id",
        )
        .bind(self.session())
        .fetch_all(pool)
        .await)
        .map_err(db)?;
        rows.into_iter()
            .map(|(id, record)| Ok((to_u32(id, "signed prekey id")?, record)))
            .collect()
    }

    async fn remove_signed_prekey(&self, id: u32) -> Result<()> {
        self.exec_by_id(
            "DELETE FROM wa_signed_prekeys WHERE session = $1 AND id = $2",
            id,
        )
        .await
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> Result<()> {
        self.put_blobs(PUT_SENDER_KEY, &[(address, record)]).await
    }

    async fn put_sender_keys_batch(&self, sender_keys: &[(Arc<str>, Bytes)]) -> Result<()> {
        self.put_blobs(PUT_SENDER_KEY, sender_keys).await
    }

    async fn get_sender_key(&self, address: &str) -> Result<Option<Vec<u8>>> {
        self.blob_keyed(
            "SELECT record FROM wa_sender_keys WHERE session = $1 AND address = $2",
            address,
        )
        .await
    }

    async fn delete_sender_key(&self, address: &str) -> Result<()> {
        self.exec_keyed(
            "DELETE FROM wa_sender_keys WHERE session = $1 AND address = $2",
            address,
        )
        .await
        .map(drop)
    }
}
