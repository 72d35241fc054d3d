-- PostgreSQL twin of migrations/sqlite/0010_webhook_deliveries.sql: the same table; TEXT
-- is COLLATE "C". `status` and `attempts` stay INTEGER (read as i32 on both).
-- The recent-deliveries log: one row per POST of a webhook event to one receiver,
-- delivered or not. `seq` counts up per session (max + 1 at insert, in the writing
-- transaction); the newest 200 rows of a session are kept, older ones are deleted in
-- the same transaction. `url` is stored redacted (no user info, no query values).
CREATE TABLE webhook_deliveries (
    session   TEXT COLLATE "C" NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    event_id  TEXT COLLATE "C" NOT NULL,
    event     TEXT COLLATE "C" NOT NULL,
    url       TEXT COLLATE "C" NOT NULL,
    delivered BOOLEAN NOT NULL,
    status    INTEGER,
    error     TEXT COLLATE "C",
    attempts  INTEGER NOT NULL,
    at_ms     BIGINT NOT NULL,
    PRIMARY KEY (session, seq)
);
