//! SQLite schema of a store node. Projection tables are rebuilt from the journal by `verify`
//! and compared row for row; operational tables (sessions, credentials) are not projections.

use stockade_migrate::Migration;

/// Tables derived from the journal, with the key used to name a differing row.
pub const PROJECTIONS: &[(&str, &str)] = &[
    ("store_info", "id"),
    ("staff", "user_id"),
    ("products", "product_id"),
    ("lots", "lot_id"),
    ("stock_moves", "seq || ':' || idx"),
    ("sales", "sale_id"),
    ("sale_lines", "sale_id || ':' || line_no"),
    ("sale_tenders", "sale_id || ':' || idx"),
    ("returns", "return_id"),
    ("tills", "till_id"),
    ("hq_catalog", "retailer_seq"),
    ("orders", "order_id"),
    ("order_lines", "order_id || ':' || line_no"),
    ("store_alerts", "seq"),
    ("purchase_orders", "po_id"),
    ("purchase_order_lines", "po_id || ':' || product_id"),
    ("projection_faults", "seq"),
];

/// Every schema change, in order (see `stockade_migrate`). A released file never changes.
pub const MIGRATIONS: &[Migration] = &[
    Migration::new(1, "initial", include_str!("../migrations/0001_initial.sql")),
    Migration::new(2, "faults_and_pending", include_str!("../migrations/0002_faults_and_pending.sql")),
    Migration::new(3, "witness_and_recovery", include_str!("../migrations/0003_witness_and_recovery.sql")),
    Migration::new(4, "hq_evidence", include_str!("../migrations/0004_hq_evidence.sql")),
    Migration::new(5, "checkout_limits", include_str!("../migrations/0005_checkout_limits.sql")),
];
