//! wacore's `AppSyncStore`: app-state sync keys, the ltHash state of each collection
//! (`critical_block`, `critical_unblock_low`, `regular_low`, `regular_high`,
//! `regular`) and the index MAC -> value MAC of every live record.

use std::collections::HashMap;

use async_trait::async_trait;
use wacore::appstate::hash::HashState;
use wacore::appstate::processor::AppStateMutationMAC;
use wacore::store::error::StoreError;
use wacore::store::traits::{AppStateSyncKey, AppSyncStore};

use super::{DeviceHandle, Result, db, hex, json_list};
use crate::db::dialect;

#[async_trait]
impl AppSyncStore for DeviceHandle {
    async fn get_sync_key(&self, key_id: &[u8]) -> Result<Option<AppStateSyncKey>> {
        let row: Option<(Vec<u8>, Vec<u8>, i64)> = on_pool!(self.db()?, |pool| sqlx::query_as(
            "SELECT key_data, fingerprint, timestamp FROM wa_app_state_keys
             WHERE session = $1 AND key_id = $2",
        )
        .bind(self.session())
        .bind(key_id)
        .fetch_optional(pool)
        .await)
        .map_err(db)?;
        Ok(
            row.map(|(key_data, fingerprint, timestamp)| AppStateSyncKey {
                key_data,
                fingerprint,
                timestamp,
            }),
        )
    }

    /// Upsert; the key set last becomes [`Self::get_latest_sync_key_id`]'s answer.
    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(
            "INSERT INTO wa_app_state_keys (session, key_id, key_data, fingerprint, timestamp, set_seq)
             VALUES ($1, $2, $3, $4, $5,
                     (SELECT COALESCE(MAX(set_seq), 0) + 1 FROM wa_app_state_keys WHERE session = $1))
             ON CONFLICT (session, key_id) DO UPDATE SET key_data = excluded.key_data,
                 fingerprint = excluded.fingerprint, timestamp = excluded.timestamp,
                 set_seq = excluded.set_seq",
        )
        .bind(self.session())
        .bind(key_id)
        .bind(&key.key_data)
        .bind(&key.fingerprint)
        .bind(key.timestamp)
        .execute(pool)
        .await.map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    /// `HashState::default()` (version 0: a full resync) when absent or unreadable.
    async fn get_version(&self, name: &str) -> Result<HashState> {
        let row: Option<(i64, Vec<u8>, String, i64)> = on_pool!(self.db()?, |pool| {
            sqlx::query_as(
            "SELECT version, hash, index_value_map, mac_mismatch_fatal FROM wa_app_state_versions
             WHERE session = $1 AND name = $2",
        )
        .bind(self.session())
        .bind(name)
        .fetch_optional(pool)
        .await
        })
        .map_err(db)?;
        let Some((version, hash, map, fatal)) = row else {
            return Ok(HashState::default());
        };
        let (Ok(version), Ok(hash), Ok(index_value_map)) = (
            u64::try_from(version),
            <[u8; 128]>::try_from(hash),
            serde_json::from_str::<HashMap<String, Vec<u8>>>(&map),
        ) else {
            tracing::warn!(collection = name, "unreadable app-state version: resyncing");
            return Ok(HashState::default());
        };
        Ok(HashState {
            version,
            hash,
            index_value_map,
            mac_mismatch_fatal: fatal != 0,
        })
    }

    async fn set_version(&self, name: &str, state: HashState) -> Result<()> {
        let version = i64::try_from(state.version).map_err(|_| {
            StoreError::Validation(format!("app-state version {} too large", state.version))
        })?;
        let map = serde_json::to_string(&state.index_value_map)
            .map_err(|e| StoreError::Serialization(Box::new(e)))?;
        on_pool!(self.db()?, |pool| sqlx::query(
            "INSERT INTO wa_app_state_versions
                 (session, name, version, hash, index_value_map, mac_mismatch_fatal)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (session, name) DO UPDATE SET version = excluded.version,
                 hash = excluded.hash, index_value_map = excluded.index_value_map,
                 mac_mismatch_fatal = excluded.mac_mismatch_fatal",
        )
        .bind(self.session())
        .bind(name)
        .bind(version)
        .bind(state.hash.as_slice())
        .bind(map)
        .bind(i64::from(state.mac_mismatch_fatal))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    /// Upserts on (collection, index MAC) in one transaction (a snapshot brings one row
    /// per live record: thousands).
    async fn put_mutation_macs(
        &self,
        name: &str,
        version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> Result<()> {
        if mutations.is_empty() {
            return Ok(());
        }
        let version = i64::try_from(version).map_err(|_| {
            StoreError::Validation(format!("app-state version {version} too large"))
        })?;
        let mut tx = self.tx().await?;
        for m in mutations {
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO wa_app_state_macs (session, name, index_mac, value_mac, version)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (session, name, index_mac) DO UPDATE SET
                     value_mac = excluded.value_mac, version = excluded.version",
            )
            .bind(self.session())
            .bind(name)
            .bind(&m.index_mac)
            .bind(&m.value_mac)
            .bind(version)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> Result<Option<Vec<u8>>> {
        on_pool!(self.db()?, |pool| sqlx::query_scalar(
            "SELECT value_mac FROM wa_app_state_macs
             WHERE session = $1 AND name = $2 AND index_mac = $3",
        )
        .bind(self.session())
        .bind(name)
        .bind(index_mac)
        .fetch_optional(pool)
        .await)
        .map_err(db)
    }

    /// One statement for the whole patch (the MACs travel as one JSON array of hex).
    async fn get_mutation_macs(
        &self,
        name: &str,
        index_macs: &[[u8; 32]],
    ) -> Result<HashMap<[u8; 32], Vec<u8>>> {
        if index_macs.is_empty() {
            return Ok(HashMap::new());
        }
        let wanted: Vec<String> = index_macs.iter().map(|m| hex(m)).collect();
        let sql = |pg| {
            format!(
                "SELECT index_mac, value_mac FROM wa_app_state_macs
                 WHERE session = $1 AND name = $2 AND index_mac IN {}",
                dialect::blob_set(pg, 3)
            )
        };
        let rows: Vec<(Vec<u8>, Vec<u8>)> = on_pool!(self.db()?, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(sql(PG))
        )
        .bind(self.session())
        .bind(name)
        .bind(json_list(&wanted)?)
        .fetch_all(pool)
        .await)
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .filter_map(|(index, value)| Some((<[u8; 32]>::try_from(index).ok()?, value)))
            .collect())
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> Result<()> {
        if index_macs.is_empty() {
            return Ok(());
        }
        let doomed: Vec<String> = index_macs.iter().map(|m| hex(m)).collect();
        let sql = |pg| {
            format!(
                "DELETE FROM wa_app_state_macs WHERE session = $1 AND name = $2 AND index_mac IN {}",
                dialect::blob_set(pg, 3)
            )
        };
        on_pool!(self.db()?, |pool| sqlx::query(sqlx::AssertSqlSafe(sql(PG)))
            .bind(self.session())
            .bind(name)
            .bind(json_list(&doomed)?)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn clear_mutation_macs(&self, name: &str) -> Result<()> {
        self.exec_keyed(
            "DELETE FROM wa_app_state_macs WHERE session = $1 AND name = $2",
            name,
        )
        .await
        .map(drop)
    }

    /// The key most recently set (as wacore's in-memory store answers). Imported
    /// keys are ordered by key id, so the highest id (the bundled SQLite store's
    /// answer) stays the latest until a new key arrives.
    async fn get_latest_sync_key_id(&self) -> Result<Option<Vec<u8>>> {
        on_pool!(self.db()?, |pool| sqlx::query_scalar(
            "SELECT key_id FROM wa_app_state_keys WHERE session = $1
             ORDER BY set_seq DESC LIMIT 1",
        )
        .bind(self.session())
        .fetch_optional(pool)
        .await)
        .map_err(db)
    }
}
