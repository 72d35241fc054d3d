-- Several processes ("nodes") share this database; each session runs in one of them,
-- the holder of its lease. `nodes` is the registry (how to reach a node, its last
-- heartbeat); `leases` has one row per session ever leased, renewed by its holder
-- until `expires_ms` (Unix ms of the holder's clock). Every change is a compare-and-set
-- statement (see crates/store/src/leases.rs), so no advisory lock is needed.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY NOT NULL,
    url          TEXT NOT NULL,
    heartbeat_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE leases (
    session    TEXT PRIMARY KEY NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    holder     TEXT,
    expires_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX leases_by_holder ON leases (holder);
