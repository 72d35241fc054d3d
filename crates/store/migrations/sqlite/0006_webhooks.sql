-- Identity changes carry the hash of the new key (On-Prem's `hash`; NULL when the
-- engine could not read the key).
ALTER TABLE identity_changes ADD COLUMN hash TEXT;

-- Webhook events waiting for delivery and dead letters, per session. A row enters
-- in the same transaction as the fact that caused it; `seq` is the delivery order
-- of a session, `id` the event id every repeat carries.
CREATE TABLE webhook_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session    TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    event      TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER NOT NULL DEFAULT 0,
    dead       INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    failed_ms  INTEGER
) STRICT;
CREATE INDEX webhook_outbox_queue ON webhook_outbox (session, dead, seq);
CREATE UNIQUE INDEX webhook_outbox_id ON webhook_outbox (session, id);
