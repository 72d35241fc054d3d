//! Import of a session's `device.db` written by whatsapp-rust's bundled SQLite store
//! (`whatsapp-rust-sqlite-storage` 0.7, the layout before migration 0008), so that an
//! upgrade keeps every linked session linked: no new QR scan.
//!
//! The old file is ATTACHed to one pooled connection and every row of its account is
//! copied in one `BEGIN IMMEDIATE` transaction; most tables copy verbatim (Signal
//! blobs are opaque). Three columns need decoding: the device row (key pairs are
//! 64 B private ‖ public, `account` is protobuf), app-state keys and app-state
//! versions (small protobuf messages, read by [`Fields`]). The cached server
//! certificate chain is not imported: it is a cache, and the next connect simply uses
//! the full Noise XX handshake and stores it again. Afterwards the file (and its
//! `-wal`/`-shm`) is renamed to `*.imported`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use sqlx::pool::PoolConnection;
use sqlx::{Row, Sqlite, SqliteConnection};
use wacontacts_core::session::SessionName;
use wacore::libsignal::protocol::{KeyPair, PrivateKey, PublicKey};
use wacore::store::Device;
use wacore::store::device::DEVICE_PROPS;

use super::{Devices, account::encode};
use crate::Pool;

/// A legacy per-session device file: `{data_dir}/sessions/{name}/device.db`.
#[derive(Debug, Clone)]
pub struct LegacyDeviceDb {
    /// Path of the SQLite file.
    pub path: PathBuf,
}

/// What an import copied: rows per table, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Table name (ours) -> rows copied.
    pub rows: Vec<(&'static str, u64)>,
}

impl ImportReport {
    /// Rows copied from the table `table` (ours, e.g. `wa_sessions`).
    pub fn count(&self, table: &str) -> u64 {
        self.rows
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

/// The tables that copy verbatim: ours, the INSERT column list, the SELECT list over
/// the legacy table (`$1` = session, `$2` = the legacy account id).
const VERBATIM: &[(&str, &str)] = &[
    (
        "wa_identities",
        "INSERT INTO wa_identities (session, address, key)
         SELECT $1, address, key FROM legacy.identities WHERE device_id = $2",
    ),
    (
        "wa_sessions",
        "INSERT INTO wa_sessions (session, address, record)
         SELECT $1, address, record FROM legacy.sessions WHERE device_id = $2",
    ),
    (
        "wa_prekeys",
        "INSERT INTO wa_prekeys (session, id, record, uploaded)
         SELECT $1, id, key, uploaded FROM legacy.prekeys WHERE device_id = $2",
    ),
    (
        "wa_signed_prekeys",
        "INSERT INTO wa_signed_prekeys (session, id, record)
         SELECT $1, id, record FROM legacy.signed_prekeys WHERE device_id = $2",
    ),
    (
        "wa_sender_keys",
        "INSERT INTO wa_sender_keys (session, address, record)
         SELECT $1, address, record FROM legacy.sender_keys WHERE device_id = $2",
    ),
    (
        "wa_app_state_macs",
        "INSERT INTO wa_app_state_macs (session, name, index_mac, value_mac, version)
         SELECT $1, name, index_mac, value_mac, version
         FROM legacy.app_state_mutation_macs WHERE device_id = $2",
    ),
    (
        "wa_lid_pn",
        "INSERT INTO wa_lid_pn (session, lid, phone_number, created_at, updated_at, learning_source)
         SELECT $1, lid, phone_number, created_at, updated_at, learning_source
         FROM legacy.lid_pn_mapping WHERE device_id = $2",
    ),
    (
        "wa_base_keys",
        "INSERT INTO wa_base_keys (session, address, message_id, base_key)
         SELECT $1, address, message_id, base_key FROM legacy.base_keys WHERE device_id = $2",
    ),
    (
        "wa_device_lists",
        "INSERT INTO wa_device_lists (session, user, devices, timestamp, phash, raw_id)
         SELECT $1, user_id, devices_json, timestamp, phash, raw_id
         FROM legacy.device_registry WHERE device_id = $2",
    ),
    (
        "wa_sender_key_devices",
        "INSERT INTO wa_sender_key_devices (session, group_jid, device_jid, has_key)
         SELECT $1, group_jid, device_jid, has_key FROM legacy.sender_key_devices WHERE device_id = $2",
    ),
    (
        "wa_tc_tokens",
        "INSERT INTO wa_tc_tokens (session, jid, token, token_timestamp, sender_timestamp)
         SELECT $1, jid, token, token_timestamp, sender_timestamp
         FROM legacy.tc_tokens WHERE device_id = $2",
    ),
    (
        "wa_sent_messages",
        "INSERT INTO wa_sent_messages (session, chat_jid, message_id, payload, created_at)
         SELECT $1, chat_jid, message_id, payload, created_at
         FROM legacy.sent_messages WHERE device_id = $2",
    ),
    (
        "wa_group_metadata",
        "INSERT INTO wa_group_metadata (session, group_jid, info)
         SELECT $1, group_jid, info FROM legacy.group_metadata WHERE device_id = $2",
    ),
    (
        "wa_msg_secrets",
        "INSERT INTO wa_msg_secrets (session, chat, sender, msg_id, secret, expires_at, message_ts)
         SELECT $1, chat, sender, msg_id, secret, expires_at, message_ts
         FROM legacy.msg_secrets WHERE device_id = $2",
    ),
];

impl Devices {
    /// Copies the account of a legacy `device.db` into `session`'s rows, when
    /// `session` has no device row yet, then renames the file (and its `-wal`/`-shm`)
    /// to `*.imported` so it is never read again. `Ok(None)` when nothing was copied:
    /// the session already has rows (the file is then left where it is), or the file
    /// holds no account (it is renamed aside too). An error leaves both sides untouched
    /// (one transaction), so the next start tries again. SQLite only: the file is
    /// ATTACHed to our database; on PostgreSQL it is an error that says so.
    pub async fn import_legacy(
        &self,
        session: &SessionName,
        legacy: &LegacyDeviceDb,
    ) -> anyhow::Result<Option<ImportReport>> {
        if self.exists(session).await? {
            return Ok(None);
        }
        let path = legacy
            .path
            .to_str()
            .ok_or_else(|| anyhow!("device file path is not UTF-8"))?;
        let Pool::Sqlite(pool) = &self.pool else {
            anyhow::bail!(
                "{path} holds a session's keys from an older version; they import into the \
                 SQLite database only: on PostgreSQL, link the session again"
            );
        };
        let mut conn = pool.acquire().await?;
        sqlx::query("ATTACH DATABASE $1 AS legacy")
            .bind(path)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("Failed to open {path}"))?;
        let copied = copy(&mut conn, session).await;
        detach(conn).await;
        let copied = copied.with_context(|| format!("Failed to import {path}"))?;
        if copied.is_some() || !self.exists(session).await? {
            set_aside(&legacy.path)?;
        }
        Ok(copied)
    }
}

/// Detaches the legacy file; a connection that cannot is closed instead of going
/// back to the pool with the file attached.
async fn detach(mut conn: PoolConnection<Sqlite>) {
    if sqlx::query("DETACH DATABASE legacy")
        .execute(&mut *conn)
        .await
        .is_err()
    {
        let _ = conn.close().await;
    }
}

/// Renames `path`, `path-wal` and `path-shm` to `*.imported` (missing ones skipped).
fn set_aside(path: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        let to = PathBuf::from(format!("{}{suffix}.imported", path.display()));
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("Failed to rename {}", from.display()));
            }
        }
    }
    Ok(())
}

/// The copy, in one transaction on the connection that has the file attached.
async fn copy(
    conn: &mut SqliteConnection,
    session: &SessionName,
) -> anyhow::Result<Option<ImportReport>> {
    use sqlx::Connection;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM wa_device WHERE session = $1)")
            .bind(session.as_str())
            .fetch_one(&mut *tx)
            .await?;
    if exists {
        return Ok(None);
    }
    let Some(row) = sqlx::query("SELECT * FROM legacy.device ORDER BY id LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let legacy_id: i64 = row.try_get("id")?;
    let device = legacy_device(&row)?;
    sqlx::query(
        "INSERT INTO wa_device (session, pn, lid, device, updated_ms)
         VALUES ($1, $2, $3, $4, unixepoch('subsec') * 1000)",
    )
    .bind(session.as_str())
    .bind(
        device
            .pn
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    )
    .bind(
        device
            .lid
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    )
    .bind(encode(&device)?)
    .execute(&mut *tx)
    .await?;
    let mut report = ImportReport::default();
    report.rows.push(("wa_device", 1));
    for (table, sql) in VERBATIM {
        let done = sqlx::query(*sql)
            .bind(session.as_str())
            .bind(legacy_id)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("Failed to copy into {table}"))?;
        report.rows.push((table, done.rows_affected()));
    }
    report.rows.push((
        "wa_app_state_keys",
        copy_sync_keys(&mut tx, session, legacy_id).await?,
    ));
    report.rows.push((
        "wa_app_state_versions",
        copy_versions(&mut tx, session, legacy_id).await?,
    ));
    tx.commit().await?;
    Ok(Some(report))
}

/// App-state sync keys: protobuf `AppStateSyncKeyWire{1 key_data, 2 fingerprint,
/// 3 timestamp}`. A row that does not decode to a 32-byte key is skipped (the bundled
/// store treats it as absent too: the key is requested again). Ordered by key id, so
/// the highest id stays the latest, as the bundled store answered.
async fn copy_sync_keys(
    tx: &mut SqliteConnection,
    session: &SessionName,
    legacy_id: i64,
) -> anyhow::Result<u64> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT key_id, key_data FROM legacy.app_state_keys WHERE device_id = $1 ORDER BY key_id",
    )
    .bind(legacy_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut copied = 0;
    for (seq, (key_id, blob)) in rows.iter().enumerate() {
        let (mut key_data, mut fingerprint, mut timestamp) = (Vec::new(), Vec::new(), 0i64);
        for field in Fields(blob) {
            match field {
                Some((1, Value::Bytes(b))) => key_data = b.to_vec(),
                Some((2, Value::Bytes(b))) => fingerprint = b.to_vec(),
                Some((3, Value::Varint(v))) => timestamp = v as i64,
                Some(_) => {}
                None => key_data.clear(),
            }
        }
        if key_data.len() != 32 {
            tracing::warn!(session = %session, "skipping an unreadable app-state key");
            continue;
        }
        sqlx::query(
            "INSERT INTO wa_app_state_keys (session, key_id, key_data, fingerprint, timestamp, set_seq)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.as_str())
        .bind(key_id)
        .bind(key_data)
        .bind(fingerprint)
        .bind(timestamp)
        .bind(seq as i64 + 1)
        .execute(&mut *tx)
        .await?;
        copied += 1;
    }
    Ok(copied)
}

/// App-state versions: protobuf `HashStateWire{1 version, 2 hash (128 B), 3 map<string,
/// bytes>, 4 mac_mismatch_fatal}`. A row that does not decode is skipped: the
/// collection then resyncs from version 0, as the bundled store would.
async fn copy_versions(
    tx: &mut SqliteConnection,
    session: &SessionName,
    legacy_id: i64,
) -> anyhow::Result<u64> {
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT name, state_data FROM legacy.app_state_versions WHERE device_id = $1",
    )
    .bind(legacy_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut copied = 0;
    for (name, blob) in &rows {
        let (mut version, mut hash, mut fatal, mut ok) = (0u64, Vec::new(), false, true);
        let mut map: HashMap<String, Vec<u8>> = HashMap::new();
        for field in Fields(blob) {
            match field {
                Some((1, Value::Varint(v))) => version = v,
                Some((2, Value::Bytes(b))) => hash = b.to_vec(),
                Some((3, Value::Bytes(entry))) => {
                    let (mut k, mut v) = (String::new(), Vec::new());
                    for f in Fields(entry) {
                        match f {
                            Some((1, Value::Bytes(b))) => k = String::from_utf8_lossy(b).into(),
                            Some((2, Value::Bytes(b))) => v = b.to_vec(),
                            Some(_) => {}
                            None => ok = false,
                        }
                    }
                    map.insert(k, v);
                }
                Some((4, Value::Varint(v))) => fatal = v != 0,
                Some(_) => {}
                None => ok = false,
            }
        }
        if !ok || hash.len() != 128 || i64::try_from(version).is_err() {
            tracing::warn!(session = %session, collection = %name, "skipping an unreadable app-state version");
            continue;
        }
        sqlx::query(
            "INSERT INTO wa_app_state_versions
                 (session, name, version, hash, index_value_map, mac_mismatch_fatal)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.as_str())
        .bind(name)
        .bind(version as i64)
        .bind(hash)
        .bind(serde_json::to_string(&map)?)
        .bind(fatal)
        .execute(&mut *tx)
        .await?;
        copied += 1;
    }
    Ok(copied)
}

/// The legacy device row as wacore's `Device` (the bundled store's own decoding).
fn legacy_device(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<Device> {
    let key_pair = |column: &str| -> anyhow::Result<KeyPair> {
        let bytes: Vec<u8> = row.try_get(column)?;
        anyhow::ensure!(bytes.len() == 64, "{column}: {} bytes, not 64", bytes.len());
        let private =
            PrivateKey::deserialize(&bytes[..32]).map_err(|e| anyhow!("{column}: {e}"))?;
        let public = PublicKey::from_djb_public_key_bytes(&bytes[32..])
            .map_err(|e| anyhow!("{column}: {e}"))?;
        Ok(KeyPair::new(public, private))
    };
    let jid = |column: &str| -> anyhow::Result<_> {
        let text: String = row.try_get(column)?;
        Ok(if text.is_empty() {
            None
        } else {
            text.parse().ok()
        })
    };
    let u32_of = |column: &str| -> anyhow::Result<u32> {
        let v: i64 = row.try_get(column)?;
        u32::try_from(v).map_err(|_| anyhow!("{column}: {v} is not a u32"))
    };
    let account: Option<Vec<u8>> = row.try_get("account")?;
    let account = account
        .map(|a| wacore::store::device::account_serde::from_bytes(&a))
        .transpose()
        .map_err(|e| anyhow!("account: {e}"))?;
    let mut device = Device::new();
    device.pn = jid("pn")?;
    device.lid = jid("lid")?;
    device.registration_id = u32_of("registration_id")?;
    device.noise_key = key_pair("noise_key")?;
    device.identity_key = key_pair("identity_key")?;
    device.signed_pre_key = key_pair("signed_pre_key")?;
    device.signed_pre_key_id = u32_of("signed_pre_key_id")?;
    device.signed_pre_key_signature = row
        .try_get::<Vec<u8>, _>("signed_pre_key_signature")?
        .try_into()
        .map_err(|_| anyhow!("signed_pre_key_signature is not 64 bytes"))?;
    device.adv_secret_key = row
        .try_get::<Vec<u8>, _>("adv_secret_key")?
        .try_into()
        .map_err(|_| anyhow!("adv_secret_key is not 32 bytes"))?;
    device.account = account.map(Arc::new);
    device.push_name = row.try_get("push_name")?;
    device.app_version_primary = u32_of("app_version_primary")?;
    device.app_version_secondary = u32_of("app_version_secondary")?;
    device.app_version_tertiary = u32_of("app_version_tertiary").unwrap_or(0);
    device.app_version_last_fetched_ms = row.try_get("app_version_last_fetched_ms")?;
    device.device_props = Arc::new(DEVICE_PROPS.clone());
    device.edge_routing_info = row.try_get("edge_routing_info")?;
    device.props_hash = row.try_get("props_hash")?;
    device.next_pre_key_id = u32_of("next_pre_key_id")?;
    device.first_unupload_pre_key_id = u32_of("first_unupload_pre_key_id")?;
    device.server_has_prekeys = row.try_get("server_has_prekeys")?;
    device.nct_salt = row.try_get("nct_salt")?;
    device.server_cert_chain = None;
    device.login_counter = row.try_get("login_counter")?;
    device.lid_migrated = row.try_get("lid_migrated")?;
    device.last_signed_pre_key_rotation_ms = row.try_get("last_signed_pre_key_rotation_ms")?;
    device.read_receipts_disabled = row.try_get("read_receipts_disabled")?;
    Ok(device)
}

/// A protobuf field's value: varints and length-delimited bytes (fixed32/64 are
/// skipped; the three legacy messages use neither).
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skipped,
}

/// The fields of one protobuf message, in wire order; `None` for a malformed tail
/// (iteration then stops).
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn field(&mut self) -> Option<(u64, Value<'a>)> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => self.take(8).map(|_| Value::Skipped)?,
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                Value::Bytes(self.take(len)?)
            }
            5 => self.take(4).map(|_| Value::Skipped)?,
            _ => return None,
        };
        Some((key >> 3, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Option<(u64, Value<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        match self.field() {
            Some(f) => Some(Some(f)),
            None => {
                self.0 = &[];
                Some(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_protobuf_fields() {
        // key_data (1) = 32 x 0xAB, fingerprint (2) = [1, 2], timestamp (3) = 300.
        let mut blob = vec![0x0a, 32];
        blob.extend([0xAB; 32]);
        blob.extend([0x12, 2, 1, 2, 0x18, 0xAC, 0x02]);
        let fields: Vec<_> = Fields(&blob).collect();
        assert_eq!(fields.len(), 3);
        assert!(matches!(fields[0], Some((1, Value::Bytes(b))) if b == [0xAB; 32]));
        assert!(matches!(fields[1], Some((2, Value::Bytes(b))) if b == [1, 2]));
        assert!(matches!(fields[2], Some((3, Value::Varint(300)))));
        // Truncated: one malformed item, then the end.
        let fields: Vec<_> = Fields(&blob[..10]).collect();
        assert!(matches!(fields.as_slice(), [None]));
    }
}
