-- HQ schema version 2 (release 2).
-- Store entries HQ holds (byte for byte, verified, co-signed) but has left out of its figures:
-- a kind written by a newer release, or a figure out of range. Derived (replay rebuilds it);
-- `hq reproject` projects them after an upgrade.
CREATE TABLE unprojected (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (retailer_id, store_id, seq)
);
