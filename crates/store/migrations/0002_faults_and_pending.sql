-- Store schema version 2 (release 2).
-- Journal entries that cannot be applied to the projections (a total that would leave its
-- range, or a kind written by a newer release): a projection, rebuilt by replay like the others,
-- and named by `store verify` and `store status`.
CREATE TABLE projection_faults (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL
);
-- HQ entries (catalog, purchase orders) of a kind this release does not know: verified against
-- HQ's key and held, unapplied, until an upgrade can apply them; shown by `store status`.
CREATE TABLE hq_pending (
    hq_seq INTEGER PRIMARY KEY,
    -- 'catalog' (numbered per retailer) or 'orders' (numbered per store), and that number.
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    entry BLOB NOT NULL,
    signature TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
