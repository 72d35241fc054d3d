-- PostgreSQL twin of migrations/sqlite/0008_device_state.sql: same tables and keys; INTEGER is
-- BIGINT, BLOB is BYTEA, TEXT is COLLATE "C" (bytewise order and LIKE-prefix
-- index use, as in SQLite).
-- whatsapp-rust's device state (wacore's storage traits, implemented in src/device/):
-- one account per session, all in this database file (no file per session).
-- Every table is keyed by `session` first and cascades from `wa_device`, so wiping a
-- session's keys is one DELETE. Integers are BIGINT (64-bit): u32 ids and
-- u64 app-state versions fit without casts. Blobs are stored byte-exact.

-- The account row (wacore's `Device`): created at the first start of a session, before
-- pairing. `pn`/`lid` are JIDs ('' = none) so "is it linked" needs no decoding; `device`
-- is the whole struct as serde JSON (runtime-only fields are restored on load).
CREATE TABLE wa_device (
    session    TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    pn         TEXT COLLATE "C" NOT NULL DEFAULT '',
    lid        TEXT COLLATE "C" NOT NULL DEFAULT '',
    device     BYTEA NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- Signal: peer identity keys (32 B), session records, one-time and signed prekeys,
-- group sender keys ("{group}:{sender address}").
CREATE TABLE wa_identities (
    session TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    address TEXT COLLATE "C" NOT NULL,
    key     BYTEA NOT NULL,
    PRIMARY KEY (session, address)
);

CREATE TABLE wa_sessions (
    session TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    address TEXT COLLATE "C" NOT NULL,
    record  BYTEA NOT NULL,
    PRIMARY KEY (session, address)
);

CREATE TABLE wa_prekeys (
    session  TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    id       BIGINT NOT NULL,
    record   BYTEA NOT NULL,
    uploaded BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (session, id)
);

CREATE TABLE wa_signed_prekeys (
    session TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    id      BIGINT NOT NULL,
    record  BYTEA NOT NULL,
    PRIMARY KEY (session, id)
);

CREATE TABLE wa_sender_keys (
    session TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    address TEXT COLLATE "C" NOT NULL,
    record  BYTEA NOT NULL,
    PRIMARY KEY (session, address)
);

-- App-state sync: keys (by key id), the ltHash state per collection, and the
-- index MAC -> value MAC of every live record.
CREATE TABLE wa_app_state_keys (
    session     TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    key_id      BYTEA NOT NULL,
    key_data    BYTEA NOT NULL,
    fingerprint BYTEA NOT NULL,
    timestamp   BIGINT NOT NULL,
    -- Order of writes: the key most recently set is the one outgoing patches use.
    set_seq     BIGINT NOT NULL,
    PRIMARY KEY (session, key_id)
);

CREATE TABLE wa_app_state_versions (
    session            TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    name               TEXT COLLATE "C" NOT NULL,
    version            BIGINT NOT NULL,
    hash               BYTEA NOT NULL,
    -- HashState.index_value_map as JSON (always '{}' in whatsapp-rust 0.7).
    index_value_map    TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    mac_mismatch_fatal BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (session, name)
);

CREATE TABLE wa_app_state_macs (
    session   TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    name      TEXT COLLATE "C" NOT NULL,
    index_mac BYTEA NOT NULL,
    value_mac BYTEA NOT NULL,
    version   BIGINT NOT NULL,
    PRIMARY KEY (session, name, index_mac)
);

-- Protocol: LID <-> phone number (bare user digits), retry base keys, device lists,
-- per-device sender-key status, privacy tokens, sent messages kept for retries,
-- group metadata.
CREATE TABLE wa_lid_pn (
    session         TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    lid             TEXT COLLATE "C" NOT NULL,
    phone_number    TEXT COLLATE "C" NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    learning_source TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (session, lid)
);
CREATE INDEX wa_lid_pn_by_pn ON wa_lid_pn (session, phone_number, updated_at);

CREATE TABLE wa_base_keys (
    session    TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    address    TEXT COLLATE "C" NOT NULL,
    message_id TEXT COLLATE "C" NOT NULL,
    base_key   BYTEA NOT NULL,
    PRIMARY KEY (session, address, message_id)
);

CREATE TABLE wa_device_lists (
    session   TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    "user"    TEXT COLLATE "C" NOT NULL,
    -- serde JSON of Vec<DeviceInfo>, as whatsapp-rust's SQLite store writes it.
    devices   TEXT COLLATE "C" NOT NULL,
    timestamp BIGINT NOT NULL,
    phash     TEXT COLLATE "C",
    raw_id    BIGINT,
    PRIMARY KEY (session, "user")
);

CREATE TABLE wa_sender_key_devices (
    session    TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    group_jid  TEXT COLLATE "C" NOT NULL,
    device_jid TEXT COLLATE "C" NOT NULL,
    has_key    BIGINT NOT NULL,
    PRIMARY KEY (session, group_jid, device_jid)
);

CREATE TABLE wa_tc_tokens (
    session          TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    jid              TEXT COLLATE "C" NOT NULL,
    token            BYTEA NOT NULL,
    token_timestamp  BIGINT NOT NULL,
    sender_timestamp BIGINT,
    PRIMARY KEY (session, jid)
);

CREATE TABLE wa_sent_messages (
    session    TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    chat_jid   TEXT COLLATE "C" NOT NULL,
    message_id TEXT COLLATE "C" NOT NULL,
    payload    BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session, chat_jid, message_id)
);

CREATE TABLE wa_group_metadata (
    session   TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    group_jid TEXT COLLATE "C" NOT NULL,
    info      BYTEA NOT NULL,
    PRIMARY KEY (session, group_jid)
);

-- Message secrets (reactions, edits, polls): expires_at 0 = never.
CREATE TABLE wa_msg_secrets (
    session    TEXT COLLATE "C" NOT NULL REFERENCES wa_device(session) ON DELETE CASCADE,
    chat       TEXT COLLATE "C" NOT NULL,
    sender     TEXT COLLATE "C" NOT NULL,
    msg_id     TEXT COLLATE "C" NOT NULL,
    secret     BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    message_ts BIGINT NOT NULL,
    PRIMARY KEY (session, chat, sender, msg_id)
);
