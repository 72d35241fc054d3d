-- PostgreSQL twin of migrations/sqlite/0009_leases.sql: same tables and keys; INTEGER is
-- BIGINT, TEXT is COLLATE "C".
-- Several processes ("nodes") share this database; each session runs in one of them,
-- the holder of its lease. `nodes` is the registry (how to reach a node, its last
-- heartbeat); `leases` has one row per session ever leased, renewed by its holder
-- until `expires_ms` (Unix ms of the holder's clock). Every change is a compare-and-set
-- statement (see crates/store/src/leases.rs), so no advisory lock is needed.
CREATE TABLE nodes (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    url          TEXT COLLATE "C" NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);

CREATE TABLE leases (
    session    TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    holder     TEXT COLLATE "C",
    expires_ms BIGINT NOT NULL
);

CREATE INDEX leases_by_holder ON leases (holder);
