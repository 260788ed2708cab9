-- Release 4: what a store holds to vouch for head office, so HQ can be rebuilt from its stores
-- alone, and HQ's witnessed history (operational evidence, not journaled; each row carries
-- HQ's signature and is checked again by whoever reads it).

-- The part of HQ's journal addressed to this store: exact bytes, and the signature of
-- (hq_seq, entry hash) by the HQ key that handed it over.
CREATE TABLE hq_copy (
    hq_seq INTEGER PRIMARY KEY,
    entry BLOB NOT NULL,
    signature TEXT NOT NULL,
    received_at INTEGER NOT NULL
);

-- Every HQ key the store has trusted, oldest first ('hq'), and HQ's offline root key ('root'),
-- which alone can name a new HQ key. Old co-signatures stay checked against the key that made them.
CREATE TABLE hq_keys (
    public_key TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('hq', 'root')),
    ord INTEGER NOT NULL,
    since_ms INTEGER NOT NULL
);
INSERT INTO hq_keys (public_key, role, ord, since_ms) SELECT hq_public_key, 'hq', 0, 0 FROM sync WHERE id = 1;

-- The latest tree heads HQ signed over every store's head (JSON with the leaves).
CREATE TABLE tree_heads (
    root TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX tree_heads_at ON tree_heads (at_ms);

-- How far the store has read HQ's journal for its copy, and where the latest HQ rebuild's new
-- entries start (what the store held from there on was the old journal's).
ALTER TABLE sync ADD COLUMN hq_copy_after INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync ADD COLUMN hq_rebuilt_at INTEGER NOT NULL DEFAULT 0;
