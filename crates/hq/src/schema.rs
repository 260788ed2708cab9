//! HQ tables. Every table that holds a retailer's data has `retailer_id` first in its primary
//! key, so PostgreSQL can partition it (or Citus distribute it) by retailer.
//!
//! Three kinds of table:
//! * journals: `hq_journal` (HQ's own, signed by HQ) and `entries` (each store's, exact bytes),
//!   plus `checkpoints` signed by the store and co-signed by HQ;
//! * **derived** tables, rebuilt by replaying those journals; `verify` compares them row by row;
//! * operational tables (`contact`, `alerts`): last contact times and alerts, not evidence.

use stockade_migrate::Migration;

/// Every schema change, in order, in the neutral dialect (see `stockade_migrate`). A released
/// file never changes.
pub const MIGRATIONS: &[Migration] = &[
    Migration::new(1, "initial", include_str!("../migrations/0001_initial.sql")),
    Migration::new(2, "unprojected", include_str!("../migrations/0002_unprojected.sql")),
];

/// Tables derived from the journals, each with its key columns (a prefix of its columns) and
/// all columns in order. `verify` replays the journals and compares these row by row.
pub const DERIVED: &[(&str, &[&str], &[&str])] = &[
    ("retailers", &["retailer_id"], &["retailer_id", "name"]),
    ("stores", &["retailer_id", "public_key"], &["retailer_id", "public_key", "name", "code_hash", "store_id"]),
    ("publications", &["retailer_id", "retailer_seq"], &["retailer_id", "retailer_seq", "hq_seq", "products"]),
    ("hq_users", &["user_id"], &["user_id", "name", "role", "retailer_id", "active"]),
    ("sharing", &["retailer_id"], &["retailer_id", "store_level"]),
    ("store_heads", &["retailer_id", "store_id"], &["retailer_id", "store_id", "size", "head", "name", "jurisdiction", "timezone"]),
    (
        "products",
        &["retailer_id", "store_id", "product_id"],
        &["retailer_id", "store_id", "product_id", "sku", "gtin", "name", "class", "net_weight_mg", "price_minor"],
    ),
    (
        "sale_lines",
        &["retailer_id", "store_id", "sale_id", "line_no"],
        &["retailer_id", "store_id", "sale_id", "line_no", "product_id", "quantity", "net_minor", "tax_minor", "lots_quantity"],
    ),
    ("stock", &["retailer_id", "store_id", "product_id"], &["retailer_id", "store_id", "product_id", "on_hand"]),
    (
        "daily_sales",
        &["retailer_id", "store_id", "day", "product_id"],
        &["retailer_id", "store_id", "day", "product_id", "units_sold", "units_returned", "weight_mg", "net_minor", "tax_minor", "refund_minor"],
    ),
    ("daily_stock", &["retailer_id", "store_id", "day", "product_id"], &["retailer_id", "store_id", "day", "product_id", "closing"]),
    ("purchase_orders", &["retailer_id", "store_id", "store_seq"], &["retailer_id", "store_id", "store_seq", "po_id", "hq_seq", "approved_by", "at_ms"]),
    ("purchase_order_lines", &["retailer_id", "store_id", "po_id", "product_id"], &["retailer_id", "store_id", "po_id", "product_id", "sku", "units"]),
    ("po_events", &["retailer_id", "store_id", "po_id", "kind"], &["retailer_id", "store_id", "po_id", "kind", "seq"]),
    ("unprojected", &["retailer_id", "store_id", "seq"], &["retailer_id", "store_id", "seq", "kind", "reason"]),
];
