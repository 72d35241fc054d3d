-- On-Prem `no_wait` checks: numbers queued for a later check, then their answers
-- until the callback URL accepted them. Rows leave only once delivered.
CREATE TABLE check_queue (
    id          INTEGER PRIMARY KEY,  -- the queue's order
    session     TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    input       TEXT NOT NULL,        -- as the client sent it
    phone       TEXT NOT NULL,        -- E.164 digits it normalized to
    force       INTEGER NOT NULL,
    queued_ms   INTEGER NOT NULL,
    status      TEXT CHECK (status IN ('valid', 'invalid', 'failed')),  -- NULL: not checked yet
    wa_id       TEXT,
    checked_ms  INTEGER
) STRICT;
CREATE INDEX check_queue_pending ON check_queue (session, id) WHERE status IS NULL;
CREATE INDEX check_queue_undelivered ON check_queue (session, id) WHERE status IS NOT NULL;

-- On-Prem application settings we act on, per session: the callback URL.
CREATE TABLE onprem_settings (
    session     TEXT PRIMARY KEY REFERENCES sessions(name) ON DELETE CASCADE,
    webhook_url TEXT
) STRICT;
