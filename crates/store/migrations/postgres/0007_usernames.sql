-- PostgreSQL twin of migrations/sqlite/0007_usernames.sql: same tables and keys; INTEGER is
-- BIGINT, BLOB is BYTEA, TEXT is COLLATE "C" (bytewise order and LIKE-prefix
-- index use, as in SQLite).
-- WhatsApp usernames (issue 16). The existence cache's key (`phone`) also holds
-- username checks: '@handle', or '@handle#PIN' when asked with a PIN (a wrong PIN finds
-- nobody, so each PIN is its own question); `username` is the handle WhatsApp answered.
ALTER TABLE existence_cache ADD COLUMN username TEXT COLLATE "C";

-- `GET /api/contacts?contactId=@handle` finds a contact by username.
CREATE INDEX contacts_by_username ON contacts (session, username) WHERE username IS NOT NULL;
