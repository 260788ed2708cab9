-- Store schema version 1: the schema of release 1 (created with IF NOT EXISTS on every open,
-- so applying it to a release-1 database changes nothing). Never edit a released migration.
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    recorded_at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    bytes BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
-- The latest signed head, rewritten at every commit: a deleted tail is detected.
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    hash BLOB NOT NULL,
    signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    head BLOB NOT NULL,
    signature BLOB NOT NULL,
    hq_signature BLOB
);
-- Link to head office (operational, not journaled): set by `stockade store enroll`.
CREATE TABLE IF NOT EXISTS sync (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hq_url TEXT NOT NULL,
    hq_public_key TEXT NOT NULL,
    hq_id TEXT NOT NULL,
    retailer_id TEXT NOT NULL,
    acked_size INTEGER NOT NULL,
    last_ok_ms INTEGER,
    last_attempt_ms INTEGER,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS credentials (
    user_id TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0
);
-- Quick-switch PINs for a shared till: Argon2id hashes; after MAX_PIN_FAILURES wrong PINs the
-- PIN is refused until the person signs in with their password.
CREATE TABLE IF NOT EXISTS pins (
    user_id TEXT PRIMARY KEY,
    pin_hash TEXT NOT NULL,
    failed INTEGER NOT NULL DEFAULT 0
);
-- Wrong one-time codes per order (operational, not journaled).
CREATE TABLE IF NOT EXISTS order_code_failures (
    order_id TEXT PRIMARY KEY,
    failed INTEGER NOT NULL
);
-- Customer records, sealed with the retailer's key; not journaled, deleted at expiry.
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    id_hash TEXT,
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hq_catalog (
    retailer_seq INTEGER PRIMARY KEY,
    hq_id TEXT NOT NULL,
    hq_seq INTEGER NOT NULL,
    products INTEGER NOT NULL,
    applied_seq INTEGER NOT NULL
);
-- Purchase orders approved at HQ: in transit until stock is received with the order's id as
-- the receipt's document (received_seq is that receipt's entry).
CREATE TABLE IF NOT EXISTS purchase_orders (
    po_id TEXT PRIMARY KEY,
    store_seq INTEGER NOT NULL UNIQUE,
    hq_id TEXT NOT NULL,
    hq_seq INTEGER NOT NULL,
    applied_seq INTEGER NOT NULL,
    received_seq INTEGER,
    receipt_id TEXT
);
CREATE TABLE IF NOT EXISTS purchase_order_lines (
    po_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    units INTEGER NOT NULL,
    PRIMARY KEY (po_id, product_id)
);
CREATE TABLE IF NOT EXISTS store_info (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    store_id TEXT NOT NULL,
    name TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    timezone TEXT NOT NULL,
    public_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS staff (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    active INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS products (
    product_id TEXT PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    gtin TEXT UNIQUE,
    name TEXT NOT NULL,
    brand TEXT NOT NULL,
    category TEXT NOT NULL,
    class TEXT NOT NULL,
    net_weight_mg INTEGER,
    net_volume_ml INTEGER,
    thc_mg INTEGER,
    cbd_mg INTEGER,
    price_minor INTEGER,
    tax_class TEXT NOT NULL,
    on_hand INTEGER NOT NULL,
    updated_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS products_name ON products(name);
CREATE TABLE IF NOT EXISTS lots (
    lot_id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    lot_code TEXT NOT NULL,
    package_tag TEXT,
    supplier TEXT NOT NULL,
    received_seq INTEGER NOT NULL,
    unit_cost_minor INTEGER NOT NULL,
    lab_thc_mg INTEGER,
    on_hand INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS lots_product ON lots(product_id, received_seq);
CREATE TABLE IF NOT EXISTS stock_moves (
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    product_id TEXT NOT NULL,
    lot_id TEXT NOT NULL,
    delta INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (seq, idx)
);
CREATE TABLE IF NOT EXISTS sales (
    sale_id TEXT PRIMARY KEY,
    sale_no INTEGER NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    till_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    local_date TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    request_digest TEXT,
    customer_hash TEXT,
    subtotal_minor INTEGER NOT NULL,
    tax_minor INTEGER NOT NULL,
    total_minor INTEGER NOT NULL,
    tendered_minor INTEGER NOT NULL,
    change_minor INTEGER NOT NULL,
    cash_kept_minor INTEGER NOT NULL,
    taxes_json TEXT NOT NULL,
    status TEXT NOT NULL,
    refunded_minor INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sales_day ON sales(local_date);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    order_no INTEGER NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    code_hash TEXT NOT NULL,
    customer_id TEXT,
    customer_hash TEXT,
    total_minor INTEGER NOT NULL,
    placed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    sale_id TEXT
);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status, expires_at);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    product_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_minor INTEGER NOT NULL,
    total_minor INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX IF NOT EXISTS order_lines_product ON order_lines(product_id);
CREATE TABLE IF NOT EXISTS store_alerts (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sales_customer ON sales(customer_hash, local_date);
CREATE TABLE IF NOT EXISTS sale_lines (
    sale_id TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    product_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    class TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    returned_quantity INTEGER NOT NULL,
    unit_price_minor INTEGER NOT NULL,
    net_minor INTEGER NOT NULL,
    tax_minor INTEGER NOT NULL,
    total_minor INTEGER NOT NULL,
    taxes_json TEXT NOT NULL,
    lots_json TEXT NOT NULL,
    PRIMARY KEY (sale_id, line_no)
);
CREATE TABLE IF NOT EXISTS sale_tenders (
    sale_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    PRIMARY KEY (sale_id, idx)
);
CREATE TABLE IF NOT EXISTS returns (
    return_id TEXT PRIMARY KEY,
    sale_id TEXT NOT NULL,
    till_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    actor TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    local_date TEXT NOT NULL,
    refund_minor INTEGER NOT NULL,
    refund_tender TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tills (
    till_id TEXT PRIMARY KEY,
    register TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    float_minor INTEGER NOT NULL,
    status TEXT NOT NULL,
    cash_sales_minor INTEGER NOT NULL,
    cash_refunds_minor INTEGER NOT NULL,
    closed_by TEXT,
    closed_at INTEGER,
    counted_minor INTEGER,
    expected_minor INTEGER,
    variance_minor INTEGER
);
