-- The recent-deliveries log: one row per POST of a webhook event to one receiver,
-- delivered or not. `seq` counts up per session (max + 1 at insert, in the writing
-- transaction); the newest 200 rows of a session are kept, older ones are deleted in
-- the same transaction. `url` is stored redacted (no user info, no query values).
-- Plain SQL that SQLite and PostgreSQL both accept (no STRICT, no AUTOINCREMENT).
CREATE TABLE webhook_deliveries (
    session   TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    event_id  TEXT NOT NULL,
    event     TEXT NOT NULL,
    url       TEXT NOT NULL,
    delivered BOOLEAN NOT NULL,
    status    INTEGER,
    error     TEXT,
    attempts  INTEGER NOT NULL,
    at_ms     BIGINT NOT NULL,
    PRIMARY KEY (session, seq)
);
