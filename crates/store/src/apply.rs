//! Projections: how each journal event changes the derived tables. This is the only code that
//! writes projection tables, and `verify` replays through it, so stored state and replayed state
//! cannot drift apart without `verify` seeing it. It reads no clock and draws no randomness.

use crate::error::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use stockade_journal::event::LotTake;
use stockade_journal::{Envelope, Event};

pub use stockade_domain::local_date;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Largest magnitude any projected count or amount may reach (stock in units, money in minor
/// units): far above any real store, far below where `i64` arithmetic wraps.
pub const MAX_PROJECTED: i64 = stockade_domain::MAX_TOTAL;

/// Applies one entry's event to the projection tables of `conn`. Every running total is
/// checked: an entry that would take one out of range is an [`StoreError::Unprojectable`]
/// naming the entry and the total (its partial effects are rolled back by the caller).
pub fn apply(conn: &Connection, seq: u64, env: &Envelope) -> Result<(), StoreError> {
    let seq_i = seq as i64;
    let out_of_range = |reason: String| StoreError::Unprojectable { seq, kind: env.event.kind().to_string(), reason };
    match &env.event {
        Event::StoreInitialized { store_id, name, jurisdiction, timezone, public_key } => {
            conn.execute(
                "INSERT INTO store_info (id, store_id, name, jurisdiction, timezone, public_key) VALUES (1, ?1, ?2, ?3, ?4, ?5)",
                params![store_id, name, jurisdiction, timezone, public_key],
            )?;
        }
        Event::StaffAdded { user_id, username, display_name, role } => {
            conn.execute(
                "INSERT INTO staff (user_id, username, display_name, role, active) VALUES (?1, ?2, ?3, ?4, 1)",
                params![user_id, username, display_name, role.as_str()],
            )?;
        }
        Event::StaffDisabled { user_id } => {
            conn.execute("UPDATE staff SET active = 0 WHERE user_id = ?1", params![user_id])?;
        }
        Event::ProductCreated { product_id, spec } | Event::ProductUpdated { product_id, spec } => {
            let created = matches!(env.event, Event::ProductCreated { .. });
            let sql = if created {
                "INSERT INTO products (product_id, sku, gtin, name, brand, category, class, net_weight_mg, net_volume_ml, thc_mg, cbd_mg,
                    price_minor, tax_class, on_hand, updated_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14)"
            } else {
                "UPDATE products SET sku = ?2, gtin = ?3, name = ?4, brand = ?5, category = ?6, class = ?7, net_weight_mg = ?8,
                    net_volume_ml = ?9, thc_mg = ?10, cbd_mg = ?11, price_minor = ?12, tax_class = ?13, updated_seq = ?14
                 WHERE product_id = ?1"
            };
            conn.execute(
                sql,
                params![
                    product_id,
                    spec.sku,
                    spec.gtin,
                    spec.name,
                    spec.brand,
                    spec.category,
                    spec.class.as_str(),
                    spec.net_weight_mg,
                    spec.net_volume_ml,
                    spec.thc_mg,
                    spec.cbd_mg,
                    spec.price_minor,
                    spec.tax_class.as_str(),
                    seq_i
                ],
            )?;
        }
        Event::PriceChanged { product_id, new_price_minor, .. } => {
            conn.execute("UPDATE products SET price_minor = ?2, updated_seq = ?3 WHERE product_id = ?1", params![product_id, new_price_minor, seq_i])?;
        }
        Event::StockReceived { receipt_id, supplier, document, lines } => {
            // A receipt whose document is an open purchase order's id closes that order.
            conn.execute(
                "UPDATE purchase_orders SET received_seq = ?2, receipt_id = ?3 WHERE po_id = ?1 AND received_seq IS NULL",
                params![document, seq_i, receipt_id],
            )?;
            for (idx, l) in lines.iter().enumerate() {
                conn.execute(
                    "INSERT INTO lots (lot_id, product_id, lot_code, package_tag, supplier, received_seq, unit_cost_minor, lab_thc_mg, on_hand)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
                    params![l.lot_id, l.product_id, l.lot_code, l.package_tag, supplier, seq_i, l.unit_cost_minor, l.lab_thc_mg],
                )?;
                move_stock(conn, seq_i, idx, &l.product_id, &l.lot_id, l.quantity, "received").map_err(|e| e.at(seq, env))?;
            }
        }
        Event::StockAdjusted { product_id, reason, changes, .. } => {
            for (idx, c) in changes.iter().enumerate() {
                move_stock(conn, seq_i, idx, product_id, &c.lot_id, c.quantity, reason.as_str()).map_err(|e| e.at(seq, env))?;
            }
        }
        Event::StockCounted { lines, .. } => {
            let mut idx = 0;
            for l in lines {
                for c in &l.changes {
                    move_stock(conn, seq_i, idx, &l.product_id, &c.lot_id, c.quantity, "count").map_err(|e| e.at(seq, env))?;
                    idx += 1;
                }
            }
        }
        Event::SaleRecorded { sale_id, sale_no, till_id, idempotency_key, request_digest, customer_hash, lines, totals, tenders, settlement } => {
            let tz = store_tz(conn)?;
            conn.execute(
                "INSERT INTO sales (sale_id, sale_no, seq, till_id, actor, recorded_at, local_date, idempotency_key, request_digest,
                    customer_hash, subtotal_minor, tax_minor, total_minor, tendered_minor, change_minor, cash_kept_minor, taxes_json,
                    status, refunded_minor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 'completed', 0)",
                params![
                    sale_id,
                    *sale_no as i64,
                    seq_i,
                    till_id,
                    env.actor,
                    env.at_ms,
                    local_date(tz, env.at_ms),
                    idempotency_key,
                    request_digest,
                    customer_hash,
                    totals.subtotal_minor,
                    totals.tax_minor,
                    totals.total_minor,
                    settlement.tendered_minor,
                    settlement.change_minor,
                    settlement.cash_kept_minor,
                    json(&totals.taxes)
                ],
            )?;
            let mut idx = 0;
            for (line_no, l) in lines.iter().enumerate() {
                let tax: i64 = l.taxes.iter().map(|t| t.amount_minor).sum();
                conn.execute(
                    "INSERT INTO sale_lines (sale_id, line_no, product_id, sku, name, class, quantity, returned_quantity,
                        unit_price_minor, net_minor, tax_minor, total_minor, taxes_json, lots_json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10, ?11, ?12, ?13)",
                    params![
                        sale_id,
                        line_no as i64,
                        l.product_id,
                        l.sku,
                        l.name,
                        l.class.as_str(),
                        l.quantity,
                        l.unit_price_minor,
                        l.net_minor,
                        tax,
                        l.total_minor,
                        json(&l.taxes),
                        json(&l.lots)
                    ],
                )?;
                for t in &l.lots {
                    let delta = t.quantity.checked_neg().ok_or_else(|| out_of_range(format!("sold quantity {} is out of range", t.quantity)))?;
                    move_stock(conn, seq_i, idx, &l.product_id, &t.lot_id, delta, "sale").map_err(|e| e.at(seq, env))?;
                    idx += 1;
                }
            }
            for (i, t) in tenders.iter().enumerate() {
                conn.execute(
                    "INSERT INTO sale_tenders (sale_id, idx, kind, amount_minor) VALUES (?1, ?2, ?3, ?4)",
                    params![sale_id, i as i64, t.kind.as_str(), t.amount_minor],
                )?;
            }
            add_to(conn, "tills", "cash_sales_minor", "till_id", till_id, settlement.cash_kept_minor, true).map_err(|e| e.at(seq, env))?;
        }
        Event::SaleVoided { sale_id, .. } => {
            let sale: Option<(String, i64)> =
                conn.query_row("SELECT till_id, cash_kept_minor FROM sales WHERE sale_id = ?1", params![sale_id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            let (till_id, cash_kept) = sale.ok_or_else(|| out_of_range(missing("sale", sale_id)))?;
            conn.execute("UPDATE sales SET status = 'voided' WHERE sale_id = ?1", params![sale_id])?;
            let back = cash_kept.checked_neg().ok_or_else(|| out_of_range("the sale's cash is out of range".into()))?;
            add_to(conn, "tills", "cash_sales_minor", "till_id", &till_id, back, true).map_err(|e| e.at(seq, env))?;
            let mut stmt = conn.prepare("SELECT product_id, lots_json FROM sale_lines WHERE sale_id = ?1 ORDER BY line_no")?;
            let lines: Vec<(String, String)> = stmt.query_map(params![sale_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            let mut idx = 0;
            for (product_id, lots_json) in lines {
                let lots: Vec<LotTake> = serde_json::from_str(&lots_json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                for t in lots {
                    move_stock(conn, seq_i, idx, &product_id, &t.lot_id, t.quantity, "void").map_err(|e| e.at(seq, env))?;
                    idx += 1;
                }
            }
        }
        Event::SaleReturned { return_id, sale_id, till_id, lines, refund_minor, refund_tender, reason } => {
            let tz = store_tz(conn)?;
            conn.execute(
                "INSERT INTO returns (return_id, sale_id, till_id, seq, actor, recorded_at, local_date, refund_minor, refund_tender, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![return_id, sale_id, till_id, seq_i, env.actor, env.at_ms, local_date(tz, env.at_ms), refund_minor, refund_tender.as_str(), reason],
            )?;
            add_to(conn, "sales", "refunded_minor", "sale_id", sale_id, *refund_minor, true).map_err(|e| e.at(seq, env))?;
            if *refund_tender == stockade_journal::payload::TenderKind::Cash {
                add_to(conn, "tills", "cash_refunds_minor", "till_id", till_id, *refund_minor, true).map_err(|e| e.at(seq, env))?;
            }
            let mut idx = 0;
            for l in lines {
                conn.execute(
                    "UPDATE sale_lines SET returned_quantity = returned_quantity + ?3 WHERE sale_id = ?1 AND line_no = ?2",
                    params![sale_id, l.line as i64, l.quantity],
                )?;
                for t in &l.restocked {
                    move_stock(conn, seq_i, idx, &l.product_id, &t.lot_id, t.quantity, "return").map_err(|e| e.at(seq, env))?;
                    idx += 1;
                }
            }
        }
        Event::HqCatalogApplied { hq_id, hq_seq, retailer_seq, products } => {
            conn.execute(
                "INSERT INTO hq_catalog (retailer_seq, hq_id, hq_seq, products, applied_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![*retailer_seq as i64, hq_id, *hq_seq as i64, *products as i64, seq_i],
            )?;
        }
        Event::HqPurchaseOrderApplied { hq_id, hq_seq, store_seq, po_id, lines } => {
            conn.execute(
                "INSERT INTO purchase_orders (po_id, store_seq, hq_id, hq_seq, applied_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![po_id, *store_seq as i64, hq_id, *hq_seq as i64, seq_i],
            )?;
            for l in lines {
                conn.execute(
                    "INSERT INTO purchase_order_lines (po_id, product_id, sku, units) VALUES (?1, ?2, ?3, ?4)",
                    params![po_id, l.product_id, l.sku, l.units],
                )?;
            }
        }
        Event::OrderPlaced {
            order_id,
            order_no,
            order_kind,
            token_hash,
            code_hash,
            customer_id,
            customer_hash,
            lines,
            total_minor,
            expires_at_ms,
            window_start_ms,
            window_end_ms,
        } => {
            let kind = order_kind.as_str();
            conn.execute(
                "INSERT INTO orders (order_id, order_no, kind, status, token_hash, code_hash, customer_id, customer_hash, total_minor,
                    placed_at, expires_at, window_start, window_end, updated_at, sale_id)
                 VALUES (?1, ?2, ?3, 'placed', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?9, NULL)",
                params![
                    order_id,
                    *order_no as i64,
                    kind,
                    token_hash,
                    code_hash,
                    customer_id,
                    customer_hash,
                    total_minor,
                    env.at_ms,
                    expires_at_ms,
                    window_start_ms,
                    window_end_ms
                ],
            )?;
            for (i, l) in lines.iter().enumerate() {
                conn.execute(
                    "INSERT INTO order_lines (order_id, line_no, product_id, sku, name, quantity, unit_price_minor, total_minor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![order_id, i as i64, l.product_id, l.sku, l.name, l.quantity, l.unit_price_minor, l.total_minor],
                )?;
            }
        }
        Event::OrderStatusChanged { order_id, status, .. } => {
            let n = conn.execute("UPDATE orders SET status = ?2, updated_at = ?3 WHERE order_id = ?1", params![order_id, status.as_str(), env.at_ms])?;
            if n != 1 {
                return Err(out_of_range(missing("order", order_id)));
            }
        }
        Event::OrderCompleted { order_id, sale_id } => {
            let n = conn
                .execute("UPDATE orders SET status = 'completed', sale_id = ?2, updated_at = ?3 WHERE order_id = ?1", params![order_id, sale_id, env.at_ms])?;
            if n != 1 {
                return Err(out_of_range(missing("order", order_id)));
            }
        }
        Event::SecurityAlert { alert_kind, message } => {
            conn.execute("INSERT INTO store_alerts (seq, at_ms, kind, message) VALUES (?1, ?2, ?3, ?4)", params![seq_i, env.at_ms, alert_kind, message])?;
        }
        Event::TillOpened { till_id, register, float_minor } => {
            conn.execute(
                "INSERT INTO tills (till_id, register, opened_by, opened_at, float_minor, status, cash_sales_minor, cash_refunds_minor)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'open', 0, 0)",
                params![till_id, register, env.actor, env.at_ms, float_minor],
            )?;
        }
        Event::TillClosed { till_id, counted_minor, expected_minor, variance_minor } => {
            conn.execute(
                "UPDATE tills SET status = 'closed', closed_by = ?2, closed_at = ?3, counted_minor = ?4, expected_minor = ?5, variance_minor = ?6
                 WHERE till_id = ?1",
                params![till_id, env.actor, env.at_ms, counted_minor, expected_minor, variance_minor],
            )?;
        }
        Event::EntryReconciled { entry, .. } => {
            // The original entry's event, applied at this entry's place; nested re-recording is
            // never written (a re-recorded entry is carried over as it is).
            let inner = Envelope::decode(entry.as_bytes()).map_err(|e| out_of_range(format!("the re-recorded entry is unreadable: {e}")))?;
            if matches!(inner.event, Event::EntryReconciled { .. }) || inner.store != env.store {
                return Err(out_of_range("the re-recorded entry is not one of this store's own entries".into()));
            }
            let mut at = Envelope { seq, ..inner };
            // A number the stale branch issued that the recovered history also used (possible
            // only when the witness was lost too): the re-recorded sale or order takes the next
            // free number, deterministically, rather than being left out.
            match &mut at.event {
                Event::SaleRecorded { sale_no, .. } => {
                    let taken: bool = conn.query_row("SELECT EXISTS(SELECT 1 FROM sales WHERE sale_no = ?1)", params![*sale_no as i64], |r| r.get(0))?;
                    if taken {
                        *sale_no = conn.query_row("SELECT COALESCE(MAX(sale_no), 0) + 1 FROM sales", [], |r| r.get::<_, i64>(0))? as u64;
                    }
                }
                Event::OrderPlaced { order_no, .. } => {
                    let taken: bool = conn.query_row("SELECT EXISTS(SELECT 1 FROM orders WHERE order_no = ?1)", params![*order_no as i64], |r| r.get(0))?;
                    if taken {
                        *order_no = conn.query_row("SELECT COALESCE(MAX(order_no), 0) + 1 FROM orders", [], |r| r.get::<_, i64>(0))? as u64;
                    }
                }
                _ => {}
            }
            return apply(conn, seq, &at).map_err(|e| match e {
                StoreError::Unprojectable { reason, .. } => out_of_range(reason),
                other => out_of_range(other.to_string()),
            });
        }
        Event::Unknown(u) => {
            let (name, version) = u.name_and_version();
            return Err(out_of_range(format!("'{name}' version {version} was written by a newer release of stockade; upgrade this store to apply it")));
        }
    }
    Ok(())
}

/// Why a running total could not be updated (turned into [`StoreError::Unprojectable`] with
/// the entry by [`Step::at`]).
pub(crate) enum Step {
    OutOfRange(String),
    Other(StoreError),
}

impl From<rusqlite::Error> for Step {
    fn from(e: rusqlite::Error) -> Self {
        Step::Other(e.into())
    }
}

impl Step {
    fn at(self, seq: u64, env: &Envelope) -> StoreError {
        match self {
            Step::OutOfRange(reason) => StoreError::Unprojectable { seq, kind: env.event.kind().to_string(), reason },
            Step::Other(e) => e,
        }
    }
}

/// `table.column += delta` for the row `key_col = key`, refusing a result outside
/// ±[`MAX_PROJECTED`] (SQLite would silently turn an overflowing sum into a float). A missing
/// row is corruption unless `optional`.
fn add_to(conn: &Connection, table: &str, column: &str, key_col: &str, key: &str, delta: i64, optional: bool) -> Result<(), Step> {
    let sql = format!(
        "UPDATE {table} SET {column} = {column} + ?2 WHERE {key_col} = ?1 AND typeof({column} + ?2) = 'integer' AND {column} + ?2 BETWEEN -{MAX_PROJECTED} AND {MAX_PROJECTED}"
    );
    if conn.prepare_cached(&sql)?.execute(params![key, delta])? == 1 {
        return Ok(());
    }
    let current: Option<rusqlite::types::Value> =
        conn.query_row(&format!("SELECT {column} FROM {table} WHERE {key_col} = ?1"), params![key], |r| r.get(0)).optional()?;
    match current {
        None if optional => Ok(()),
        None => Err(Step::OutOfRange(missing(table, key))),
        Some(v) => Err(Step::OutOfRange(format!("{table}.{column} of '{key}' ({}) plus {delta} leaves the range ±{MAX_PROJECTED}", show_value(&v)))),
    }
}

/// Why an entry that refers to a row the projections do not hold cannot be applied: the entry that
/// made the row was itself left out (or the journal is damaged, which `verify` reports).
fn missing(what: &str, key: &str) -> String {
    format!("it refers to {what} '{key}', which is not in the projections (an earlier entry was left out)")
}

fn show_value(v: &rusqlite::types::Value) -> String {
    match v {
        rusqlite::types::Value::Integer(i) => i.to_string(),
        rusqlite::types::Value::Real(f) => format!("{f:e}"),
        other => format!("{other:?}"),
    }
}

fn move_stock(conn: &Connection, seq: i64, idx: usize, product_id: &str, lot_id: &str, delta: i64, reason: &str) -> Result<(), Step> {
    if delta.checked_abs().is_none_or(|d| d > MAX_PROJECTED) {
        return Err(Step::OutOfRange(format!("a stock change of {delta} units of product '{product_id}' is out of range")));
    }
    conn.prepare_cached("INSERT INTO stock_moves (seq, idx, product_id, lot_id, delta, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![seq, idx as i64, product_id, lot_id, delta, reason])?;
    add_to(conn, "lots", "on_hand", "lot_id", lot_id, delta, false)?;
    add_to(conn, "products", "on_hand", "product_id", product_id, delta, false)?;
    Ok(())
}

pub fn store_tz(conn: &Connection) -> Result<chrono_tz::Tz, StoreError> {
    let tz: Option<String> = conn.query_row("SELECT timezone FROM store_info WHERE id = 1", [], |r| r.get(0)).optional()?;
    let tz = tz.ok_or_else(|| StoreError::Corrupt("store_info is missing".into()))?;
    tz.parse().map_err(|_| StoreError::Corrupt(format!("unknown time zone '{tz}'")))
}
