//! Use cases that change state. Each validates its input completely, computes everything the
//! journal entry must carry (prices, taxes, lot allocations), then appends one entry. A command
//! that fails leaves nothing behind: the writer rolls back its savepoint.

use crate::auth::Actor;
use crate::error::StoreError;
use crate::node::{Store, Tx};
use crate::queries::{load_product, load_receipt, Receipt};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stockade_domain::bounds;
use stockade_domain::bounds::BirthDate;
use stockade_domain::catalog::ProductSpec;
use stockade_domain::compliance::{self, AgeEvidence, LimitLine};
use stockade_domain::inventory::{allocate_fifo, expected_cash, AdjustReason};
use stockade_domain::pricing::{self, Tender, TenderKind};
use stockade_journal::event::{CountedLine, LotTake, ReceivedLine, ReturnLine, SaleLine};
use stockade_journal::Event;
use utoipa::ToSchema;

pub const MAX_LINES: usize = 100;
pub const MAX_UNITS_PER_LINE: i64 = 1_000;
/// Lines in one stock count: what fits the body limit with room.
pub const MAX_COUNT_LINES: usize = 2_000;

fn bad(code: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::invalid(code, message)
}

pub(crate) fn check_text(field: &str, value: &str, max: usize, required: bool) -> Result<(), StoreError> {
    if required && value.trim().is_empty() {
        return Err(bad("invalid_request", format!("{field} is required")));
    }
    if value.chars().count() > max {
        return Err(bad("invalid_request", format!("{field} is at most {max} characters")));
    }
    if required && value.chars().any(char::is_control) {
        return Err(bad("invalid_request", format!("{field} has a control character (a line break, tab or escape)")));
    }
    Ok(())
}

pub(crate) fn check_quantity(q: i64) -> Result<(), StoreError> {
    if q <= 0 {
        return Err(bad("invalid_quantity", format!("quantity must be at least 1 (got {q})")));
    }
    if q > MAX_UNITS_PER_LINE {
        return Err(bad("invalid_quantity", format!("quantity must be at most {MAX_UNITS_PER_LINE} per line (got {q})")));
    }
    Ok(())
}

/// Lots of a product with stock, oldest first.
fn lots_fifo(tx: &Tx<'_>, product_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = tx.conn().prepare_cached("SELECT lot_id, on_hand FROM lots WHERE product_id = ?1 AND on_hand > 0 ORDER BY received_seq, lot_id")?;
    let rows = stmt.query_map(params![product_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn take_fifo(lots: &mut [(String, i64)], quantity: i64, product_name: &str) -> Result<Vec<LotTake>, StoreError> {
    let on_hand: Vec<i64> = lots.iter().map(|l| l.1).collect();
    let alloc = allocate_fifo(&on_hand, quantity)
        .map_err(|available| StoreError::conflict("insufficient_stock", format!("only {available} of '{product_name}' in stock; {quantity} requested")))?;
    Ok(alloc
        .into_iter()
        .map(|(i, q)| {
            lots[i].1 -= q;
            LotTake { lot_id: lots[i].0.clone(), quantity: q }
        })
        .collect())
}

// ---------------------------------------------------------------- catalog

fn check_unique(tx: &Tx<'_>, spec: &ProductSpec, except: Option<&str>) -> Result<(), StoreError> {
    let except = except.unwrap_or("");
    let sku_taken: bool =
        tx.conn().query_row("SELECT EXISTS(SELECT 1 FROM products WHERE sku = ?1 AND product_id <> ?2)", params![spec.sku, except], |r| r.get(0))?;
    if sku_taken {
        return Err(StoreError::conflict("duplicate_sku", format!("SKU '{}' is already used by another product", spec.sku)));
    }
    if let Some(g) = &spec.gtin {
        let taken: bool =
            tx.conn().query_row("SELECT EXISTS(SELECT 1 FROM products WHERE gtin = ?1 AND product_id <> ?2)", params![g, except], |r| r.get(0))?;
        if taken {
            return Err(StoreError::conflict("duplicate_gtin", format!("barcode {g} is already used by another product")));
        }
    }
    Ok(())
}

/// A value outside its domain range, as a 422 naming the field.
pub(crate) fn out_of_range(e: bounds::OutOfRange) -> StoreError {
    StoreError::Invalid {
        code: "out_of_range",
        message: e.to_string(),
        fields: vec![stockade_domain::catalog::FieldError { field: e.field.clone(), message: e.to_string() }],
    }
}

fn validate_spec(spec: &ProductSpec) -> Result<(), StoreError> {
    spec.validate().map_err(|fields| StoreError::Invalid {
        code: "invalid_product",
        message: fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; "),
        fields,
    })
}

pub(crate) fn create_product_in_tx(tx: &mut Tx<'_>, actor: &str, spec: ProductSpec) -> Result<String, StoreError> {
    validate_spec(&spec)?;
    check_unique(tx, &spec, None)?;
    let product_id = tx.new_id();
    tx.append(actor, Event::ProductCreated { product_id: product_id.clone(), spec: spec.into() })?;
    Ok(product_id)
}

/// What a cart needs checked: its products (each known and priced), its limit lines, and the
/// customer's earlier purchases today where the jurisdiction counts per customer per day.
pub(crate) struct CartFacts {
    pub products: Vec<crate::queries::Product>,
    pub cart: Vec<LimitLine>,
    pub earlier: Vec<LimitLine>,
}

/// Shared by the sale and the quote, so a quote can never disagree with the sale it announces.
pub(crate) fn cart_facts(
    conn: &rusqlite::Connection,
    pack: &stockade_domain::rules::RulePack,
    lines: &[SaleLineRequest],
    customer: Option<&str>,
    today: &str,
) -> Result<CartFacts, StoreError> {
    let mut products = Vec::with_capacity(lines.len());
    for l in lines {
        let p = load_product(conn, &l.product_id).map_err(|e| match e {
            StoreError::NotFound { .. } => bad("unknown_product", format!("unknown product '{}'", l.product_id)),
            other => other,
        })?;
        if p.spec.price_minor.is_none() {
            return Err(StoreError::conflict("product_not_priced", format!("'{}' has no price yet", p.spec.name)));
        }
        products.push(p);
    }
    let cart = products.iter().zip(lines).map(|(p, l)| LimitLine { facts: p.spec.limit_facts(), quantity: l.quantity }).collect();
    let earlier = match customer {
        Some(h) if pack.has_customer_scope() => crate::queries::customer_lines_on(conn, h, today)?,
        _ => vec![],
    };
    Ok(CartFacts { products, cart, earlier })
}

pub(crate) fn update_product_in_tx(tx: &mut Tx<'_>, actor: &str, product_id: String, spec: ProductSpec) -> Result<(), StoreError> {
    load_product(tx.conn(), &product_id)?;
    validate_spec(&spec)?;
    check_unique(tx, &spec, Some(&product_id))?;
    tx.append(actor, Event::ProductUpdated { product_id, spec: spec.into() })?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ReceiveLineRequest {
    #[schema(max_length = 64)]
    pub product_id: String,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: i64,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub lot_code: String,
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9]{1,64}$")]
    pub package_tag: Option<String>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub unit_cost_minor: i64,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub lab_thc_mg: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ReceiveRequest {
    #[schema(min_length = 1, max_length = 120, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub supplier: String,
    /// Supplier document: invoice, manifest or transfer number.
    #[schema(min_length = 1, max_length = 120, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub document: String,
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<ReceiveLineRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiveResult {
    pub receipt_id: String,
    pub lots: Vec<String>,
    pub seq: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AdjustRequest {
    #[schema(max_length = 64)]
    pub product_id: String,
    /// Signed change in units: negative removes stock.
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    pub delta: i64,
    #[schema(value_type = String, example = "damage")]
    pub reason: AdjustReason,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub note: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CountLineRequest {
    #[schema(max_length = 64)]
    pub product_id: String,
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub counted: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CountRequest {
    #[schema(min_items = 1, max_items = 2_000)]
    pub lines: Vec<CountLineRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CountVariance {
    pub product_id: String,
    pub expected: i64,
    pub counted: i64,
    pub variance: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CountResult {
    pub count_id: String,
    pub lines: Vec<CountVariance>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct SaleLineRequest {
    #[schema(max_length = 64)]
    pub product_id: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct CustomerEvidence {
    /// The budtender checked the customer's ID and confirms their age.
    pub age_confirmed: bool,
    /// Date of birth read from the ID (optional; checked, never stored), 1900 to 2100.
    #[serde(default)]
    pub birth_date: Option<BirthDate>,
    /// ID document number, needed where limits count per customer per day. Stored only as a keyed hash.
    #[serde(default)]
    #[schema(pattern = r"^[^A-Za-z0-9]{0,10}([A-Za-z0-9][^A-Za-z0-9]{0,3}){4,40}$")]
    pub id_number: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct TenderRequest {
    /// cash, debit, credit or gift_card
    #[schema(pattern = r"^(cash|debit|credit|gift_card)$")]
    pub kind: String,
    #[schema(minimum = 1, maximum = 100_000_000)]
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct SaleRequest {
    pub till_id: String,
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<SaleLineRequest>,
    pub customer: CustomerEvidence,
    #[schema(min_items = 1, max_items = 8)]
    pub tenders: Vec<TenderRequest>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct VoidRequest {
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ReturnLineRequest {
    /// Line number on the receipt (0-based).
    #[schema(minimum = 0, maximum = 99)]
    pub line: usize,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
    /// Put the units back into sellable stock (unopened); otherwise they are destroyed.
    #[serde(default)]
    pub restock: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ReturnRequest {
    pub till_id: String,
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<ReturnLineRequest>,
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub reason: String,
    /// Tender for the refund; defaults to cash.
    #[serde(default)]
    #[schema(pattern = r"^(cash|debit|credit|gift_card)$")]
    pub refund_tender: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReturnResult {
    pub return_id: String,
    pub refund_minor: i64,
    pub refund_tender: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct OpenTillRequest {
    #[schema(min_length = 1, max_length = 40, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub register: String,
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub float_minor: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CloseTillRequest {
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub counted_minor: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TillResult {
    pub till_id: String,
    pub register: String,
    pub status: String,
    pub float_minor: i64,
    pub expected_minor: Option<i64>,
    pub counted_minor: Option<i64>,
    pub variance_minor: Option<i64>,
}

pub fn parse_tender(kind: &str) -> Result<TenderKind, StoreError> {
    TenderKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .ok_or_else(|| bad("unknown_tender", format!("unknown tender '{kind}': use one of cash, debit, credit, gift_card")))
}

/// Normalizes an ID number and hashes it with the store's key. The number itself is never kept.
pub(crate) fn customer_hash(key: &[u8; 32], id_number: &str) -> Result<String, StoreError> {
    let norm: String = id_number.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    if !(4..=40).contains(&norm.len()) {
        return Err(bad("invalid_customer_id", "an ID number has 4 to 40 letters or digits"));
    }
    Ok(blake3::keyed_hash(key, norm.as_bytes()).to_hex().to_string())
}

fn request_digest(req: &SaleRequest) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(req).unwrap_or_default()))
}

impl Store {
    pub async fn create_product(&self, actor: &Actor, spec: ProductSpec) -> Result<String, StoreError> {
        actor.require_manager()?;
        let by = actor.user_id.clone();
        self.write(move |tx| create_product_in_tx(tx, &by, spec)).await
    }

    pub async fn update_product(&self, actor: &Actor, product_id: String, spec: ProductSpec) -> Result<(), StoreError> {
        actor.require_manager()?;
        let by = actor.user_id.clone();
        self.write(move |tx| update_product_in_tx(tx, &by, product_id, spec)).await
    }

    pub async fn change_price(&self, actor: &Actor, product_id: String, new_price_minor: i64) -> Result<(), StoreError> {
        actor.require_manager()?;
        if !(0..=bounds::MAX_UNIT_MINOR).contains(&new_price_minor) {
            return Err(bad("invalid_price", "price_minor must be between 0 and 100000000 (1,000,000.00)"));
        }
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let p = load_product(tx.conn(), &product_id)?;
            tx.append(&by, Event::PriceChanged { product_id, old_price_minor: p.spec.price_minor, new_price_minor })?;
            Ok(())
        })
        .await
    }

    pub async fn receive(&self, actor: &Actor, req: ReceiveRequest) -> Result<ReceiveResult, StoreError> {
        actor.require_manager()?;
        check_text("supplier", &req.supplier, 120, true)?;
        check_text("document", &req.document, 120, true)?;
        if req.lines.is_empty() || req.lines.len() > MAX_LINES {
            return Err(bad("invalid_request", format!("a receipt has 1 to {MAX_LINES} lines")));
        }
        for l in &req.lines {
            if l.quantity <= 0 || l.quantity > bounds::MAX_LINE_UNITS {
                return Err(bad("invalid_quantity", format!("received quantity must be 1 to 1,000,000 (got {})", l.quantity)));
            }
            bounds::in_range("unit_cost_minor", l.unit_cost_minor, 0, bounds::MAX_UNIT_MINOR).map_err(out_of_range)?;
            if let Some(thc) = l.lab_thc_mg {
                bounds::in_range("lab_thc_mg", thc, 0, stockade_domain::catalog::MAX_UNIT_WEIGHT_MG).map_err(out_of_range)?;
            }
            check_text("lot_code", &l.lot_code, 64, false)?;
            if let Some(tag) = &l.package_tag {
                if tag.is_empty() || tag.len() > 64 || !tag.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(bad("invalid_package_tag", format!("package tag '{tag}' must be 1 to 64 letters or digits")));
                }
            }
        }
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let mut lines = Vec::new();
            for l in req.lines {
                load_product(tx.conn(), &l.product_id).map_err(|_| bad("unknown_product", format!("unknown product '{}'", l.product_id)))?;
                if let Some(tag) = &l.package_tag {
                    let used: bool = tx.conn().query_row("SELECT EXISTS(SELECT 1 FROM lots WHERE package_tag = ?1)", params![tag], |r| r.get(0))?;
                    if used {
                        return Err(StoreError::conflict("duplicate_package_tag", format!("package tag {tag} was already received")));
                    }
                }
                lines.push(ReceivedLine {
                    product_id: l.product_id,
                    lot_id: tx.new_id(),
                    lot_code: l.lot_code,
                    package_tag: l.package_tag,
                    quantity: l.quantity,
                    unit_cost_minor: l.unit_cost_minor,
                    lab_thc_mg: l.lab_thc_mg,
                });
            }
            let receipt_id = tx.new_id();
            let lots = lines.iter().map(|l| l.lot_id.clone()).collect();
            let seq = tx.append(&by, Event::StockReceived { receipt_id: receipt_id.clone(), supplier: req.supplier, document: req.document, lines })?;
            Ok(ReceiveResult { receipt_id, lots, seq })
        })
        .await
    }

    pub async fn adjust(&self, actor: &Actor, req: AdjustRequest) -> Result<i64, StoreError> {
        actor.require_manager()?;
        if req.delta == 0 || req.delta.checked_abs().is_none_or(|d| d > bounds::MAX_LINE_UNITS) {
            return Err(bad("invalid_quantity", "delta: an adjustment changes stock by 1 to 1,000,000 units, up or down"));
        }
        check_text("note", &req.note, 500, false)?;
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let p = load_product(tx.conn(), &req.product_id)?;
            let changes = stock_changes(tx, &req.product_id, &p.spec.name, req.delta)?;
            tx.append(&by, Event::StockAdjusted { product_id: req.product_id, reason: req.reason.into(), note: req.note, changes })?;
            Ok(p.on_hand.saturating_add(req.delta))
        })
        .await
    }

    pub async fn count(&self, actor: &Actor, req: CountRequest) -> Result<CountResult, StoreError> {
        actor.require_manager()?;
        if req.lines.is_empty() || req.lines.len() > MAX_COUNT_LINES {
            return Err(bad("invalid_request", format!("a count has 1 to {MAX_COUNT_LINES} lines (count a larger store in several)")));
        }
        if let Some(l) = req.lines.iter().find(|l| l.counted < 0) {
            return Err(bad("invalid_quantity", format!("counted quantity cannot be negative (product {})", l.product_id)));
        }
        for l in &req.lines {
            bounds::in_range("counted", l.counted, 0, bounds::MAX_COUNTED_UNITS).map_err(out_of_range)?;
        }
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let mut seen = std::collections::HashSet::new();
            let mut lines = Vec::new();
            let mut out = Vec::new();
            for l in req.lines {
                if !seen.insert(l.product_id.clone()) {
                    return Err(bad("invalid_request", format!("product {} is counted twice", l.product_id)));
                }
                let p = load_product(tx.conn(), &l.product_id)?;
                let variance =
                    l.counted.checked_sub(p.on_hand).ok_or_else(|| bad("invalid_quantity", format!("the count of {} is out of range", p.spec.name)))?;
                let changes = if variance == 0 { vec![] } else { stock_changes(tx, &l.product_id, &p.spec.name, variance)? };
                out.push(CountVariance { product_id: l.product_id.clone(), expected: p.on_hand, counted: l.counted, variance });
                lines.push(CountedLine { product_id: l.product_id, expected: p.on_hand, counted: l.counted, changes });
            }
            let count_id = tx.new_id();
            tx.append(&by, Event::StockCounted { count_id: count_id.clone(), lines })?;
            Ok(CountResult { count_id, lines: out })
        })
        .await
    }

    /// Records a sale. With an idempotency key, a retry returns the first sale's receipt.
    pub async fn sell(&self, actor: &Actor, req: SaleRequest, idempotency_key: Option<String>) -> Result<Receipt, StoreError> {
        if let Some(k) = &idempotency_key {
            if k.is_empty() || k.len() > 128 || !k.chars().all(|c| c.is_ascii_graphic()) {
                return Err(bad("invalid_idempotency_key", "Idempotency-Key is 1 to 128 visible ASCII characters"));
            }
        }
        if req.lines.is_empty() || req.lines.len() > MAX_LINES {
            return Err(bad("invalid_request", format!("a sale has 1 to {MAX_LINES} lines")));
        }
        for l in &req.lines {
            check_quantity(l.quantity)?;
        }
        let customer = match &req.customer.id_number {
            Some(n) => Some(customer_hash(self.customer_key(), n)?),
            None => None,
        };
        let store = self.clone();
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let sale_id = sale_in_tx(tx, &store, &by, &req, idempotency_key, customer, &SaleTerms::default())?;
            load_receipt(tx.conn(), &sale_id, &store)
        })
        .await
    }

    pub async fn void_sale(&self, actor: &Actor, sale_id: String, req: VoidRequest) -> Result<(), StoreError> {
        actor.require_manager()?;
        check_text("reason", &req.reason, 500, true)?;
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let row: Option<(String, i64, String)> = tx
                .conn()
                .query_row(
                    "SELECT s.status, s.refunded_minor, t.status FROM sales s JOIN tills t ON t.till_id = s.till_id WHERE s.sale_id = ?1",
                    params![sale_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let (status, refunded, till_status) = row.ok_or_else(|| StoreError::not_found("sale", &sale_id))?;
            if status != "completed" {
                return Err(StoreError::conflict("already_voided", "this sale is already voided"));
            }
            if refunded > 0 {
                return Err(StoreError::conflict("has_returns", "this sale has returns: return the remaining items instead"));
            }
            if till_status != "open" {
                return Err(StoreError::conflict("till_not_open", "the sale's till is closed: use a return instead of a void"));
            }
            tx.append(&by, Event::SaleVoided { sale_id, reason: req.reason })?;
            Ok(())
        })
        .await
    }

    pub async fn return_items(&self, actor: &Actor, sale_id: String, req: ReturnRequest) -> Result<ReturnResult, StoreError> {
        actor.require_manager()?;
        check_text("reason", &req.reason, 500, true)?;
        if req.lines.is_empty() || req.lines.len() > MAX_LINES {
            return Err(bad("invalid_request", format!("a return has 1 to {MAX_LINES} lines")));
        }
        for l in &req.lines {
            check_quantity(l.quantity)?;
        }
        let refund_tender = match &req.refund_tender {
            Some(k) => parse_tender(k)?,
            None => TenderKind::Cash,
        };
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let status: Option<String> = tx.conn().query_row("SELECT status FROM sales WHERE sale_id = ?1", params![sale_id], |r| r.get(0)).optional()?;
            match status.as_deref() {
                None => return Err(StoreError::not_found("sale", &sale_id)),
                Some("completed") => {}
                Some(_) => return Err(StoreError::conflict("already_voided", "a voided sale cannot be returned")),
            }
            let till: Option<String> = tx.conn().query_row("SELECT status FROM tills WHERE till_id = ?1", params![req.till_id], |r| r.get(0)).optional()?;
            if till.as_deref() != Some("open") {
                return Err(StoreError::conflict("till_not_open", "refunds are paid from an open till"));
            }
            let mut out_lines = Vec::new();
            let mut refund = 0i64;
            let mut seen = std::collections::HashSet::new();
            for l in &req.lines {
                if !seen.insert(l.line) {
                    return Err(bad("invalid_request", format!("line {} appears twice", l.line)));
                }
                let row: Option<(String, i64, i64, i64, String)> = tx
                    .conn()
                    .query_row(
                        "SELECT product_id, quantity, returned_quantity, total_minor, lots_json FROM sale_lines WHERE sale_id = ?1 AND line_no = ?2",
                        params![sale_id, l.line as i64],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    )
                    .optional()?;
                let (product_id, qty, returned, total, lots_json) = row.ok_or_else(|| bad("invalid_request", format!("the sale has no line {}", l.line)))?;
                let left = qty - returned;
                if l.quantity > left {
                    return Err(StoreError::conflict("over_return", format!("line {}: only {left} unit(s) left to return", l.line)));
                }
                // Refund in proportion to the line total; the last units returned take the remainder.
                let line_refund =
                    if l.quantity == left { total - total * returned / qty } else { total * (returned + l.quantity) / qty - total * returned / qty };
                refund += line_refund;
                let restocked = if l.restock {
                    let lots: Vec<LotTake> = serde_json::from_str(&lots_json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let mut left = l.quantity;
                    let mut out = Vec::new();
                    for t in lots.into_iter().rev() {
                        if left == 0 {
                            break;
                        }
                        let q = t.quantity.min(left);
                        out.push(LotTake { lot_id: t.lot_id, quantity: q });
                        left -= q;
                    }
                    out
                } else {
                    vec![]
                };
                out_lines.push(ReturnLine { line: l.line, product_id, quantity: l.quantity, refund_minor: line_refund, restocked });
            }
            let return_id = tx.new_id();
            tx.append(
                &by,
                Event::SaleReturned {
                    return_id: return_id.clone(),
                    sale_id,
                    till_id: req.till_id,
                    lines: out_lines,
                    refund_minor: refund,
                    refund_tender: refund_tender.into(),
                    reason: req.reason,
                },
            )?;
            Ok(ReturnResult { return_id, refund_minor: refund, refund_tender: refund_tender.as_str().to_string() })
        })
        .await
    }

    pub async fn open_till(&self, actor: &Actor, req: OpenTillRequest) -> Result<TillResult, StoreError> {
        check_text("register", &req.register, 40, true)?;
        if !(0..=10_000_000).contains(&req.float_minor) {
            return Err(bad("invalid_amount", "float_minor (the float) is between 0 and 10000000 (100,000.00)"));
        }
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let open: bool =
                tx.conn().query_row("SELECT EXISTS(SELECT 1 FROM tills WHERE register = ?1 AND status = 'open')", params![req.register], |r| r.get(0))?;
            if open {
                return Err(StoreError::conflict("till_already_open", format!("register '{}' already has an open till", req.register)));
            }
            let till_id = tx.new_id();
            tx.append(&by, Event::TillOpened { till_id: till_id.clone(), register: req.register.clone(), float_minor: req.float_minor })?;
            Ok(TillResult {
                till_id,
                register: req.register,
                status: "open".into(),
                float_minor: req.float_minor,
                expected_minor: None,
                counted_minor: None,
                variance_minor: None,
            })
        })
        .await
    }

    pub async fn close_till(&self, actor: &Actor, till_id: String, req: CloseTillRequest) -> Result<TillResult, StoreError> {
        if !(0..=bounds::MAX_CASH_MINOR).contains(&req.counted_minor) {
            return Err(bad("invalid_amount", "counted_minor (the cash counted) is between 0 and 100000000 (1,000,000.00)"));
        }
        let by = actor.user_id.clone();
        let r = self
            .write(move |tx| {
                let row: Option<(String, String, i64, i64, i64)> = tx
                    .conn()
                    .query_row(
                        "SELECT register, status, float_minor, cash_sales_minor, cash_refunds_minor FROM tills WHERE till_id = ?1",
                        params![till_id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    )
                    .optional()?;
                let (register, status, float, sales, refunds) = row.ok_or_else(|| StoreError::not_found("till", &till_id))?;
                if status != "open" {
                    return Err(StoreError::conflict("till_not_open", "this till is already closed"));
                }
                let expected = expected_cash(float, sales, refunds);
                let variance = req.counted_minor - expected;
                tx.append(
                    &by,
                    Event::TillClosed { till_id: till_id.clone(), counted_minor: req.counted_minor, expected_minor: expected, variance_minor: variance },
                )?;
                Ok(TillResult {
                    till_id,
                    register,
                    status: "closed".into(),
                    float_minor: float,
                    expected_minor: Some(expected),
                    counted_minor: Some(req.counted_minor),
                    variance_minor: Some(variance),
                })
            })
            .await?;
        // Closing a till is a natural point for a signed checkpoint.
        self.checkpoint().await?;
        Ok(r)
    }
}

/// Per-lot changes that move a product's stock by `delta`: removals oldest lot first,
/// additions to the newest lot.
fn stock_changes(tx: &Tx<'_>, product_id: &str, name: &str, delta: i64) -> Result<Vec<LotTake>, StoreError> {
    if delta < 0 {
        let mut lots = lots_fifo(tx, product_id)?;
        let taken = take_fifo(&mut lots, -delta, name)?;
        Ok(taken.into_iter().map(|t| LotTake { lot_id: t.lot_id, quantity: -t.quantity }).collect())
    } else {
        let newest: Option<String> = tx
            .conn()
            .query_row("SELECT lot_id FROM lots WHERE product_id = ?1 ORDER BY received_seq DESC, lot_id DESC LIMIT 1", params![product_id], |r| r.get(0))
            .optional()?;
        let lot = newest.ok_or_else(|| StoreError::conflict("no_lot", format!("'{name}' has never been received: receive it before adding stock")))?;
        Ok(vec![LotTake { lot_id: lot, quantity: delta }])
    }
}

/// How an order's hand-over differs from a counter sale: its own reservation does not block it,
/// and the prices are the ones the customer was quoted.
#[derive(Default)]
pub(crate) struct SaleTerms<'a> {
    pub order_id: Option<&'a str>,
    pub prices: Option<&'a std::collections::HashMap<String, i64>>,
}

/// Units of `product_id` held by open online orders (other than `except`).
pub(crate) fn reserved_units(conn: &rusqlite::Connection, product_id: &str, except: Option<&str>) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(l.quantity), 0) FROM order_lines l JOIN orders o ON o.order_id = l.order_id
         WHERE l.product_id = ?1 AND o.status IN ('placed', 'accepted', 'picked', 'ready', 'out_for_delivery') AND o.order_id <> ?2",
        params![product_id, except.unwrap_or("")],
        |r| r.get(0),
    )?)
}

/// Refuses a cart that needs units reserved for online orders.
pub(crate) fn check_free_stock(
    conn: &rusqlite::Connection,
    products: &[crate::queries::Product],
    lines: &[SaleLineRequest],
    except: Option<&str>,
) -> Result<(), StoreError> {
    let mut wanted: std::collections::BTreeMap<&str, (i64, &crate::queries::Product)> = Default::default();
    for (p, l) in products.iter().zip(lines) {
        wanted.entry(p.product_id.as_str()).or_insert((0, p)).0 += l.quantity;
    }
    for (id, (qty, p)) in wanted {
        let free = p.on_hand - reserved_units(conn, id, except)?;
        if qty > free {
            return Err(StoreError::conflict(
                "insufficient_stock",
                format!("only {} of '{}' free ({} on hand, the rest reserved for online orders); {qty} requested", free.max(0), p.spec.name, p.on_hand),
            ));
        }
    }
    Ok(())
}

/// Records a sale inside a write transaction; returns its id.
pub(crate) fn sale_in_tx(
    tx: &mut Tx<'_>,
    store: &Store,
    by: &str,
    req: &SaleRequest,
    idempotency_key: Option<String>,
    customer: Option<String>,
    terms: &SaleTerms<'_>,
) -> Result<String, StoreError> {
    let tenders =
        req.tenders.iter().map(|t| Ok(Tender { kind: parse_tender(&t.kind)?, amount_minor: t.amount_minor })).collect::<Result<Vec<_>, StoreError>>()?;
    let digest = request_digest(req);
    if let Some(key) = &idempotency_key {
        let prior: Option<(String, Option<String>)> = tx
            .conn()
            .query_row("SELECT sale_id, request_digest FROM sales WHERE idempotency_key = ?1", params![key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((sale_id, d)) = prior {
            if d.as_deref() != Some(digest.as_str()) {
                return Err(StoreError::conflict("idempotency_conflict", "this Idempotency-Key was used for a different sale"));
            }
            return Ok(sale_id);
        }
    }
    let till_status: Option<String> = tx.conn().query_row("SELECT status FROM tills WHERE till_id = ?1", params![req.till_id], |r| r.get(0)).optional()?;
    match till_status.as_deref() {
        Some("open") => {}
        Some(_) => return Err(StoreError::conflict("till_not_open", "this till is closed: open a till first")),
        None => return Err(bad("unknown_till", format!("unknown till '{}'", req.till_id))),
    }
    let pack = store.pack_at(tx.now_ms())?.clone();
    let today = crate::apply::local_date(store.info().timezone, tx.now_ms());
    let local_day = today.parse().map_err(|_| StoreError::Io("bad local date".into()))?;

    let CartFacts { products, cart, earlier } = cart_facts(tx.conn(), &pack, &req.lines, customer.as_deref(), &today)?;
    check_free_stock(tx.conn(), &products, &req.lines, terms.order_id)?;
    let age = AgeEvidence { confirmed: req.customer.age_confirmed, birth_date: req.customer.birth_date.map(BirthDate::date) };
    compliance::check_sale(&pack, &cart, &earlier, customer.is_some(), age, local_day).map_err(StoreError::Refused)?;

    let mut lines = Vec::new();
    let mut lots_cache: std::collections::HashMap<String, Vec<(String, i64)>> = Default::default();
    for (p, l) in products.iter().zip(&req.lines) {
        let price = terms.prices.and_then(|m| m.get(&p.product_id).copied()).or(p.spec.price_minor).unwrap_or(0);
        let priced = pricing::price_line(&pack, p.spec.tax_class, price, l.quantity).map_err(|e| bad("invalid_request", e.to_string()))?;
        if !lots_cache.contains_key(&p.product_id) {
            lots_cache.insert(p.product_id.clone(), lots_fifo(tx, &p.product_id)?);
        }
        let lots = lots_cache.get_mut(&p.product_id).ok_or_else(|| StoreError::Io("lot cache".into()))?;
        let taken = take_fifo(lots, l.quantity, &p.spec.name)?;
        lines.push(SaleLine {
            product_id: p.product_id.clone(),
            sku: p.spec.sku.clone(),
            name: p.spec.name.clone(),
            class: p.spec.class.into(),
            quantity: l.quantity,
            unit_price_minor: price,
            net_minor: priced.net_minor,
            taxes: priced.taxes.iter().cloned().map(Into::into).collect(),
            total_minor: priced.total_minor,
            lots: taken,
        });
    }
    let priced: Vec<_> = lines
        .iter()
        .map(|l| pricing::PricedLine {
            unit_price_minor: l.unit_price_minor,
            quantity: l.quantity,
            net_minor: l.net_minor,
            taxes: l.taxes.iter().cloned().map(Into::into).collect(),
            total_minor: l.total_minor,
        })
        .collect();
    let totals = pricing::totals(&pack, &priced);
    let settlement =
        pricing::settle(totals.total_minor, &tenders).map_err(|e| StoreError::Invalid { code: "invalid_tender", message: e.to_string(), fields: vec![] })?;
    // Past every number issued, including those of a history the store lost (the floor).
    let sale_no = crate::integrity::sale_no_high(tx.conn())? as i64 + 1;
    let sale_id = tx.new_id();
    tx.append(
        by,
        Event::SaleRecorded {
            sale_id: sale_id.clone(),
            sale_no: sale_no as u64,
            till_id: req.till_id.clone(),
            idempotency_key,
            request_digest: Some(digest),
            customer_hash: customer,
            lines,
            totals: totals.into(),
            tenders: tenders.into_iter().map(Into::into).collect(),
            settlement: settlement.into(),
        },
    )?;
    Ok(sale_id)
}
