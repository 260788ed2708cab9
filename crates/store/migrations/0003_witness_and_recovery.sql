-- Store schema version 3 (release 3): rollback detection and recovery.
-- The head is now signed as a head statement (`stockade-head/v2`) that includes the highest
-- receipt number issued; a release-1/2 head (signed like a checkpoint) is re-signed once, at
-- the first open after this migration, after it was checked.
ALTER TABLE head ADD COLUMN sale_no INTEGER;
-- Receipt numbers below this are never issued again (set when the store finds it went back in
-- time: the witness file records how far numbering had gone).
CREATE TABLE integrity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sale_no_floor INTEGER NOT NULL
);
-- A detected rollback not yet reconciled with HQ: the store sells on a stale branch, behind
-- the witnessed history (`truth_size`, `truth_head`).
CREATE TABLE rollback_pending (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    detected_at INTEGER NOT NULL,
    local_size INTEGER NOT NULL,
    truth_size INTEGER NOT NULL,
    truth_head BLOB NOT NULL,
    source TEXT NOT NULL
);
-- Every recovery: how far the store was, what it got back, what it re-recorded.
CREATE TABLE recoveries (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    local_size INTEGER NOT NULL,
    diverged_at INTEGER NOT NULL,
    hq_size INTEGER NOT NULL,
    recovered INTEGER NOT NULL,
    reconciled INTEGER NOT NULL,
    lost INTEGER NOT NULL,
    note TEXT NOT NULL
);
-- The entries of a stale branch as they were, kept as evidence once re-recorded.
CREATE TABLE stale_entries (
    recovery INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    hash BLOB NOT NULL,
    reconciled_as INTEGER NOT NULL,
    PRIMARY KEY (recovery, seq)
);
