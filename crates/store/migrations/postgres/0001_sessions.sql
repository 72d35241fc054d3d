-- PostgreSQL twin of migrations/sqlite/0001_sessions.sql: same tables and keys; INTEGER is
-- BIGINT, BLOB is BYTEA, TEXT is COLLATE "C" (bytewise order and LIKE-prefix
-- index use, as in SQLite).
-- Sessions: one linked WhatsApp account each. `config` is the user's WAHA SessionConfig
-- (JSON text); `status` is the last known lifecycle state; `desired` records whether the
-- user wants it running, so a restart brings back what was running.
CREATE TABLE sessions (
    name            TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    config          TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    status          TEXT COLLATE "C" NOT NULL DEFAULT 'STOPPED',
    desired_running BIGINT NOT NULL DEFAULT 0,
    failure_reason  TEXT COLLATE "C",
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL
);
