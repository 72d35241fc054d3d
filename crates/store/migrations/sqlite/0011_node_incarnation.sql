-- Which process runs as a node: a random token per process start. A heartbeat under a
-- node id updates the row only for the same process, or once the row's heartbeat has
-- gone stale; so two live processes given the same node id are told apart, and the
-- second one does not start (crates/server/src/lease/mod.rs, `Leases::join`).
ALTER TABLE nodes ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
