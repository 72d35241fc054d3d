-- PostgreSQL twin of migrations/sqlite/0002_contacts.sql: same tables and keys; INTEGER is
-- BIGINT, BLOB is BYTEA, TEXT is COLLATE "C" (bytewise order and LIKE-prefix
-- index use, as in SQLite).
-- Contacts of each session, as WhatsApp's events and our lookups tell them.
-- `jid` is the contact's key: 'DIGITS@s.whatsapp.net' when the phone number is known,
-- else 'DIGITS@lid'. A LID-keyed row is merged into the phone row once the mapping is learned.
CREATE TABLE contacts (
    session            TEXT COLLATE "C" NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    jid                TEXT COLLATE "C" NOT NULL,
    pn                 TEXT COLLATE "C",              -- E.164 digits without '+'
    lid                TEXT COLLATE "C",              -- LID user digits
    name               TEXT COLLATE "C",              -- address-book full name
    first_name         TEXT COLLATE "C",              -- address-book first name
    username           TEXT COLLATE "C",
    push_name          TEXT COLLATE "C",              -- the name the person set for themselves
    business_name      TEXT COLLATE "C",
    verified_name      TEXT COLLATE "C",
    is_business        BIGINT NOT NULL DEFAULT 0,
    is_my_contact      BIGINT NOT NULL DEFAULT 0,  -- in the phone's address book
    about              TEXT COLLATE "C",
    about_fetched_ms   BIGINT,
    picture_id         TEXT COLLATE "C",
    picture_url        TEXT COLLATE "C",
    picture_fetched_ms BIGINT,
    updated_ms         BIGINT NOT NULL,
    sort_name          TEXT COLLATE "C" GENERATED ALWAYS AS (lower(coalesce(name, push_name, verified_name, ''))) STORED,
    -- SQLite's implicit rowid, made explicit: offset pages select by it.
    rowid              BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    PRIMARY KEY (session, jid)
);
CREATE INDEX contacts_by_name ON contacts (session, sort_name, jid);
CREATE INDEX contacts_by_lid ON contacts (session, lid) WHERE lid IS NOT NULL;

-- LID <-> phone number mappings, learned from any source.
CREATE TABLE lid_map (
    session    TEXT COLLATE "C" NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    lid        TEXT COLLATE "C" NOT NULL,
    pn         TEXT COLLATE "C" NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (session, lid)
);
CREATE UNIQUE INDEX lid_map_by_pn ON lid_map (session, pn);

-- Number changes: same LID, new phone number. Kept forever.
CREATE TABLE number_history (
    session TEXT COLLATE "C" NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    lid     TEXT COLLATE "C",
    old_pn  TEXT COLLATE "C" NOT NULL,
    new_pn  TEXT COLLATE "C" NOT NULL,
    at_ms   BIGINT NOT NULL,
    rowid   BIGINT GENERATED ALWAYS AS IDENTITY  -- SQLite's implicit rowid: insertion order
);
CREATE INDEX number_history_by_new ON number_history (session, new_pn);
CREATE INDEX number_history_by_old ON number_history (session, old_pn);

-- Identity (security code) changes seen for contacts.
CREATE TABLE identity_changes (
    session      TEXT COLLATE "C" NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    jid          TEXT COLLATE "C" NOT NULL,
    implicit     BIGINT NOT NULL,
    at_ms        BIGINT NOT NULL,
    acknowledged BIGINT NOT NULL DEFAULT 0,
    rowid        BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE  -- SQLite's implicit rowid
);
CREATE INDEX identity_changes_by_jid ON identity_changes (session, jid, at_ms);

-- The account's blocklist as WhatsApp holds it.
CREATE TABLE blocklist (
    session    TEXT COLLATE "C" NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    jid        TEXT COLLATE "C" NOT NULL,
    blocked_ms BIGINT,
    PRIMARY KEY (session, jid)
);

-- What we know about the linked account itself.
ALTER TABLE sessions ADD COLUMN me_push_name TEXT COLLATE "C";
