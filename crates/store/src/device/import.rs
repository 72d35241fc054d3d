//! Import of a session's `device.db` written by whatsapp-rust's bundled SQLite store
//! (`whatsapp-rust-sqlite-storage` 0.7, the layout before migration 0008), so that an
//! upgrade keeps every linked session linked: no new QR scan. Works on both backends:
//! the old file is opened on its own read-only SQLite connection (its `-wal`, if the
//! old process left one, is read too), never attached to our database.
//!
//! Every row of the file's account is read in one read transaction of the file (one
//! consistent snapshot) and written in one write transaction of ours, in pages of
//! [`PAGE`] rows by `rowid` (multi-row INSERTs; memory stays bounded per page). Most
//! tables copy value for value (Signal blobs are opaque). Three need decoding: the
//! device row (key pairs are 64 B private ‖ public, `account` is protobuf), app-state
//! keys and app-state versions (small protobuf messages, read by [`Fields`]). The
//! cached server certificate chain is not imported: it is a cache, and the next
//! connect simply uses the full Noise XX handshake and stores it again. Afterwards the
//! file (and its `-wal`/`-shm`) is renamed to `*.imported`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{Connection, Row, SqliteConnection};
use wacontacts_core::session::SessionName;
use wacore::libsignal::protocol::{KeyPair, PrivateKey, PublicKey};
use wacore::store::Device;
use wacore::store::device::DEVICE_PROPS;

use super::Devices;
use super::account::{encode, jid_text};
use crate::Tx;

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

/// Rows read from the file and written to ours per statement: at most 6 values a
/// row, so 6,001 parameters (SQLite allows 32,766, PostgreSQL 65,535).
const PAGE: i64 = 1000;

/// How a column's value is read from the file and bound into ours (`NULL` kept).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Int,
    Blob,
}

/// One value read from the file.
#[derive(Debug)]
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Blob(Option<Vec<u8>>),
}

impl Kind {
    /// Column `i` of a row of the file.
    fn read(self, row: &SqliteRow, i: usize) -> sqlx::Result<Cell> {
        Ok(match self {
            Kind::Text => Cell::Text(row.try_get(i)?),
            Kind::Int => Cell::Int(row.try_get(i)?),
            Kind::Blob => Cell::Blob(row.try_get(i)?),
        })
    }
}

/// A table that copies value for value: ours, the legacy one, and the columns as
/// (ours, legacy, kind); every legacy table holds `device_id` (the account).
struct Verbatim {
    ours: &'static str,
    legacy: &'static str,
    columns: &'static [(&'static str, &'static str, Kind)],
}

const VERBATIM: &[Verbatim] = {
    use Kind::{Blob, Int, Text};
    &[
        Verbatim {
            ours: "wa_identities",
            legacy: "identities",
            columns: &[("address", "address", Text), ("key", "key", Blob)],
        },
        Verbatim {
            ours: "wa_sessions",
            legacy: "sessions",
            columns: &[("address", "address", Text), ("record", "record", Blob)],
        },
        Verbatim {
            ours: "wa_prekeys",
            legacy: "prekeys",
            columns: &[
                ("id", "id", Int),
                ("record", "key", Blob),
                ("uploaded", "uploaded", Int),
            ],
        },
        Verbatim {
            ours: "wa_signed_prekeys",
            legacy: "signed_prekeys",
            columns: &[("id", "id", Int), ("record", "record", Blob)],
        },
        Verbatim {
            ours: "wa_sender_keys",
            legacy: "sender_keys",
            columns: &[("address", "address", Text), ("record", "record", Blob)],
        },
        Verbatim {
            ours: "wa_app_state_macs",
            legacy: "app_state_mutation_macs",
            columns: &[
                ("name", "name", Text),
                ("index_mac", "index_mac", Blob),
                ("value_mac", "value_mac", Blob),
                ("version", "version", Int),
            ],
        },
        Verbatim {
            ours: "wa_lid_pn",
            legacy: "lid_pn_mapping",
            columns: &[
                ("lid", "lid", Text),
                ("phone_number", "phone_number", Text),
                ("created_at", "created_at", Int),
                ("updated_at", "updated_at", Int),
                ("learning_source", "learning_source", Text),
            ],
        },
        Verbatim {
            ours: "wa_base_keys",
            legacy: "base_keys",
            columns: &[
                ("address", "address", Text),
                ("message_id", "message_id", Text),
                ("base_key", "base_key", Blob),
            ],
        },
        Verbatim {
            ours: "wa_device_lists",
            legacy: "device_registry",
            columns: &[
                ("\"user\"", "user_id", Text),
                ("devices", "devices_json", Text),
                ("timestamp", "timestamp", Int),
                ("phash", "phash", Text),
                ("raw_id", "raw_id", Int),
            ],
        },
        Verbatim {
            ours: "wa_sender_key_devices",
            legacy: "sender_key_devices",
            columns: &[
                ("group_jid", "group_jid", Text),
                ("device_jid", "device_jid", Text),
                ("has_key", "has_key", Int),
            ],
        },
        Verbatim {
            ours: "wa_tc_tokens",
            legacy: "tc_tokens",
            columns: &[
                ("jid", "jid", Text),
                ("token", "token", Blob),
                ("token_timestamp", "token_timestamp", Int),
                ("sender_timestamp", "sender_timestamp", Int),
            ],
        },
        Verbatim {
            ours: "wa_sent_messages",
            legacy: "sent_messages",
            columns: &[
                ("chat_jid", "chat_jid", Text),
                ("message_id", "message_id", Text),
                ("payload", "payload", Blob),
                ("created_at", "created_at", Int),
            ],
        },
        Verbatim {
            ours: "wa_group_metadata",
            legacy: "group_metadata",
            columns: &[("group_jid", "group_jid", Text), ("info", "info", Blob)],
        },
        Verbatim {
            ours: "wa_msg_secrets",
            legacy: "msg_secrets",
            columns: &[
                ("chat", "chat", Text),
                ("sender", "sender", Text),
                ("msg_id", "msg_id", Text),
                ("secret", "secret", Blob),
                ("expires_at", "expires_at", Int),
                ("message_ts", "message_ts", Int),
            ],
        },
    ]
};

impl Devices {
    /// Copies the account of a legacy `device.db` into `session`'s rows, when
    /// `session` has no device row yet, then renames the file (and its `-wal`/`-shm`)
    /// to `*.imported` so it is never read again. `Ok(None)` when nothing was copied:
    /// the session already has rows (the file is then left where it is), or the file
    /// holds no account (it is renamed aside too). An error leaves both sides untouched
    /// (one transaction on ours, the file only read), so the next start tries again.
    /// Both backends: the file is read on its own read-only connection.
    pub async fn import_legacy(
        &self,
        session: &SessionName,
        legacy: &LegacyDeviceDb,
    ) -> anyhow::Result<Option<ImportReport>> {
        if self.exists(session).await? {
            return Ok(None);
        }
        let path = legacy.path.display();
        let options = SqliteConnectOptions::new()
            .filename(&legacy.path)
            .read_only(true);
        let mut file = SqliteConnection::connect_with(&options)
            .await
            .with_context(|| format!("Failed to open {path}"))?;
        let copied = self.copy(&mut file, session).await;
        let _ = file.close().await;
        let copied = copied.with_context(|| format!("Failed to import {path}"))?;
        if copied.is_some() || !self.exists(session).await? {
            set_aside(&legacy.path)?;
        }
        Ok(copied)
    }

    /// The copy: one read transaction on the file, one write transaction on ours.
    async fn copy(
        &self,
        file: &mut SqliteConnection,
        session: &SessionName,
    ) -> anyhow::Result<Option<ImportReport>> {
        let mut file = file.begin().await?;
        let Some(row) = sqlx::query("SELECT * FROM device ORDER BY id LIMIT 1")
            .fetch_optional(&mut *file)
            .await?
        else {
            return Ok(None);
        };
        let legacy_id: i64 = row.try_get("id")?;
        let device = legacy_device(&row)?;
        let mut tx = self.pool.write_tx().await?;
        // The check inside our transaction: a row written meanwhile (another process
        // started the session) wins, and nothing is copied.
        let created = on_tx!(&mut tx, |c| sqlx::query(
            "INSERT INTO wa_device (session, pn, lid, device, updated_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session) DO NOTHING"
        )
        .bind(session.as_str())
        .bind(jid_text(device.pn.as_ref()))
        .bind(jid_text(device.lid.as_ref()))
        .bind(encode(&device)?)
        .bind(crate::now_ms())
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?;
        if created == 0 {
            return Ok(None);
        }
        let mut report = ImportReport::default();
        report.rows.push(("wa_device", 1));
        for table in VERBATIM {
            let copied = copy_table(&mut file, &mut tx, session, legacy_id, table)
                .await
                .with_context(|| format!("Failed to copy into {}", table.ours))?;
            report.rows.push((table.ours, copied));
        }
        report.rows.push((
            "wa_app_state_keys",
            copy_sync_keys(&mut file, &mut tx, session, legacy_id).await?,
        ));
        report.rows.push((
            "wa_app_state_versions",
            copy_versions(&mut file, &mut tx, session, legacy_id).await?,
        ));
        tx.commit().await?;
        Ok(Some(report))
    }
}

/// Copies the rows of `table` of account `legacy_id`, [`PAGE`] rows at a time in
/// `rowid` order; returns how many.
async fn copy_table(
    file: &mut SqliteConnection,
    tx: &mut Tx,
    session: &SessionName,
    legacy_id: i64,
    table: &Verbatim,
) -> anyhow::Result<u64> {
    let legacy_columns: Vec<&str> = table.columns.iter().map(|(_, l, _)| *l).collect();
    let select = format!(
        "SELECT rowid, {} FROM {} WHERE device_id = $1 AND rowid > $2 ORDER BY rowid LIMIT $3",
        legacy_columns.join(", "),
        table.legacy
    );
    let (mut after, mut copied) = (i64::MIN, 0);
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(select.as_str()))
            .bind(legacy_id)
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut *file)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(copied);
        };
        after = last.try_get(0)?;
        let mut cells = Vec::with_capacity(rows.len() * table.columns.len());
        for row in &rows {
            for (i, (_, _, kind)) in table.columns.iter().enumerate() {
                cells.push(kind.read(row, i + 1)?);
            }
        }
        drop(rows);
        copied += insert_rows(tx, session, table, &cells).await?;
    }
}

/// One multi-row INSERT of `cells` (row after row) into `table`: `$1` is the
/// session, the values follow.
async fn insert_rows(
    tx: &mut Tx,
    session: &SessionName,
    table: &Verbatim,
    cells: &[Cell],
) -> anyhow::Result<u64> {
    let width = table.columns.len();
    let values: Vec<String> = (0..cells.len() / width)
        .map(|r| {
            let params: Vec<String> = (0..width)
                .map(|c| format!("${}", 2 + r * width + c))
                .collect();
            format!("($1, {})", params.join(", "))
        })
        .collect();
    let ours: Vec<&str> = table.columns.iter().map(|(o, _, _)| *o).collect();
    let sql = format!(
        "INSERT INTO {} (session, {}) VALUES {}",
        table.ours,
        ours.join(", "),
        values.join(", ")
    );
    let done = on_tx!(&mut *tx, |c| {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .persistent(false)
            .bind(session.as_str());
        for cell in cells {
            query = match cell {
                Cell::Text(v) => query.bind(v.as_deref()),
                Cell::Int(v) => query.bind(*v),
                Cell::Blob(v) => query.bind(v.as_deref()),
            };
        }
        query.execute(&mut **c).await.map(|r| r.rows_affected())
    })?;
    Ok(done)
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

/// App-state sync keys: protobuf `AppStateSyncKeyWire{1 key_data, 2 fingerprint,
/// 3 timestamp}`. A row that does not decode to a 32-byte key is skipped (the bundled
/// store treats it as absent too: the key is requested again). Ordered by key id, so
/// the highest id stays the latest, as the bundled store answered.
async fn copy_sync_keys(
    file: &mut SqliteConnection,
    tx: &mut Tx,
    session: &SessionName,
    legacy_id: i64,
) -> anyhow::Result<u64> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT key_id, key_data FROM app_state_keys WHERE device_id = $1 ORDER BY key_id",
    )
    .bind(legacy_id)
    .fetch_all(&mut *file)
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
        on_tx!(&mut *tx, |c| {
            sqlx::query(
            "INSERT INTO wa_app_state_keys (session, key_id, key_data, fingerprint, timestamp, set_seq)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.as_str())
        .bind(key_id)
        .bind(&key_data)
        .bind(&fingerprint)
        .bind(timestamp)
        .bind(seq as i64 + 1)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected())
        })?;
        copied += 1;
    }
    Ok(copied)
}

/// App-state versions: protobuf `HashStateWire{1 version, 2 hash (128 B), 3 map<string,
/// bytes>, 4 mac_mismatch_fatal}`. A row that does not decode is skipped: the
/// collection then resyncs from version 0, as the bundled store would.
async fn copy_versions(
    file: &mut SqliteConnection,
    tx: &mut Tx,
    session: &SessionName,
    legacy_id: i64,
) -> anyhow::Result<u64> {
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT name, state_data FROM app_state_versions WHERE device_id = $1")
            .bind(legacy_id)
            .fetch_all(&mut *file)
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
        let version = i64::try_from(version)
            .ok()
            .filter(|_| ok && hash.len() == 128);
        let Some(version) = version else {
            tracing::warn!(session = %session, collection = %name, "skipping an unreadable app-state version");
            continue;
        };
        let map = serde_json::to_string(&map)?;
        on_tx!(&mut *tx, |c| sqlx::query(
            "INSERT INTO wa_app_state_versions
                 (session, name, version, hash, index_value_map, mac_mismatch_fatal)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.as_str())
        .bind(name)
        .bind(version)
        .bind(&hash)
        .bind(&map)
        .bind(i64::from(fatal))
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?;
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
