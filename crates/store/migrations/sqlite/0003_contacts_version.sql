-- A per-session counter bumped whenever the order of its contact listing may change
-- (rows added, removed, re-keyed or renamed). In-memory page indexes check it to know
-- they are still true. (No OR-clauses inside the triggers: an outer INSERT OR REPLACE
-- would impose its own conflict policy on them.)
CREATE TABLE contacts_version (
    session TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
) STRICT;

CREATE TRIGGER contacts_version_on_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_version (session, version) SELECT NEW.session, 0
        WHERE NOT EXISTS (SELECT 1 FROM contacts_version WHERE session = NEW.session);
    UPDATE contacts_version SET version = version + 1 WHERE session = NEW.session;
END;

CREATE TRIGGER contacts_version_on_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contacts_version (session, version) SELECT OLD.session, 0
        WHERE NOT EXISTS (SELECT 1 FROM contacts_version WHERE session = OLD.session);
    UPDATE contacts_version SET version = version + 1 WHERE session = OLD.session;
END;

CREATE TRIGGER contacts_version_on_update
AFTER UPDATE OF session, jid, name, push_name, verified_name ON contacts BEGIN
    INSERT INTO contacts_version (session, version) SELECT NEW.session, 0
        WHERE NOT EXISTS (SELECT 1 FROM contacts_version WHERE session = NEW.session);
    UPDATE contacts_version SET version = version + 1 WHERE session = NEW.session;
END;
