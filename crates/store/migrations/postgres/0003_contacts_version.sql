-- PostgreSQL twin of migrations/sqlite/0003_contacts_version.sql: same tables and keys; INTEGER is
-- BIGINT, BLOB is BYTEA, TEXT is COLLATE "C" (bytewise order and LIKE-prefix
-- index use, as in SQLite).
-- A per-session counter bumped whenever the order of its contact listing may change
-- (rows added, removed, re-keyed or renamed). In-memory page indexes check it to know
-- they are still true. (One row-level trigger function for insert, delete and the
-- updates that can move a row in the listing.)
CREATE TABLE contacts_version (
    session TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);

CREATE FUNCTION contacts_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN s := OLD.session; ELSE s := NEW.session; END IF;
    INSERT INTO contacts_version (session, version) VALUES (s, 1)
        ON CONFLICT (session) DO UPDATE SET version = contacts_version.version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_version_on_insert AFTER INSERT ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_version_bump();

CREATE TRIGGER contacts_version_on_delete AFTER DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_version_bump();

CREATE TRIGGER contacts_version_on_update
    AFTER UPDATE OF session, jid, name, push_name, verified_name ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_version_bump();
