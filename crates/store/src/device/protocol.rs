//! wacore's `ProtocolStore`: per-device sender-key status of groups, LID <-> phone
//! number mappings (bare user digits), retry base keys, device lists, group metadata,
//! privacy (tc) tokens and sent messages kept for retries. The pending-inbound buffer
//! keeps wacore's defaults: it is used only with an inbound durability hook, which we
//! do not set.

use async_trait::async_trait;
use wacore::store::error::StoreError;
use wacore::store::traits::{
    DeviceInfo, DeviceListRecord, LidPnMappingEntry, ProtocolStore, TcTokenEntry,
};

use super::{DeviceHandle, Result, db, json_list, to_u32};
use crate::DbRow;
use crate::db::dialect;

const PUT_LID: &str = "INSERT INTO wa_lid_pn
         (session, lid, phone_number, created_at, updated_at, learning_source)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (session, lid) DO UPDATE SET phone_number = excluded.phone_number,
         updated_at = excluded.updated_at, learning_source = excluded.learning_source";
const PUT_DEVICES: &str =
    "INSERT INTO wa_device_lists (session, \"user\", devices, timestamp, phash, raw_id)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (session, \"user\") DO UPDATE SET devices = excluded.devices,
         timestamp = excluded.timestamp, phash = excluded.phash, raw_id = excluded.raw_id";
const LID_COLUMNS: &str = "lid, phone_number, created_at, updated_at, learning_source";

fn lid_entry(row: &impl DbRow) -> Result<LidPnMappingEntry> {
    Ok(LidPnMappingEntry {
        lid: row.try_get("lid").map_err(db)?,
        phone_number: row.try_get("phone_number").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
        learning_source: row.try_get("learning_source").map_err(db)?,
    })
}

impl DeviceHandle {
    async fn put_lid_rows(&self, entries: &[LidPnMappingEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.tx().await?;
        for e in entries {
            on_tx!(&mut tx, |c| sqlx::query(PUT_LID)
                .bind(self.session())
                .bind(&e.lid)
                .bind(&e.phone_number)
                .bind(e.created_at)
                .bind(e.updated_at)
                .bind(&e.learning_source)
                .execute(&mut **c)
                .await
                .map(|r| r.rows_affected()))
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn put_device_lists(&self, records: &[DeviceListRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.tx().await?;
        for r in records {
            let devices = json_list(&r.devices)?;
            on_tx!(&mut tx, |c| sqlx::query(PUT_DEVICES)
                .bind(self.session())
                .bind(&r.user)
                .bind(devices)
                .bind(r.timestamp)
                .bind(&r.phash)
                .bind(r.raw_id.map(i64::from))
                .execute(&mut **c)
                .await
                .map(|r| r.rows_affected()))
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }
}

#[async_trait]
impl ProtocolStore for DeviceHandle {
    async fn get_sender_key_devices(&self, group_jid: &str) -> Result<Vec<(String, bool)>> {
        let rows: Vec<(String, i64)> = on_pool!(self.db()?, |pool| sqlx::query_as(
            "SELECT device_jid, has_key FROM wa_sender_key_devices
             WHERE session = $1 AND group_jid = $2 ORDER BY device_jid",
        )
        .bind(self.session())
        .bind(group_jid)
        .fetch_all(pool)
        .await)
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(device, has_key)| (device, has_key != 0))
            .collect())
    }

    async fn set_sender_key_status(&self, group_jid: &str, entries: &[(&str, bool)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.tx().await?;
        for (device_jid, has_key) in entries {
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO wa_sender_key_devices (session, group_jid, device_jid, has_key)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (session, group_jid, device_jid) DO UPDATE SET has_key = excluded.has_key",
            )
            .bind(self.session())
            .bind(group_jid)
            .bind(*device_jid)
            .bind(i64::from(*has_key))
            .execute(&mut **c)
            .await.map(|r| r.rows_affected()))
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> Result<()> {
        self.exec_keyed(
            "DELETE FROM wa_sender_key_devices WHERE session = $1 AND group_jid = $2",
            group_jid,
        )
        .await
        .map(drop)
    }

    /// Deletes the given device JIDs from every group of this session.
    async fn delete_sender_key_device_rows(&self, device_jids: &[&str]) -> Result<()> {
        if device_jids.is_empty() {
            return Ok(());
        }
        let sql = |pg| {
            format!(
                "DELETE FROM wa_sender_key_devices WHERE session = $1 AND device_jid IN {}",
                dialect::text_set(pg, 2)
            )
        };
        on_pool!(self.db()?, |pool| sqlx::query(sqlx::AssertSqlSafe(sql(PG)))
            .bind(self.session())
            .bind(json_list(device_jids)?)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn clear_all_sender_key_devices(&self) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(
            "DELETE FROM wa_sender_key_devices WHERE session = $1"
        )
        .bind(self.session())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn get_lid_mapping(&self, lid: &str) -> Result<Option<LidPnMappingEntry>> {
        let sql = lid_select(
            LID_COLUMNS,
            "FROM wa_lid_pn WHERE session = $1 AND lid = $2",
        );
        on_pool!(self.db()?, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.session())
            .bind(lid)
            .fetch_optional(pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(lid_entry)
            .transpose())
    }

    /// The newest mapping by `updated_at` (several LIDs may map to one number).
    async fn get_pn_mapping(&self, phone: &str) -> Result<Option<LidPnMappingEntry>> {
        let sql = lid_select(
            LID_COLUMNS,
            "FROM wa_lid_pn WHERE session = $1 AND phone_number = $2
             ORDER BY updated_at DESC, lid DESC LIMIT 1",
        );
        on_pool!(self.db()?, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.session())
            .bind(phone)
            .fetch_optional(pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(lid_entry)
            .transpose())
    }

    /// Upsert on the LID, keeping `created_at`.
    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> Result<()> {
        self.put_lid_rows(std::slice::from_ref(entry)).await
    }

    async fn put_lid_mappings(&self, entries: &[LidPnMappingEntry]) -> Result<()> {
        self.put_lid_rows(entries).await
    }

    async fn get_all_lid_mappings(&self) -> Result<Vec<LidPnMappingEntry>> {
        let sql = lid_select(LID_COLUMNS, "FROM wa_lid_pn WHERE session = $1");
        on_pool!(self.db()?, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.session())
            .fetch_all(pool)
            .await
            .map_err(db)?
            .iter()
            .map(lid_entry)
            .collect())
    }

    async fn save_base_key(&self, address: &str, message_id: &str, base_key: &[u8]) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(
            "INSERT INTO wa_base_keys (session, address, message_id, base_key) VALUES ($1, $2, $3, $4)
             ON CONFLICT (session, address, message_id) DO UPDATE SET base_key = excluded.base_key",
        )
        .bind(self.session())
        .bind(address)
        .bind(message_id)
        .bind(base_key)
        .execute(pool)
        .await.map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> Result<bool> {
        on_pool!(self.db()?, |pool| sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM wa_base_keys WHERE session = $1 AND address = $2
                 AND message_id = $3 AND base_key = $4)",
        )
        .bind(self.session())
        .bind(address)
        .bind(message_id)
        .bind(current_base_key)
        .fetch_one(pool)
        .await)
        .map_err(db)
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(
            "DELETE FROM wa_base_keys WHERE session = $1 AND address = $2 AND message_id = $3",
        )
        .bind(self.session())
        .bind(address)
        .bind(message_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> Result<()> {
        self.put_device_lists(std::slice::from_ref(&record)).await
    }

    async fn update_device_lists(&self, records: Vec<DeviceListRecord>) -> Result<()> {
        self.put_device_lists(&records).await
    }

    async fn get_devices(&self, user: &str) -> Result<Option<DeviceListRecord>> {
        let row: Option<(String, i64, Option<String>, Option<i64>)> =
            on_pool!(self.db()?, |pool| sqlx::query_as(
                "SELECT devices, timestamp, phash, raw_id FROM wa_device_lists
             WHERE session = $1 AND \"user\" = $2",
            )
            .bind(self.session())
            .bind(user)
            .fetch_optional(pool)
            .await)
            .map_err(db)?;
        let Some((devices, timestamp, phash, raw_id)) = row else {
            return Ok(None);
        };
        let devices: Vec<DeviceInfo> =
            serde_json::from_str(&devices).map_err(|e| StoreError::Serialization(Box::new(e)))?;
        Ok(Some(DeviceListRecord {
            user: user.to_string(),
            devices,
            timestamp,
            phash,
            raw_id: raw_id.map(|r| to_u32(r, "raw id")).transpose()?,
        }))
    }

    async fn delete_devices(&self, user: &str) -> Result<()> {
        self.exec_keyed(
            "DELETE FROM wa_device_lists WHERE session = $1 AND \"user\" = $2",
            user,
        )
        .await
        .map(drop)
    }

    async fn get_group_metadata(&self, group_jid: &str) -> Result<Option<Vec<u8>>> {
        self.blob_keyed(
            "SELECT info FROM wa_group_metadata WHERE session = $1 AND group_jid = $2",
            group_jid,
        )
        .await
    }

    async fn put_group_metadata(&self, group_jid: &str, blob: &[u8]) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(
            "INSERT INTO wa_group_metadata (session, group_jid, info) VALUES ($1, $2, $3)
             ON CONFLICT (session, group_jid) DO UPDATE SET info = excluded.info",
        )
        .bind(self.session())
        .bind(group_jid)
        .bind(blob)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn delete_group_metadata(&self, group_jid: &str) -> Result<()> {
        self.exec_keyed(
            "DELETE FROM wa_group_metadata WHERE session = $1 AND group_jid = $2",
            group_jid,
        )
        .await
        .map(drop)
    }

    async fn get_tc_token(&self, jid: &str) -> Result<Option<TcTokenEntry>> {
        let row: Option<(Vec<u8>, i64, Option<i64>)> = on_pool!(self.db()?, |pool| sqlx::query_as(
            "SELECT token, token_timestamp, sender_timestamp FROM wa_tc_tokens
             WHERE session = $1 AND jid = $2",
        )
        .bind(self.session())
        .bind(jid)
        .fetch_optional(pool)
        .await)
        .map_err(db)?;
        Ok(
            row.map(|(token, token_timestamp, sender_timestamp)| TcTokenEntry {
                token,
                token_timestamp,
                sender_timestamp,
            }),
        )
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(
            "INSERT INTO wa_tc_tokens (session, jid, token, token_timestamp, sender_timestamp)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (session, jid) DO UPDATE SET token = excluded.token,
                 token_timestamp = excluded.token_timestamp,
                 sender_timestamp = excluded.sender_timestamp",
        )
        .bind(self.session())
        .bind(jid)
        .bind(&entry.token)
        .bind(entry.token_timestamp)
        .bind(entry.sender_timestamp)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn delete_tc_token(&self, jid: &str) -> Result<()> {
        self.exec_keyed(
            "DELETE FROM wa_tc_tokens WHERE session = $1 AND jid = $2",
            jid,
        )
        .await
        .map(drop)
    }

    async fn get_all_tc_token_jids(&self) -> Result<Vec<String>> {
        on_pool!(self.db()?, |pool| sqlx::query_scalar(
            "SELECT jid FROM wa_tc_tokens WHERE session = $1 ORDER BY jid"
        )
        .bind(self.session())
        .fetch_all(pool)
        .await)
        .map_err(db)
    }

    /// Deletes rows whose received token is empty or older than `token_cutoff` AND whose
    /// sender timestamp is null or older than `sender_cutoff`.
    async fn delete_expired_tc_tokens(&self, token_cutoff: i64, sender_cutoff: i64) -> Result<u32> {
        self.sweep(
            "DELETE FROM wa_tc_tokens WHERE session = $1
               AND (length(token) = 0 OR token_timestamp < $2)
               AND (sender_timestamp IS NULL OR sender_timestamp < $3)",
            &[token_cutoff, sender_cutoff],
        )
        .await
    }

    /// One upsert: moves `sender_timestamp` forward only, keeps the token; a new row
    /// has an empty token stamped `ts`.
    async fn touch_tc_token_sender_timestamp(
        &self,
        jid: &str,
        sender_timestamp: i64,
    ) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(
            "INSERT INTO wa_tc_tokens (session, jid, token, token_timestamp, sender_timestamp)
             VALUES ($1, $2, $4, $3, $3)
             ON CONFLICT (session, jid) DO UPDATE SET sender_timestamp = CASE
                 WHEN wa_tc_tokens.sender_timestamp IS NULL
                   OR excluded.sender_timestamp > wa_tc_tokens.sender_timestamp
                 THEN excluded.sender_timestamp ELSE wa_tc_tokens.sender_timestamp END",
        )
        .bind(self.session())
        .bind(jid)
        .bind(sender_timestamp)
        .bind(&[][..] as &[u8])
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    /// One upsert, newer wins: writes only when the stored token is empty or not newer;
    /// keeps `sender_timestamp`.
    async fn store_received_tc_token(
        &self,
        jid: &str,
        token: &[u8],
        token_timestamp: i64,
    ) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(
            "INSERT INTO wa_tc_tokens (session, jid, token, token_timestamp, sender_timestamp)
             VALUES ($1, $2, $3, $4, NULL)
             ON CONFLICT (session, jid) DO UPDATE SET token = excluded.token,
                 token_timestamp = excluded.token_timestamp
             WHERE length(wa_tc_tokens.token) = 0
                OR excluded.token_timestamp >= wa_tc_tokens.token_timestamp",
        )
        .bind(self.session())
        .bind(jid)
        .bind(token)
        .bind(token_timestamp)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
    ) -> Result<()> {
        on_pool!(self.db()?, |pool| sqlx::query(
            "INSERT INTO wa_sent_messages (session, chat_jid, message_id, payload, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (session, chat_jid, message_id) DO UPDATE SET
                 payload = excluded.payload, created_at = excluded.created_at",
        )
        .bind(self.session())
        .bind(chat_jid)
        .bind(message_id)
        .bind(payload)
        .bind(crate::now_ms() / 1000)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db)?;
        Ok(())
    }

    /// Read and delete in one statement: a retry is served once.
    async fn take_sent_message(&self, chat_jid: &str, message_id: &str) -> Result<Option<Vec<u8>>> {
        on_pool!(self.db()?, |pool| sqlx::query_scalar(
            "DELETE FROM wa_sent_messages WHERE session = $1 AND chat_jid = $2 AND message_id = $3
             RETURNING payload",
        )
        .bind(self.session())
        .bind(chat_jid)
        .bind(message_id)
        .fetch_optional(pool)
        .await)
        .map_err(db)
    }

    /// `cutoff_timestamp` in Unix seconds (rows are stamped in seconds on store).
    async fn delete_expired_sent_messages(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.sweep(
            "DELETE FROM wa_sent_messages WHERE session = $1 AND created_at < $2",
            &[cutoff_timestamp],
        )
        .await
    }
}

/// `SELECT {columns} {rest}`: the LID queries share their column list.
fn lid_select(columns: &str, rest: &str) -> String {
    format!("SELECT {columns} {rest}")
}
