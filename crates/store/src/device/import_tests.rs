//! The import of a legacy `device.db` on both backends, against a file written here
//! in the bundled store's layout (the columns the import reads): rows copied in pages,
//! only the file's first account, rows still in the file's `-wal`, and the
//! guarantees (an existing account wins; a failure leaves both sides as they were).

use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};
use wacontacts_core::session::SessionName;
use wacore::store::Device;
use wacore::store::traits::*;

use super::{Devices, LegacyDeviceDb};
use crate::test_support::Backend;

/// The bundled store's tables, reduced to the columns the import reads; `identities.key`
/// may be NULL so a test can plant a row our schema refuses.
const SCHEMA: &str = "
CREATE TABLE device (id INTEGER PRIMARY KEY AUTOINCREMENT, lid TEXT NOT NULL, pn TEXT NOT NULL,
    registration_id INTEGER NOT NULL, noise_key BLOB NOT NULL, identity_key BLOB NOT NULL,
    signed_pre_key BLOB NOT NULL, signed_pre_key_id INTEGER NOT NULL,
    signed_pre_key_signature BLOB NOT NULL, adv_secret_key BLOB NOT NULL, account BLOB,
    push_name TEXT NOT NULL DEFAULT '', app_version_primary INTEGER NOT NULL DEFAULT 0,
    app_version_secondary INTEGER NOT NULL DEFAULT 0, app_version_tertiary BIGINT NOT NULL DEFAULT 0,
    app_version_last_fetched_ms BIGINT NOT NULL DEFAULT 0, edge_routing_info BLOB, props_hash TEXT,
    next_pre_key_id INTEGER NOT NULL DEFAULT 0, nct_salt BLOB,
    server_has_prekeys BOOLEAN NOT NULL DEFAULT 0, server_cert_chain BLOB,
    login_counter INTEGER NOT NULL DEFAULT 0, first_unupload_pre_key_id INTEGER NOT NULL DEFAULT 0,
    lid_migrated BOOLEAN NOT NULL DEFAULT 0, last_signed_pre_key_rotation_ms BIGINT NOT NULL DEFAULT 0,
    read_receipts_disabled BOOLEAN NOT NULL DEFAULT 0);
CREATE TABLE identities (address TEXT NOT NULL, key BLOB, device_id INTEGER NOT NULL);
CREATE TABLE sessions (address TEXT NOT NULL, record BLOB NOT NULL, device_id INTEGER NOT NULL);
CREATE TABLE prekeys (id INTEGER NOT NULL, key BLOB NOT NULL, uploaded BOOLEAN NOT NULL DEFAULT FALSE,
    device_id INTEGER NOT NULL);
CREATE TABLE signed_prekeys (id INTEGER NOT NULL, record BLOB NOT NULL, device_id INTEGER NOT NULL);
CREATE TABLE sender_keys (address TEXT NOT NULL, record BLOB NOT NULL, device_id INTEGER NOT NULL);
CREATE TABLE app_state_keys (key_id BLOB NOT NULL, key_data BLOB NOT NULL, device_id INTEGER NOT NULL);
CREATE TABLE app_state_versions (name TEXT NOT NULL, state_data BLOB NOT NULL, device_id INTEGER NOT NULL);
CREATE TABLE app_state_mutation_macs (name TEXT NOT NULL, version BIGINT NOT NULL,
    index_mac BLOB NOT NULL, value_mac BLOB NOT NULL, device_id INTEGER NOT NULL);
CREATE TABLE lid_pn_mapping (lid TEXT NOT NULL, phone_number TEXT NOT NULL, created_at BIGINT NOT NULL,
    learning_source TEXT NOT NULL, updated_at BIGINT NOT NULL, device_id INTEGER NOT NULL);
CREATE TABLE base_keys (address TEXT NOT NULL, message_id TEXT NOT NULL, base_key BLOB NOT NULL,
    device_id INTEGER NOT NULL);
CREATE TABLE device_registry (user_id TEXT NOT NULL, devices_json TEXT NOT NULL,
    timestamp INTEGER NOT NULL, phash TEXT, device_id INTEGER NOT NULL, raw_id INTEGER);
CREATE TABLE sender_key_devices (group_jid TEXT NOT NULL, device_jid TEXT NOT NULL,
    has_key BOOLEAN NOT NULL, device_id INTEGER NOT NULL);
CREATE TABLE tc_tokens (jid TEXT NOT NULL, token BLOB NOT NULL, token_timestamp BIGINT NOT NULL,
    sender_timestamp BIGINT, device_id INTEGER NOT NULL);
CREATE TABLE sent_messages (chat_jid TEXT NOT NULL, message_id TEXT NOT NULL, payload BLOB NOT NULL,
    created_at BIGINT NOT NULL, device_id INTEGER NOT NULL);
CREATE TABLE group_metadata (group_jid TEXT NOT NULL, info BLOB NOT NULL, device_id INTEGER NOT NULL);
CREATE TABLE msg_secrets (chat TEXT NOT NULL, sender TEXT NOT NULL, msg_id TEXT NOT NULL,
    secret BLOB NOT NULL, expires_at BIGINT NOT NULL, message_ts BIGINT NOT NULL,
    device_id INTEGER NOT NULL);
";

/// Signal sessions of the first account: more than two pages of the import.
const SESSIONS: i64 = 2345;

/// A legacy file being written by an old process: WAL mode, no checkpoints, the
/// connection kept open (as after a crash), so every row is still in the `-wal`.
struct LegacyFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    writer: SqliteConnection,
    device: Device,
}

impl LegacyFile {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        let mut writer = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::raw_sql(SCHEMA).execute(&mut writer).await.unwrap();
        let mut device = Device::new();
        device.pn = Some("15551230000:7@s.whatsapp.net".parse().unwrap());
        device.push_name = "Legacy".into();
        for _ in 0..2 {
            insert_device(&mut writer, &device).await;
        }
        let mut file = Self {
            _dir: dir,
            path,
            writer,
            device,
        };
        file.exec(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SESSIONS})
             INSERT INTO sessions SELECT 'addr-' || i, CAST('rec-' || i AS BLOB), 1 FROM n"
        ))
        .await;
        file.exec(
            "INSERT INTO sessions VALUES ('other-1', X'01', 2);
             INSERT INTO identities VALUES ('addr-1', zeroblob(32), 1);
             INSERT INTO prekeys VALUES (5, X'0505', TRUE, 1), (6, X'0606', FALSE, 1);
             INSERT INTO device_registry VALUES ('15551239999', '[]', 77, NULL, 1, NULL);
             INSERT INTO sender_key_devices VALUES ('g@g.us', 'd@lid', TRUE, 1);
             INSERT INTO lid_pn_mapping VALUES ('1000', '15551239999', 10, 'usync', 11, 1);
             INSERT INTO tc_tokens VALUES ('15551239999@s.whatsapp.net', X'AA', 5, NULL, 1);",
        )
        .await;
        file
    }

    async fn exec(&mut self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut self.writer)
            .await
            .unwrap();
    }

    fn legacy(&self) -> LegacyDeviceDb {
        LegacyDeviceDb {
            path: self.path.clone(),
        }
    }

    fn with_suffix(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.path.display()))
    }
}

/// One account row in the bundled store's encoding (key pairs: private ‖ public).
async fn insert_device(conn: &mut SqliteConnection, d: &Device) {
    let pair = |k: &wacore::libsignal::protocol::KeyPair| {
        let mut bytes = k.private_key.serialize().to_vec();
        bytes.extend_from_slice(k.public_key.public_key_bytes());
        bytes
    };
    sqlx::query(
        "INSERT INTO device (lid, pn, registration_id, noise_key, identity_key, signed_pre_key,
             signed_pre_key_id, signed_pre_key_signature, adv_secret_key, push_name)
         VALUES ('', $1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(d.pn.as_ref().map(ToString::to_string))
    .bind(i64::from(d.registration_id))
    .bind(pair(&d.noise_key))
    .bind(pair(&d.identity_key))
    .bind(pair(&d.signed_pre_key))
    .bind(i64::from(d.signed_pre_key_id))
    .bind(d.signed_pre_key_signature.to_vec())
    .bind(d.adv_secret_key.to_vec())
    .bind(&d.push_name)
    .execute(conn)
    .await
    .unwrap();
}

fn exists(path: &Path) -> bool {
    path.try_exists().unwrap()
}

async fn copies_every_row_of_the_first_account_from_the_wal(backend: Backend) {
    let (_db, store) = crate::test_support::fresh_store(backend).await;
    let devices: Devices = store.devices();
    let file = LegacyFile::new().await;
    let wal = file.with_suffix("-wal");
    assert!(wal.metadata().unwrap().len() > 0, "the rows are in the WAL");
    let name = SessionName::parse("old").unwrap();

    let report = devices
        .import_legacy(&name, &file.legacy())
        .await
        .unwrap()
        .expect("copied");
    assert_eq!(report.count("wa_device"), 1);
    assert_eq!(report.count("wa_sessions"), SESSIONS as u64, "{report:?}");
    assert_eq!(report.count("wa_prekeys"), 2);
    assert_eq!(report.count("wa_device_lists"), 1);

    let h = devices.handle(&name);
    let device = h.load().await.unwrap().expect("the account row");
    assert_eq!(device.pn, file.device.pn);
    assert_eq!(device.push_name, "Legacy");
    assert_eq!(
        device.identity_key.public_key.public_key_bytes(),
        file.device.identity_key.public_key.public_key_bytes()
    );
    assert!(devices.is_linked(&name).await.unwrap());
    for i in [1, 1000, 1001, 2000, SESSIONS] {
        let record = h.get_session(&format!("addr-{i}")).await.unwrap();
        assert_eq!(record.as_deref(), Some(format!("rec-{i}").as_bytes()));
    }
    assert_eq!(h.get_session("other-1").await.unwrap(), None, "account 2");
    assert_eq!(h.load_identity("addr-1").await.unwrap(), Some([0; 32]));
    assert_eq!(
        h.load_prekey(6).await.unwrap().as_deref(),
        Some(&[6, 6][..])
    );
    assert_eq!(
        h.get_sender_key_devices("g@g.us").await.unwrap(),
        vec![("d@lid".to_string(), true)]
    );
    let list = h.get_devices("15551239999").await.unwrap().expect("list");
    assert_eq!((list.timestamp, list.phash), (77, None));
    let token = h
        .get_tc_token("15551239999@s.whatsapp.net")
        .await
        .unwrap()
        .expect("token");
    assert_eq!(token.sender_timestamp, None);
    assert_eq!(
        h.get_lid_mapping("1000")
            .await
            .unwrap()
            .unwrap()
            .phone_number,
        "15551239999"
    );

    // Set aside, WAL and all.
    assert!(!exists(&file.path) && !exists(&wal));
    assert!(exists(&file.with_suffix(".imported")));
    assert!(exists(&file.with_suffix("-wal.imported")));
}

async fn an_existing_account_wins_and_the_file_stays(backend: Backend) {
    let (_db, store) = crate::test_support::fresh_store(backend).await;
    let devices = store.devices();
    let name = SessionName::parse("old").unwrap();
    devices.handle(&name).create().await.unwrap();
    let file = LegacyFile::new().await;
    let copied = devices.import_legacy(&name, &file.legacy()).await.unwrap();
    assert_eq!(copied, None);
    assert!(exists(&file.path), "left where it is");
    assert!(!devices.is_linked(&name).await.unwrap(), "our row kept");
}

async fn a_failed_import_leaves_both_sides_untouched(backend: Backend) {
    let (_db, store) = crate::test_support::fresh_store(backend).await;
    let devices = store.devices();
    let name = SessionName::parse("old").unwrap();
    let mut file = LegacyFile::new().await;
    // A row our schema refuses, after the account and its sessions are written.
    file.exec("INSERT INTO identities VALUES ('addr-2', NULL, 1)")
        .await;
    let err = devices
        .import_legacy(&name, &file.legacy())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("wa_identities"), "{err:#}");
    assert!(!devices.exists(&name).await.unwrap(), "nothing copied");
    assert!(exists(&file.path) && !exists(&file.with_suffix(".imported")));

    // The next start tries again and succeeds once the file is readable.
    file.exec("DELETE FROM identities WHERE key IS NULL").await;
    let report = devices
        .import_legacy(&name, &file.legacy())
        .await
        .unwrap()
        .expect("copied on retry");
    assert_eq!(report.count("wa_sessions"), SESSIONS as u64);
}

both_backends!(
    copies_every_row_of_the_first_account_from_the_wal,
    an_existing_account_wins_and_the_file_stays,
    a_failed_import_leaves_both_sides_untouched,
);
