-- Sessions: one linked WhatsApp account each. `config` is the user's WAHA SessionConfig
-- (JSON text); `status` is the last known lifecycle state; `desired` records whether the
-- user wants it running, so a restart brings back what was running.
CREATE TABLE sessions (
    name            TEXT PRIMARY KEY NOT NULL,
    config          TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'STOPPED',
    desired_running INTEGER NOT NULL DEFAULT 0,
    failure_reason  TEXT,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
) STRICT;
