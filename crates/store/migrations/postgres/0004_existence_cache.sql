-- PostgreSQL twin of migrations/sqlite/0004_existence_cache.sql: same tables and keys; INTEGER is
-- BIGINT, BLOB is BYTEA, TEXT is COLLATE "C" (bytewise order and LIKE-prefix
-- index use, as in SQLite).
-- What WhatsApp answered to "is this number on WhatsApp?", per session and number
-- asked: the ban guard answers from here before spending a lookup.
CREATE TABLE existence_cache (
    session    TEXT COLLATE "C" NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    phone      TEXT COLLATE "C" NOT NULL,  -- E.164 digits as asked
    on_wa      BIGINT NOT NULL,
    canonical  TEXT COLLATE "C",           -- the number as WhatsApp knows it, when on WhatsApp
    lid        TEXT COLLATE "C",           -- LID digits learned with the answer
    checked_ms BIGINT NOT NULL,
    PRIMARY KEY (session, phone)
);
