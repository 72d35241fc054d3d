-- whatsapp-rust's device state (wacore's storage traits, implemented in src/device/):
-- one account per session, all in this database file (no file per session).
-- Every table is keyed by `session` first and cascades from `wa_device`, so wiping a
-- session's keys is one DELETE. Integers are SQLite's 64-bit INTEGER: u32 ids and
-- u64 app-state versions fit without casts. Blobs are stored byte-exact.

-- The account row (wacore's `Device`): created at the first start of a session, before
-- pairing. `pn`/`lid` are JIDs ('' = none) so "is it linked" needs no decoding; `device`
-- is the whole struct as serde JSON (runtime-only fields are restored on load).
CREATE TABLE wa_device (
    session    TEXT PRIMARY KEY NOT NULL,
    pn         TEXT NOT NULL DEFAULT '',
    lid        TEXT NOT NULL DEFAULT '',
    device     BLOB NOT NULL,
    updated_ms INTEGER NOT NULL
) STRICT;

-- Signal: peer identity keys (32 B), session records, one-time and signed prekeys,
-- group sender keys ("{group}:{sender address}").
CREATE TABLE wa_identities (
    session TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    address TEXT NOT NULL,
    key     BLOB NOT NULL,
    PRIMARY KEY (session, address)
) STRICT, WITHOUT ROWID;

CREATE TABLE wa_sessions (
    session TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    address TEXT NOT NULL,
    record  BLOB NOT NULL,
    PRIMARY KEY (session, address)
) STRICT;

CREATE TABLE wa_prekeys (
    session  TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    id       INTEGER NOT NULL,
    record   BLOB NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE wa_signed_prekeys (
    session TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    id      INTEGER NOT NULL,
    record  BLOB NOT NULL,
    PRIMARY KEY (session, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE wa_sender_keys (
    session TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    address TEXT NOT NULL,
    record  BLOB NOT NULL,
    PRIMARY KEY (session, address)
) STRICT;

-- App-state sync: keys (by key id), the ltHash state per collection, and the
-- index MAC -> value MAC of every live record.
CREATE TABLE wa_app_state_keys (
    session     TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    key_id      BLOB NOT NULL,
    key_data    BLOB NOT NULL,
    fingerprint BLOB NOT NULL,
    timestamp   INTEGER NOT NULL,
    -- Order of writes: the key most recently set is the one outgoing patches use.
    set_seq     INTEGER NOT NULL,
    PRIMARY KEY (session, key_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE wa_app_state_versions (
    session            TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    version            INTEGER NOT NULL,
    hash               BLOB NOT NULL,
    -- HashState.index_value_map as JSON (always '{}' in whatsapp-rust 0.7).
    index_value_map    TEXT NOT NULL DEFAULT '{}',
    mac_mismatch_fatal INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE wa_app_state_macs (
    session   TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    index_mac BLOB NOT NULL,
    value_mac BLOB NOT NULL,
    version   INTEGER NOT NULL,
    PRIMARY KEY (session, name, index_mac)
) STRICT, WITHOUT ROWID;

-- Protocol: LID <-> phone number (bare user digits), retry base keys, device lists,
-- per-device sender-key status, privacy tokens, sent messages kept for retries,
-- group metadata.
CREATE TABLE wa_lid_pn (
    session         TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    lid             TEXT NOT NULL,
    phone_number    TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    learning_source TEXT NOT NULL,
    PRIMARY KEY (session, lid)
) STRICT, WITHOUT ROWID;
CREATE INDEX wa_lid_pn_by_pn ON wa_lid_pn (session, phone_number, updated_at);

CREATE TABLE wa_base_keys (
    session    TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    base_key   BLOB NOT NULL,
    PRIMARY KEY (session, address, message_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE wa_device_lists (
    session   TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    user      TEXT NOT NULL,
    -- serde JSON of Vec<DeviceInfo>, as whatsapp-rust's SQLite store writes it.
    devices   TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    phash     TEXT,
    raw_id    INTEGER,
    PRIMARY KEY (session, user)
) STRICT, WITHOUT ROWID;

CREATE TABLE wa_sender_key_devices (
    session    TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    group_jid  TEXT NOT NULL,
    device_jid TEXT NOT NULL,
    has_key    INTEGER NOT NULL,
    PRIMARY KEY (session, group_jid, device_jid)
) STRICT, WITHOUT ROWID;

CREATE TABLE wa_tc_tokens (
    session          TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    jid              TEXT NOT NULL,
    token            BLOB NOT NULL,
    token_timestamp  INTEGER NOT NULL,
    sender_timestamp INTEGER,
    PRIMARY KEY (session, jid)
) STRICT, WITHOUT ROWID;

CREATE TABLE wa_sent_messages (
    session    TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    chat_jid   TEXT NOT NULL,
    message_id TEXT NOT NULL,
    payload    BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (session, chat_jid, message_id)
) STRICT;

CREATE TABLE wa_group_metadata (
    session   TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    group_jid TEXT NOT NULL,
    info      BLOB NOT NULL,
    PRIMARY KEY (session, group_jid)
) STRICT;

-- Message secrets (reactions, edits, polls): expires_at 0 = never.
CREATE TABLE wa_msg_secrets (
    session    TEXT NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    chat       TEXT NOT NULL,
    sender     TEXT NOT NULL,
    msg_id     TEXT NOT NULL,
    secret     BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    message_ts INTEGER NOT NULL,
    PRIMARY KEY (session, chat, sender, msg_id)
) STRICT, WITHOUT ROWID;
