//! Read-side use cases: products, receipts, tills, the end-of-day report, status.

use crate::error::StoreError;
use crate::node::Store;
use chrono::TimeZone;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use stockade_domain::catalog::{LimitFacts, ProductClass, ProductSpec, TaxClass};
use stockade_domain::compliance::{LimitLine, LimitUsage};
use stockade_domain::pricing::TaxAmount;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub product_id: String,
    #[serde(flatten)]
    pub spec: ProductSpec,
    pub on_hand: i64,
}

/// A stored value the code cannot read is an error, never a silent default: reading an unknown
/// class as "not cannabis" would switch the purchase limits off.
fn corrupt(idx: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, what.into())
}

fn class_at(r: &Row, idx: usize) -> rusqlite::Result<ProductClass> {
    let text: String = r.get(idx)?;
    ProductClass::parse(&text).ok_or_else(|| corrupt(idx, format!("unknown product class '{text}'")))
}

fn tax_class_at(r: &Row, idx: usize) -> rusqlite::Result<TaxClass> {
    let text: String = r.get(idx)?;
    match text.as_str() {
        "cannabis" => Ok(TaxClass::Cannabis),
        "general" => Ok(TaxClass::General),
        _ => Err(corrupt(idx, format!("unknown tax class '{text}'"))),
    }
}

const PRODUCT_COLS: &str = "product_id, sku, gtin, name, brand, category, class, net_weight_mg, net_volume_ml, thc_mg, cbd_mg, price_minor, tax_class, on_hand";

fn product_row(r: &Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        product_id: r.get(0)?,
        spec: ProductSpec {
            sku: r.get(1)?,
            gtin: r.get(2)?,
            name: r.get(3)?,
            brand: r.get(4)?,
            category: r.get(5)?,
            class: class_at(r, 6)?,
            net_weight_mg: r.get(7)?,
            net_volume_ml: r.get(8)?,
            thc_mg: r.get(9)?,
            cbd_mg: r.get(10)?,
            price_minor: r.get(11)?,
            tax_class: tax_class_at(r, 12)?,
        },
        on_hand: r.get(13)?,
    })
}

pub fn load_product(conn: &Connection, product_id: &str) -> Result<Product, StoreError> {
    conn.prepare_cached(&format!("SELECT {PRODUCT_COLS} FROM products WHERE product_id = ?1"))?
        .query_row(params![product_id], product_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("product", product_id))
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Words matched against name, brand, category and SKU; a barcode matches exactly.
    #[serde(default)]
    pub q: Option<String>,
    /// 1 to 200 (default 50); the API refuses others.
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    #[schema(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[serde(default)]
    #[param(minimum = 0, maximum = 1_000_000)]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub offset: Option<u32>,
    /// Only products with stock and a price.
    #[serde(default)]
    pub sellable: Option<bool>,
}

pub const MAX_PAGE: u32 = 200;

pub fn search_products(conn: &Connection, q: &ProductQuery) -> Result<Vec<Product>, StoreError> {
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE) as i64;
    let offset = q.offset.unwrap_or(0).min(1_000_000) as i64;
    let text = q.q.as_deref().unwrap_or("").trim();
    let sellable = if q.sellable.unwrap_or(false) { "AND on_hand > 0 AND price_minor IS NOT NULL" } else { "" };
    if text.len() > 100 {
        return Err(StoreError::invalid("invalid_request", "search text is at most 100 characters"));
    }
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) && text.len() >= 8 {
        let mut st = conn.prepare_cached(&format!("SELECT {PRODUCT_COLS} FROM products WHERE gtin = ?1 OR sku = ?1 {sellable}"))?;
        let rows = st.query_map(params![text], product_row)?.collect::<Result<Vec<_>, _>>()?;
        return Ok(rows);
    }
    let pattern = format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let mut st = conn.prepare_cached(&format!(
        "SELECT {PRODUCT_COLS} FROM products
         WHERE (name LIKE ?1 ESCAPE '\\' OR brand LIKE ?1 ESCAPE '\\' OR category LIKE ?1 ESCAPE '\\' OR sku LIKE ?1 ESCAPE '\\') {sellable}
         ORDER BY name, product_id LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st.query_map(params![pattern, limit, offset], product_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Products with `threshold` units or fewer on hand, emptiest first.
pub fn low_stock(conn: &Connection, threshold: i64, limit: i64) -> Result<Vec<Product>, StoreError> {
    let mut st = conn.prepare_cached(&format!("SELECT {PRODUCT_COLS} FROM products WHERE on_hand <= ?1 ORDER BY on_hand, name, product_id LIMIT ?2"))?;
    let rows = st.query_map(params![threshold, limit], product_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaffMember {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub active: bool,
}

pub fn list_staff(conn: &Connection) -> Result<Vec<StaffMember>, StoreError> {
    let mut st = conn.prepare_cached("SELECT user_id, username, display_name, role, active FROM staff ORDER BY display_name, username")?;
    let rows = st
        .query_map([], |r| Ok(StaffMember { user_id: r.get(0)?, username: r.get(1)?, display_name: r.get(2)?, role: r.get(3)?, active: r.get(4)? }))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn product_by_barcode(conn: &Connection, gtin: &str) -> Result<Product, StoreError> {
    conn.prepare_cached(&format!("SELECT {PRODUCT_COLS} FROM products WHERE gtin = ?1"))?
        .query_row(params![gtin], product_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("barcode", gtin))
}

/// The customer's units bought earlier on `local_date` (net of returns), for per-day limits.
pub fn customer_lines_on(conn: &Connection, customer_hash: &str, local_date: &str) -> Result<Vec<LimitLine>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT p.class, p.net_weight_mg, p.net_volume_ml, p.thc_mg, l.quantity - l.returned_quantity
         FROM sales s JOIN sale_lines l ON l.sale_id = s.sale_id JOIN products p ON p.product_id = l.product_id
         WHERE s.customer_hash = ?1 AND s.local_date = ?2 AND s.status = 'completed'",
    )?;
    let rows = st.query_map(params![customer_hash, local_date], |r| {
        Ok(LimitLine {
            facts: LimitFacts { class: class_at(r, 0)?, net_weight_mg: r.get(1)?, net_volume_ml: r.get(2)?, thc_mg: r.get(3)? },
            quantity: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptLine {
    pub line: usize,
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub returned_quantity: i64,
    pub unit_price_minor: i64,
    pub net_minor: i64,
    pub taxes: Vec<TaxAmount>,
    pub total_minor: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptTender {
    pub kind: String,
    pub amount_minor: i64,
}

/// A sale as the customer's receipt shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    pub sale_id: String,
    pub sale_no: i64,
    pub store_name: String,
    pub currency: String,
    pub till_id: String,
    pub seq: i64,
    /// UTC milliseconds since the epoch.
    pub recorded_at_ms: i64,
    /// Shop-local time, for display.
    pub recorded_at_local: String,
    pub status: String,
    pub lines: Vec<ReceiptLine>,
    pub subtotal_minor: i64,
    pub taxes: Vec<TaxAmount>,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub tenders: Vec<ReceiptTender>,
    pub tendered_minor: i64,
    pub change_minor: i64,
    pub refunded_minor: i64,
    /// How much of each purchase limit this sale used.
    pub limits: Vec<LimitUsage>,
}

pub fn load_receipt(conn: &Connection, sale_id: &str, store: &Store) -> Result<Receipt, StoreError> {
    type Head = (i64, String, i64, i64, String, i64, i64, i64, i64, i64, String, i64);
    let head: Option<Head> = conn
        .query_row(
            "SELECT sale_no, till_id, seq, recorded_at, status, subtotal_minor, tax_minor, total_minor, tendered_minor, change_minor,
                    taxes_json, refunded_minor FROM sales WHERE sale_id = ?1",
            params![sale_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?)),
        )
        .optional()?;
    let (sale_no, till_id, seq, at, status, subtotal, tax, total, tendered, change, taxes_json, refunded) =
        head.ok_or_else(|| StoreError::not_found("sale", sale_id))?;
    let mut st = conn.prepare_cached(
        "SELECT l.line_no, l.product_id, l.sku, l.name, l.quantity, l.returned_quantity, l.unit_price_minor, l.net_minor, l.taxes_json,
                l.total_minor, p.class, p.net_weight_mg, p.net_volume_ml, p.thc_mg
         FROM sale_lines l LEFT JOIN products p ON p.product_id = l.product_id WHERE l.sale_id = ?1 ORDER BY l.line_no",
    )?;
    let mut facts = Vec::new();
    let lines = st
        .query_map(params![sale_id], |r| {
            let taxes: String = r.get(8)?;
            let class: Option<String> = r.get(10)?;
            let line = ReceiptLine {
                line: r.get::<_, i64>(0)? as usize,
                product_id: r.get(1)?,
                sku: r.get(2)?,
                name: r.get(3)?,
                quantity: r.get(4)?,
                returned_quantity: r.get(5)?,
                unit_price_minor: r.get(6)?,
                net_minor: r.get(7)?,
                taxes: serde_json::from_str(&taxes).map_err(|e| corrupt(8, format!("unreadable taxes: {e}")))?,
                total_minor: r.get(9)?,
            };
            let f = LimitFacts {
                class: match class {
                    Some(text) => ProductClass::parse(&text).ok_or_else(|| corrupt(10, format!("unknown product class '{text}'")))?,
                    None => ProductClass::NonCannabis, // the line's product row is gone: verify reports that
                },
                net_weight_mg: r.get(11)?,
                net_volume_ml: r.get(12)?,
                thc_mg: r.get(13)?,
            };
            Ok((line, f))
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(l, f)| {
            facts.push(LimitLine { facts: f, quantity: l.quantity });
            l
        })
        .collect();
    let mut st = conn.prepare_cached("SELECT kind, amount_minor FROM sale_tenders WHERE sale_id = ?1 ORDER BY idx")?;
    let tenders = st.query_map(params![sale_id], |r| Ok(ReceiptTender { kind: r.get(0)?, amount_minor: r.get(1)? }))?.collect::<Result<_, _>>()?;
    let pack = store.pack_at(at)?;
    Ok(Receipt {
        sale_id: sale_id.to_string(),
        sale_no,
        store_name: store.info().name.clone(),
        currency: pack.currency.code().to_string(),
        till_id,
        seq,
        recorded_at_ms: at,
        recorded_at_local: local_time(store.info().timezone, at),
        status,
        lines,
        subtotal_minor: subtotal,
        taxes: serde_json::from_str(&taxes_json).map_err(|e| StoreError::Corrupt(format!("sale {sale_id}: unreadable taxes: {e}")))?,
        tax_minor: tax,
        total_minor: total,
        tenders,
        tendered_minor: tendered,
        change_minor: change,
        refunded_minor: refunded,
        limits: stockade_domain::compliance::meter(pack, &facts, &[]),
    })
}

pub fn local_time(tz: chrono_tz::Tz, at_ms: i64) -> String {
    tz.timestamp_millis_opt(at_ms).single().map(|t| t.format("%Y-%m-%d %H:%M:%S %Z").to_string()).unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Till {
    pub till_id: String,
    pub register: String,
    pub status: String,
    pub opened_by: String,
    pub opened_at_ms: i64,
    pub float_minor: i64,
    pub cash_sales_minor: i64,
    pub cash_refunds_minor: i64,
    pub expected_minor: Option<i64>,
    pub counted_minor: Option<i64>,
    pub variance_minor: Option<i64>,
}

pub fn list_tills(conn: &Connection, open_only: bool) -> Result<Vec<Till>, StoreError> {
    let filter = if open_only { "WHERE status = 'open'" } else { "" };
    let mut st = conn.prepare(&format!(
        "SELECT till_id, register, status, opened_by, opened_at, float_minor, cash_sales_minor, cash_refunds_minor, expected_minor,
                counted_minor, variance_minor FROM tills {filter} ORDER BY opened_at DESC LIMIT 200"
    ))?;
    let rows = st.query_map([], |r| {
        Ok(Till {
            till_id: r.get(0)?,
            register: r.get(1)?,
            status: r.get(2)?,
            opened_by: r.get(3)?,
            opened_at_ms: r.get(4)?,
            float_minor: r.get(5)?,
            cash_sales_minor: r.get(6)?,
            cash_refunds_minor: r.get(7)?,
            expected_minor: r.get(8)?,
            counted_minor: r.get(9)?,
            variance_minor: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A purchase order from HQ and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PurchaseOrderView {
    pub po_id: String,
    /// HQ's number for this store's orders (1, 2, …).
    pub store_seq: i64,
    /// Journal entry that recorded it at this store.
    pub applied_seq: i64,
    /// "in_transit" until stock is received with `po_id` as the document, then "received".
    pub status: String,
    pub receipt_id: Option<String>,
    pub lines: Vec<PurchaseOrderLineView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PurchaseOrderLineView {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub units: i64,
}

/// Purchase orders, newest first (the last 100).
pub fn list_purchase_orders(conn: &Connection) -> Result<Vec<PurchaseOrderView>, StoreError> {
    let mut st = conn.prepare("SELECT po_id, store_seq, applied_seq, received_seq, receipt_id FROM purchase_orders ORDER BY store_seq DESC LIMIT 100")?;
    let mut orders = st
        .query_map([], |r| {
            Ok(PurchaseOrderView {
                po_id: r.get(0)?,
                store_seq: r.get(1)?,
                applied_seq: r.get(2)?,
                status: if r.get::<_, Option<i64>>(3)?.is_some() { "received" } else { "in_transit" }.into(),
                receipt_id: r.get(4)?,
                lines: Vec::new(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut lines = conn.prepare(
        "SELECT l.product_id, l.sku, COALESCE(p.name, ''), l.units FROM purchase_order_lines l LEFT JOIN products p ON p.product_id = l.product_id
         WHERE l.po_id = ?1 ORDER BY l.sku",
    )?;
    for o in &mut orders {
        o.lines = lines
            .query_map(params![o.po_id], |r| Ok(PurchaseOrderLineView { product_id: r.get(0)?, sku: r.get(1)?, name: r.get(2)?, units: r.get(3)? }))?
            .collect::<Result<_, _>>()?;
    }
    Ok(orders)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Amount {
    pub key: String,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClassUnits {
    pub class: String,
    pub units: i64,
    pub net_minor: i64,
}

/// Everything a manager checks at closing time, for one local date.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EndOfDay {
    pub store_name: String,
    pub date: String,
    pub currency: String,
    pub sales_count: i64,
    pub voided_count: i64,
    pub subtotal_minor: i64,
    pub taxes: Vec<Amount>,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub tenders: Vec<Amount>,
    pub returns_count: i64,
    pub refunds_minor: i64,
    pub net_minor: i64,
    pub by_class: Vec<ClassUnits>,
    pub tills: Vec<Till>,
}

pub fn end_of_day(conn: &Connection, store: &Store, date: &str) -> Result<EndOfDay, StoreError> {
    if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
        return Err(StoreError::invalid("invalid_date", format!("'{date}' is not a date (YYYY-MM-DD)")));
    }
    let (count, subtotal, tax, total): (i64, i64, i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(subtotal_minor),0), COALESCE(SUM(tax_minor),0), COALESCE(SUM(total_minor),0)
         FROM sales WHERE local_date = ?1 AND status = 'completed'",
        params![date],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let voided: i64 = conn.query_row("SELECT COUNT(*) FROM sales WHERE local_date = ?1 AND status = 'voided'", params![date], |r| r.get(0))?;
    let mut taxes: Vec<Amount> = Vec::new();
    let mut st = conn.prepare("SELECT taxes_json FROM sales WHERE local_date = ?1 AND status = 'completed'")?;
    for t in st.query_map(params![date], |r| r.get::<_, String>(0))? {
        let list: Vec<TaxAmount> = serde_json::from_str(&t?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for t in list {
            match taxes.iter_mut().find(|a| a.key == t.label) {
                Some(a) => a.amount_minor += t.amount_minor,
                None => taxes.push(Amount { key: t.label, amount_minor: t.amount_minor }),
            }
        }
    }
    let mut st = conn.prepare(
        "SELECT t.kind, SUM(t.amount_minor)
         FROM sale_tenders t JOIN sales s ON s.sale_id = t.sale_id
         WHERE s.local_date = ?1 AND s.status = 'completed' GROUP BY t.kind ORDER BY t.kind",
    )?;
    let mut tenders: Vec<Amount> = st.query_map(params![date], |r| Ok(Amount { key: r.get(0)?, amount_minor: r.get(1)? }))?.collect::<Result<_, _>>()?;
    let change: i64 =
        conn.query_row("SELECT COALESCE(SUM(change_minor),0) FROM sales WHERE local_date = ?1 AND status = 'completed'", params![date], |r| r.get(0))?;
    if let Some(cash) = tenders.iter_mut().find(|a| a.key == "cash") {
        cash.amount_minor -= change; // report cash kept, not cash handed over
    }
    let (returns_count, refunds): (i64, i64) =
        conn.query_row("SELECT COUNT(*), COALESCE(SUM(refund_minor),0) FROM returns WHERE local_date = ?1", params![date], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut st = conn.prepare(
        "SELECT l.class, SUM(l.quantity - l.returned_quantity), SUM(l.net_minor) FROM sale_lines l JOIN sales s ON s.sale_id = l.sale_id
         WHERE s.local_date = ?1 AND s.status = 'completed' GROUP BY l.class ORDER BY l.class",
    )?;
    let by_class = st.query_map(params![date], |r| Ok(ClassUnits { class: r.get(0)?, units: r.get(1)?, net_minor: r.get(2)? }))?.collect::<Result<_, _>>()?;
    let tills = list_tills(conn, false)?.into_iter().filter(|t| crate::apply::local_date(store.info().timezone, t.opened_at_ms) == date).collect();
    let pack = store.pack_at(store.clock().now_ms())?;
    Ok(EndOfDay {
        store_name: store.info().name.clone(),
        date: date.to_string(),
        currency: pack.currency.code().to_string(),
        sales_count: count,
        voided_count: voided,
        subtotal_minor: subtotal,
        taxes,
        tax_minor: tax,
        total_minor: total,
        tenders,
        returns_count,
        refunds_minor: refunds,
        net_minor: total - refunds,
        by_class,
        tills,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Status {
    pub store_id: String,
    /// The store's Ed25519 public key: HQ registers it (`stockade hq add-store --public-key`).
    pub public_key: String,
    pub store_name: String,
    pub jurisdiction: String,
    pub timezone: String,
    pub journal_size: i64,
    pub head_hash: String,
    pub last_checkpoint_size: Option<i64>,
    pub last_checkpoint_at_ms: Option<i64>,
    /// Entries not yet acknowledged by head office (everything, until the store is enrolled).
    pub unreplicated_entries: i64,
    pub hq_status: String,
    /// Last time head office acknowledged a batch.
    pub hq_last_ok_ms: Option<i64>,
    /// Schema version of the database (`stockade store migrate`).
    pub schema_version: i64,
    /// Journal entries left out of the store's figures, each named ("entry 812 (stock_counted): …").
    pub unapplied_entries: Vec<String>,
    /// HQ entries (catalog, purchase orders) of kinds this release does not know, held unapplied
    /// until the store is upgraded ("HQ entry 44: loyalty_program v1").
    pub held_hq_entries: Vec<String>,
    /// "ok", or "behind: …" while the store sells on a stale branch after its database went
    /// back in time (until HQ returns the missing entries).
    pub integrity: String,
    /// The witness file could not be written, or was missing at start.
    pub witness_problem: Option<String>,
}

pub fn status(conn: &Connection, store: &Store) -> Result<Status, StoreError> {
    let (size, hash): (i64, Vec<u8>) =
        conn.query_row("SELECT size, hash FROM head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?))).optional()?.unwrap_or((0, vec![0; 32]));
    let cp: Option<(i64, i64)> = conn
        .query_row("SELECT c.size, j.recorded_at FROM checkpoints c JOIN journal j ON j.seq = c.size ORDER BY c.size DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let sync: Option<(String, i64, Option<i64>, Option<String>)> = conn
        .query_row("SELECT hq_url, acked_size, last_ok_ms, last_error FROM sync WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let acked = sync.as_ref().map(|s| s.1).unwrap_or(0);
    let hq_status = match &sync {
        None => "not enrolled".to_string(),
        Some((url, _, _, Some(err))) => format!("{url}: last attempt failed: {err}"),
        Some((url, _, Some(_), None)) => format!("{url}: ok"),
        Some((url, _, None, None)) => format!("{url}: enrolled, nothing sent yet"),
    };
    Ok(Status {
        store_id: store.info().store_id.clone(),
        public_key: hex::encode(store.public_key().to_bytes()),
        store_name: store.info().name.clone(),
        jurisdiction: store.info().jurisdiction.clone(),
        timezone: store.info().timezone.name().to_string(),
        journal_size: size,
        head_hash: hex::encode(hash),
        last_checkpoint_size: cp.map(|c| c.0),
        last_checkpoint_at_ms: cp.map(|c| c.1),
        unreplicated_entries: (size - acked).max(0),
        hq_status,
        hq_last_ok_ms: sync.and_then(|s| s.2),
        schema_version: crate::migrate::schema_version(conn)?,
        unapplied_entries: crate::migrate::faults(conn)?.iter().map(|f| f.to_string()).collect(),
        held_hq_entries: crate::sync::held_hq_entries(conn)?,
        integrity: {
            let h = store.health();
            match (h.damaged, h.disk_full, h.clock) {
                (Some(d), _, _) => format!("damaged: {d}"),
                (None, Some(f), _) => format!("disk full: {f}"),
                (None, None, Some(c)) => c.message,
                (None, None, None) if h.state.is_empty() => "ok".into(),
                (None, None, None) => h.state,
            }
        },
        witness_problem: store.health().witness_problem,
    })
}
