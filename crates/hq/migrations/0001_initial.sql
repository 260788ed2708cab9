-- HQ schema version 1: the schema of release 1, in the neutral dialect of `db.rs` (BYTES,
-- SERIALKEY), created with IF NOT EXISTS on every open: applying it to a release-1 database
-- changes nothing. Never edit a released migration.
CREATE TABLE IF NOT EXISTS hq_journal (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    bytes BYTES NOT NULL,
    hash BYTES NOT NULL
);
CREATE TABLE IF NOT EXISTS hq_head (
    id BIGINT PRIMARY KEY,
    size BIGINT NOT NULL,
    hash BYTES NOT NULL,
    signature BYTES NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    bytes BYTES NOT NULL,
    hash BYTES NOT NULL,
    PRIMARY KEY (retailer_id, store_id, seq)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    prev_size BIGINT NOT NULL,
    head BYTES NOT NULL,
    store_signature BYTES NOT NULL,
    hq_signature BYTES NOT NULL,
    PRIMARY KEY (retailer_id, store_id, size)
);
CREATE TABLE IF NOT EXISTS retailers (
    retailer_id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stores (
    retailer_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    name TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    store_id TEXT NOT NULL,
    PRIMARY KEY (retailer_id, public_key)
);
CREATE TABLE IF NOT EXISTS publications (
    retailer_id TEXT NOT NULL,
    retailer_seq BIGINT NOT NULL,
    hq_seq BIGINT NOT NULL,
    products BIGINT NOT NULL,
    PRIMARY KEY (retailer_id, retailer_seq)
);
CREATE TABLE IF NOT EXISTS store_heads (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    head BYTES NOT NULL,
    name TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    timezone TEXT NOT NULL,
    PRIMARY KEY (retailer_id, store_id)
);
CREATE TABLE IF NOT EXISTS products (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    gtin TEXT,
    name TEXT NOT NULL,
    class TEXT NOT NULL,
    net_weight_mg BIGINT,
    price_minor BIGINT,
    PRIMARY KEY (retailer_id, store_id, product_id)
);
CREATE TABLE IF NOT EXISTS sale_lines (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    sale_id TEXT NOT NULL,
    line_no BIGINT NOT NULL,
    product_id TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    net_minor BIGINT NOT NULL,
    tax_minor BIGINT NOT NULL,
    lots_quantity BIGINT NOT NULL,
    PRIMARY KEY (retailer_id, store_id, sale_id, line_no)
);
CREATE TABLE IF NOT EXISTS stock (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    on_hand BIGINT NOT NULL,
    PRIMARY KEY (retailer_id, store_id, product_id)
);
CREATE TABLE IF NOT EXISTS daily_sales (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    day TEXT NOT NULL,
    product_id TEXT NOT NULL,
    units_sold BIGINT NOT NULL,
    units_returned BIGINT NOT NULL,
    weight_mg BIGINT NOT NULL,
    net_minor BIGINT NOT NULL,
    tax_minor BIGINT NOT NULL,
    refund_minor BIGINT NOT NULL,
    PRIMARY KEY (retailer_id, store_id, day, product_id)
);
CREATE TABLE IF NOT EXISTS daily_stock (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    day TEXT NOT NULL,
    product_id TEXT NOT NULL,
    closing BIGINT NOT NULL,
    PRIMARY KEY (retailer_id, store_id, day, product_id)
);
CREATE TABLE IF NOT EXISTS contact (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    last_contact_ms BIGINT NOT NULL,
    reported_size BIGINT NOT NULL,
    attention TEXT NOT NULL,
    PRIMARY KEY (retailer_id, store_id)
);
CREATE TABLE IF NOT EXISTS hq_users (
    user_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    retailer_id TEXT NOT NULL,
    active BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS sharing (
    retailer_id TEXT PRIMARY KEY,
    store_level BIGINT NOT NULL
);
-- Users' API tokens, by SHA-256 only (not journaled, like passwords).
CREATE TABLE IF NOT EXISTS user_tokens (
    token_hash BYTES PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
-- Every read of sensitive data and every permission change: append-only, hash-chained, its head
-- signed by HQ's key at every append.
CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    rows_read BIGINT NOT NULL,
    bytes BYTES NOT NULL,
    hash BYTES NOT NULL
);
-- Export register: who exported what for whom, and each exported row's per-export reference.
CREATE TABLE IF NOT EXISTS recipients (
    recipient TEXT PRIMARY KEY,
    fp_key BYTES NOT NULL
);
CREATE TABLE IF NOT EXISTS exports (
    export_id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    what TEXT NOT NULL,
    rows_out BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS export_rows (
    row_ref TEXT PRIMARY KEY,
    export_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_failures (
    at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    id BIGINT PRIMARY KEY,
    size BIGINT NOT NULL,
    hash BYTES NOT NULL,
    signature BYTES NOT NULL
);
-- Purchase orders approved at HQ (from HQ's journal), and what the stores' journals say of
-- them: kind 'received' (stock received with the order's id as the receipt's document).
CREATE TABLE IF NOT EXISTS purchase_orders (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    store_seq BIGINT NOT NULL,
    po_id TEXT NOT NULL,
    hq_seq BIGINT NOT NULL,
    approved_by TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (retailer_id, store_id, store_seq)
);
CREATE TABLE IF NOT EXISTS purchase_order_lines (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    po_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    units BIGINT NOT NULL,
    PRIMARY KEY (retailer_id, store_id, po_id, product_id)
);
CREATE TABLE IF NOT EXISTS po_events (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    po_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (retailer_id, store_id, po_id, kind)
);
-- Forecast runs and, per store × product, the latest run's forecast and replenishment proposal.
-- Computed from daily_sales, stock and open purchase orders (not journaled: a run recomputes
-- them). Demand figures are in thousandths of a unit.
CREATE TABLE IF NOT EXISTS forecast_runs (
    run_id TEXT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    as_of TEXT NOT NULL,
    params TEXT NOT NULL,
    series BIGINT NOT NULL,
    proposals BIGINT NOT NULL,
    millis BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS forecasts (
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    class TEXT NOT NULL,
    daily_milli TEXT NOT NULL,
    cover_milli BIGINT NOT NULL,
    order_up_to BIGINT NOT NULL,
    on_hand BIGINT NOT NULL,
    in_transit BIGINT NOT NULL,
    pack BIGINT NOT NULL,
    units BIGINT NOT NULL,
    status TEXT NOT NULL,
    po_id TEXT NOT NULL,
    PRIMARY KEY (retailer_id, store_id, product_id)
);
CREATE TABLE IF NOT EXISTS alerts (
    id SERIALKEY,
    at_ms BIGINT NOT NULL,
    retailer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
