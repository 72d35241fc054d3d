-- Contacts of each session, as WhatsApp's events and our lookups tell them.
-- `jid` is the contact's key: 'DIGITS@s.whatsapp.net' when the phone number is known,
-- else 'DIGITS@lid'. A LID-keyed row is merged into the phone row once the mapping is learned.
CREATE TABLE contacts (
    session            TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    jid                TEXT NOT NULL,
    pn                 TEXT,              -- E.164 digits without '+'
    lid                TEXT,              -- LID user digits
    name               TEXT,              -- address-book full name
    first_name         TEXT,              -- address-book first name
    username           TEXT,
    push_name          TEXT,              -- the name the person set for themselves
    business_name      TEXT,
    verified_name      TEXT,
    is_business        INTEGER NOT NULL DEFAULT 0,
    is_my_contact      INTEGER NOT NULL DEFAULT 0,  -- in the phone's address book
    about              TEXT,
    about_fetched_ms   INTEGER,
    picture_id         TEXT,
    picture_url        TEXT,
    picture_fetched_ms INTEGER,
    updated_ms         INTEGER NOT NULL,
    sort_name          TEXT GENERATED ALWAYS AS (lower(coalesce(name, push_name, verified_name, ''))) VIRTUAL,
    PRIMARY KEY (session, jid)
) STRICT;
CREATE INDEX contacts_by_name ON contacts (session, sort_name, jid);
CREATE INDEX contacts_by_lid ON contacts (session, lid) WHERE lid IS NOT NULL;

-- LID <-> phone number mappings, learned from any source.
CREATE TABLE lid_map (
    session    TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    lid        TEXT NOT NULL,
    pn         TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (session, lid)
) STRICT;
CREATE UNIQUE INDEX lid_map_by_pn ON lid_map (session, pn);

-- Number changes: same LID, new phone number. Kept forever.
CREATE TABLE number_history (
    session TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    lid     TEXT,
    old_pn  TEXT NOT NULL,
    new_pn  TEXT NOT NULL,
    at_ms   INTEGER NOT NULL
) STRICT;
CREATE INDEX number_history_by_new ON number_history (session, new_pn);
CREATE INDEX number_history_by_old ON number_history (session, old_pn);

-- Identity (security code) changes seen for contacts.
CREATE TABLE identity_changes (
    session      TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    jid          TEXT NOT NULL,
    implicit     INTEGER NOT NULL,
    at_ms        INTEGER NOT NULL,
    acknowledged INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX identity_changes_by_jid ON identity_changes (session, jid, at_ms);

-- The account's blocklist as WhatsApp holds it.
CREATE TABLE blocklist (
    session    TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    jid        TEXT NOT NULL,
    blocked_ms INTEGER,
    PRIMARY KEY (session, jid)
) STRICT;

-- What we know about the linked account itself.
ALTER TABLE sessions ADD COLUMN me_push_name TEXT;
