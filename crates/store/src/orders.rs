//! Online orders: the public menu, checkout with the register's limit and age rules, stock
//! reserved until hand-over, the staff's fulfilment steps (`stockade_domain::orders`), and
//! public tracking by an unguessable token that shows status and time window only.

use crate::commands::{
    cart_facts, check_free_stock, customer_hash, sale_in_tx, CartFacts, CustomerEvidence, SaleLineRequest, SaleRequest, SaleTerms, TenderRequest,
};
use crate::customers::CustomerInput;
use crate::error::StoreError;
use crate::node::Store;
use crate::Actor;
use rand::RngCore;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stockade_domain::compliance::{self, AgeEvidence};
use stockade_domain::orders::{next, OrderAction, OrderKind, OrderStatus};
use stockade_domain::pricing;
use stockade_journal::event::OrderLine;
use stockade_journal::Event;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// How long after the window opens an order that was not handed over expires.
pub const WINDOW_MS: i64 = 2 * 3600 * 1000;
/// Preparation time before the earliest window.
pub const PREPARATION_MS: i64 = 30 * 60 * 1000;
/// Wrong one-time codes before an order's details are refused for good.
pub const MAX_CODE_FAILURES: i64 = 5;
const MAX_ORDER_LINES: usize = 30;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct OnlineCustomer {
    #[schema(min_length = 1, max_length = 120, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub name: String,
    /// Checked against the jurisdiction's minimum age now and again at hand-over (1900 to 2100).
    pub birth_date: stockade_domain::bounds::BirthDate,
    /// The customer states they are of age (checked on ID at hand-over).
    pub age_confirmed: bool,
    /// Needed where limits count per customer per day; kept only as a keyed hash.
    #[serde(default)]
    #[schema(pattern = r"^[^A-Za-z0-9]{0,10}([A-Za-z0-9][^A-Za-z0-9]{0,3}){4,40}$")]
    pub id_number: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 40, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub phone: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 120, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub email: Option<String>,
    /// Required for delivery.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 20, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub postal_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct OrderRequest {
    #[schema(value_type = String, example = "pickup", pattern = r"^(pickup|delivery)$")]
    pub kind: OrderKind,
    #[schema(min_items = 1, max_items = 30)]
    pub lines: Vec<SaleLineRequest>,
    pub customer: OnlineCustomer,
    /// Earliest start of the pickup or delivery window (UTC ms); default: as soon as it is packed.
    #[serde(default)]
    pub window_start_ms: Option<i64>,
}

/// What the customer gets back, once: the tracking token and the one-time code for details.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlacedOrder {
    pub order_id: String,
    pub order_no: u64,
    pub tracking_token: String,
    pub code: String,
    pub status: String,
    pub total_minor: i64,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
}

/// The public tracking view: status and time window, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tracking {
    pub status: String,
    pub status_label: String,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub updated_at_ms: i64,
}

/// An order as the customer (with their one-time code) or the staff see it. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub order_no: i64,
    pub kind: String,
    pub status: String,
    pub lines: Vec<OrderViewLine>,
    pub total_minor: i64,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub expires_at_ms: i64,
    pub sale_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderViewLine {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub total_minor: i64,
}

/// A menu item: sellable, with its free stock and its price as the jurisdiction shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MenuItem {
    pub product_id: String,
    pub name: String,
    pub brand: String,
    pub category: String,
    pub price_minor: i64,
    pub price_with_taxes_minor: i64,
    pub available: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CompleteOrderRequest {
    pub till_id: String,
    /// Checked on the customer's ID at the counter or the door.
    pub age_confirmed: bool,
    #[serde(default)]
    pub birth_date: Option<stockade_domain::bounds::BirthDate>,
    pub tenders: Vec<TenderRequest>,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn parse_kind(s: &str) -> Result<OrderKind, StoreError> {
    match s {
        "pickup" => Ok(OrderKind::Pickup),
        "delivery" => Ok(OrderKind::Delivery),
        _ => Err(StoreError::Corrupt(format!("unknown order kind '{s}'"))),
    }
}

fn status_of(s: &str) -> Result<OrderStatus, StoreError> {
    OrderStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown order status '{s}'")))
}

impl Store {
    fn code_hash(&self, order_id: &str, code: &str) -> String {
        blake3::keyed_hash(self.customer_key(), format!("order-code/{order_id}/{code}").as_bytes()).to_hex().to_string()
    }

    /// The public menu: sellable products with free stock.
    pub fn menu(&self) -> Result<Vec<MenuItem>, StoreError> {
        let pack = self.pack_at(self.clock().now_ms())?.clone();
        self.read(|c| {
            let q = crate::queries::ProductQuery { sellable: Some(true), limit: Some(500), ..Default::default() };
            let mut out = Vec::new();
            for p in crate::queries::search_products(c, &q)? {
                let available = p.on_hand - crate::commands::reserved_units(c, &p.product_id, None)?;
                let Some(price) = p.spec.price_minor else { continue };
                if available <= 0 {
                    continue;
                }
                let line = pricing::price_line(&pack, p.spec.tax_class, price, 1).map_err(|e| StoreError::invalid("invalid_request", e.to_string()))?;
                out.push(MenuItem {
                    product_id: p.product_id,
                    name: p.spec.name,
                    brand: p.spec.brand,
                    category: p.spec.category,
                    price_minor: price,
                    price_with_taxes_minor: line.total_minor,
                    available,
                });
            }
            Ok(out)
        })
    }

    /// Checkout: limits and age as at the register, stock reserved, the customer sealed.
    pub async fn place_order(&self, req: OrderRequest) -> Result<PlacedOrder, StoreError> {
        if req.lines.is_empty() || req.lines.len() > MAX_ORDER_LINES {
            return Err(StoreError::invalid("invalid_request", format!("an order has 1 to {MAX_ORDER_LINES} lines")));
        }
        for l in &req.lines {
            crate::commands::check_quantity(l.quantity)?;
        }
        if req.kind == OrderKind::Delivery && req.customer.postal_code.is_none() {
            return Err(StoreError::invalid("postal_code_required", "a delivery needs a postal code"));
        }
        let now = self.clock().now_ms();
        let policy = self.checkout_policy();
        let tz = self.info().timezone;
        let start = req.window_start_ms.unwrap_or(now + PREPARATION_MS);
        // A reservation lasts no longer than it must: pickup today or tomorrow, delivery within
        // the store's days.
        let (latest, latest_text) = match req.kind {
            OrderKind::Pickup => (crate::checkout::pickup_horizon(tz, now).unwrap_or(now + 86_400_000), "by the end of tomorrow".to_string()),
            OrderKind::Delivery => (now + policy.delivery_days * 86_400_000, format!("within {} days", policy.delivery_days)),
        };
        if start < now + PREPARATION_MS - 60_000 || start >= latest {
            // Which windows are open depends on the time now, not on the request's form: a conflict.
            return Err(StoreError::conflict("invalid_window", format!("the window starts at least 30 minutes from now and {latest_text}")));
        }
        let c = &req.customer;
        let contact = crate::checkout::contact_hash(self.customer_key(), c.phone.as_deref(), c.email.as_deref()).ok_or_else(|| {
            StoreError::invalid("contact_required", "a phone number (7 digits or more) or an e-mail address is needed to reach you about the order")
        })?;
        let sealed = self.prepare_customer(CustomerInput {
            name: c.name.clone(),
            birth_date: Some(c.birth_date),
            id_number: c.id_number.clone(),
            phone: c.phone.clone(),
            email: c.email.clone(),
            postal_code: c.postal_code.clone(),
        })?;
        let customer = match &c.id_number {
            Some(n) => Some(customer_hash(self.customer_key(), n)?),
            None => None,
        };
        let token = random_hex(32);
        let code = {
            let mut b = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut b);
            format!("{:08}", u64::from_le_bytes(b) % 100_000_000)
        };
        let store = self.clone();
        let (t2, c2) = (token.clone(), code.clone());
        let placed = self
            .write(move |tx| {
                let pack = store.pack_at(tx.now_ms())?.clone();
                let today = crate::apply::local_date(store.info().timezone, tx.now_ms());
                let local_day = today.parse().map_err(|_| StoreError::Io("bad local date".into()))?;
                let CartFacts { products, cart, earlier } = cart_facts(tx.conn(), &pack, &req.lines, customer.as_deref(), &today)?;
                let age = AgeEvidence { confirmed: req.customer.age_confirmed, birth_date: Some(req.customer.birth_date.date()) };
                compliance::check_sale(&pack, &cart, &earlier, customer.is_some(), age, local_day).map_err(StoreError::Refused)?;
                check_free_stock(tx.conn(), &products, &req.lines, None)?;
                let now = tx.now_ms();
                crate::checkout::check_contact(tx.conn(), &policy, &contact, now)?;
                let mut wanted: Vec<(String, String, i64, i64)> = Vec::new();
                for (p, l) in products.iter().zip(&req.lines) {
                    match wanted.iter_mut().find(|w| w.0 == p.product_id) {
                        Some(w) => w.3 = w.3.saturating_add(l.quantity),
                        None => wanted.push((p.product_id.clone(), p.spec.name.clone(), p.on_hand, l.quantity)),
                    }
                }
                let since = crate::checkout::day_start(store.info().timezone, now).unwrap_or(now - 86_400_000);
                crate::checkout::check_shares(tx.conn(), &policy, &wanted, since)?;
                let mut lines = Vec::new();
                let mut priced = Vec::new();
                for (p, l) in products.iter().zip(&req.lines) {
                    let price = p.spec.price_minor.unwrap_or(0);
                    let line =
                        pricing::price_line(&pack, p.spec.tax_class, price, l.quantity).map_err(|e| StoreError::invalid("invalid_request", e.to_string()))?;
                    lines.push(OrderLine {
                        product_id: p.product_id.clone(),
                        sku: p.spec.sku.clone(),
                        name: p.spec.name.clone(),
                        quantity: l.quantity,
                        unit_price_minor: price,
                        total_minor: line.total_minor,
                    });
                    priced.push(line);
                }
                let total_minor = pricing::totals(&pack, &priced).total_minor;
                let order_no: i64 = tx.conn().query_row("SELECT COALESCE(MAX(order_no), 1000) + 1 FROM orders", [], |r| r.get(0))?;
                let order_id = tx.new_id();
                sealed.insert(tx.conn())?;
                crate::checkout::record_contact(tx.conn(), &order_id, &contact, now)?;
                let window_end = start + WINDOW_MS;
                tx.append(
                    "online",
                    Event::OrderPlaced {
                        order_id: order_id.clone(),
                        order_no: order_no as u64,
                        order_kind: req.kind.into(),
                        token_hash: token_hash(&t2),
                        code_hash: store.code_hash(&order_id, &c2),
                        customer_id: Some(sealed.customer_id.clone()),
                        customer_hash: customer,
                        lines,
                        total_minor,
                        expires_at_ms: window_end,
                        window_start_ms: start,
                        window_end_ms: window_end,
                    },
                )?;
                Ok(PlacedOrder {
                    order_id,
                    order_no: order_no as u64,
                    tracking_token: t2,
                    code: c2,
                    status: OrderStatus::Placed.as_str().into(),
                    total_minor,
                    window_start_ms: start,
                    window_end_ms: window_end,
                })
            })
            .await?;
        tracing::info!(order_id = %placed.order_id, order_no = placed.order_no, "order placed");
        Ok(placed)
    }

    fn order_head(conn: &rusqlite::Connection, order_id: &str) -> Result<(OrderKind, OrderStatus, Option<String>), StoreError> {
        let row: Option<(String, String, Option<String>)> = conn
            .query_row("SELECT kind, status, customer_hash FROM orders WHERE order_id = ?1", params![order_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let (kind, status, customer) = row.ok_or_else(|| StoreError::not_found("order", order_id))?;
        Ok((parse_kind(&kind)?, status_of(&status)?, customer))
    }

    /// A fulfilment step by staff: accept, pick, ready, dispatch, cancel or refuse.
    pub async fn order_action(&self, actor: &Actor, order_id: String, action: OrderAction, reason: String) -> Result<OrderView, StoreError> {
        if matches!(action, OrderAction::Complete | OrderAction::Expire) {
            return Err(StoreError::invalid("invalid_action", "complete an order with its hand-over; expiry is the store's own"));
        }
        crate::commands::check_text("reason", &reason, 500, false)?;
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let (kind, status, _) = Self::order_head(tx.conn(), &order_id)?;
            let to = next(kind, status, action).ok_or_else(|| {
                StoreError::conflict("invalid_transition", format!("cannot {} an order that is {}", action.as_str(), status.as_str().replace('_', " ")))
            })?;
            tx.append(&by, Event::OrderStatusChanged { order_id: order_id.clone(), status: to.into(), reason })?;
            order_view(tx.conn(), &order_id)
        })
        .await
    }

    /// Hand-over at the counter or the door: the age is checked again on ID and the sale is
    /// recorded at the prices the customer was quoted, from the order's own reservation.
    pub async fn complete_order(&self, actor: &Actor, order_id: String, req: CompleteOrderRequest) -> Result<OrderView, StoreError> {
        let store = self.clone();
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let (kind, status, customer) = Self::order_head(tx.conn(), &order_id)?;
            if next(kind, status, OrderAction::Complete).is_none() {
                return Err(StoreError::conflict("invalid_transition", format!("cannot complete an order that is {}", status.as_str().replace('_', " "))));
            }
            let view = order_view(tx.conn(), &order_id)?;
            let prices: std::collections::HashMap<String, i64> = tx
                .conn()
                .prepare("SELECT product_id, unit_price_minor FROM order_lines WHERE order_id = ?1")?
                .query_map(params![order_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let sale = SaleRequest {
                till_id: req.till_id.clone(),
                lines: view.lines.iter().map(|l| SaleLineRequest { product_id: l.product_id.clone(), quantity: l.quantity }).collect(),
                customer: CustomerEvidence { age_confirmed: req.age_confirmed, birth_date: req.birth_date, id_number: None },
                tenders: req.tenders.clone(),
            };
            let terms = SaleTerms { order_id: Some(&order_id), prices: Some(&prices) };
            let sale_id = sale_in_tx(tx, &store, &by, &sale, None, customer, &terms)?;
            tx.append(&by, Event::OrderCompleted { order_id: order_id.clone(), sale_id })?;
            order_view(tx.conn(), &order_id)
        })
        .await
    }

    /// Expires every order whose window has passed before it left the store; returns how many.
    pub async fn expire_orders(&self) -> Result<usize, StoreError> {
        self.write(|tx| {
            let now = tx.now_ms();
            let due: Vec<String> = tx
                .conn()
                .prepare("SELECT order_id FROM orders WHERE status IN ('placed', 'accepted', 'picked', 'ready') AND expires_at <= ?1 ORDER BY order_no")?
                .query_map(params![now], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in &due {
                tx.append("system", Event::OrderStatusChanged { order_id: id.clone(), status: OrderStatus::Expired.into(), reason: "window passed".into() })?;
            }
            Ok(due.len())
        })
        .await
    }

    /// Open orders (or those in `status`), oldest first, for the staff.
    pub fn list_orders(&self, status: Option<&str>) -> Result<Vec<OrderView>, StoreError> {
        if let Some(s) = status {
            if OrderStatus::parse(s).is_none() && s != "open" {
                return Err(StoreError::invalid("invalid_status", format!("unknown status '{s}'")));
            }
        }
        let filter = status.unwrap_or("open").to_string();
        self.read(move |c| {
            let ids: Vec<String> = c
                .prepare(
                    "SELECT order_id FROM orders WHERE (?1 = 'open' AND status IN ('placed', 'accepted', 'picked', 'ready', 'out_for_delivery')) OR status = ?1
                     ORDER BY order_no LIMIT 500",
                )?
                .query_map(params![filter], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            ids.iter().map(|id| order_view(c, id)).collect()
        })
    }

    /// Public tracking: status and window for a token, `None` for any token that is not one.
    pub fn track(&self, token: &str) -> Result<Option<Tracking>, StoreError> {
        let h = token_hash(token);
        self.read(move |c| {
            Ok(c.query_row("SELECT status, window_start, window_end, updated_at FROM orders WHERE token_hash = ?1", params![h], |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?
            .map(|(status, window_start_ms, window_end_ms, updated_at_ms)| {
                let label = OrderStatus::parse(&status).map(|s| s.label()).unwrap_or("Unknown").to_string();
                Tracking { status, status_label: label, window_start_ms, window_end_ms, updated_at_ms }
            }))
        })
    }

    /// The order behind a token, for whoever holds its one-time code. An unknown token, a
    /// wrong code and a locked order all answer `None`, after the same work.
    pub async fn track_details(&self, token: &str, code: &str) -> Result<Option<OrderView>, StoreError> {
        let h = token_hash(token);
        let row: Option<(String, String, i64)> = self
            .read_async(move |c| {
                Ok(c.query_row(
                    "SELECT o.order_id, o.code_hash, COALESCE(f.failed, 0) FROM orders o LEFT JOIN order_code_failures f ON f.order_id = o.order_id
                     WHERE o.token_hash = ?1",
                    params![h],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?)
            })
            .await?;
        let (order_id, stored, failed) = row.unwrap_or_else(|| ("unknown".into(), "0".repeat(64), 0));
        let given = self.code_hash(&order_id, code.trim());
        // An unknown token never matches and takes the same path as a wrong code, write
        // included (counted against a row no order can have), so neither answers sooner.
        let matches: bool = given.as_bytes().ct_eq(stored.as_bytes()).into();
        if !matches || failed >= MAX_CODE_FAILURES {
            if !matches {
                let id = order_id.clone();
                self.write(move |tx| {
                    tx.conn().execute(
                        "INSERT INTO order_code_failures (order_id, failed) VALUES (?1, 1) ON CONFLICT(order_id) DO UPDATE SET failed = failed + 1",
                        params![id],
                    )?;
                    Ok(())
                })
                .await?;
            }
            return Ok(None);
        }
        let view = self.read_async(move |c| order_view(c, &order_id)).await?;
        Ok(Some(view))
    }

    /// Records a security alert in the journal (it reaches HQ with the next push).
    pub async fn raise_alert(&self, kind: &str, message: String) -> Result<(), StoreError> {
        let kind = kind.to_string();
        tracing::warn!(kind = %kind, message = %message, "security alert");
        self.write(move |tx| {
            tx.append("system", Event::SecurityAlert { alert_kind: kind, message })?;
            Ok(())
        })
        .await
    }

    /// The store's security alerts, newest first.
    pub fn alerts(&self, limit: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
        self.read(|c| {
            Ok(c.prepare("SELECT at_ms, kind, message FROM store_alerts ORDER BY seq DESC LIMIT ?1")?
                .query_map(params![limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?)
        })
    }
}

pub(crate) fn order_view(c: &rusqlite::Connection, order_id: &str) -> Result<OrderView, StoreError> {
    let head = c
        .query_row(
            "SELECT order_no, kind, status, total_minor, window_start, window_end, expires_at, sale_id FROM orders WHERE order_id = ?1",
            params![order_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
        )
        .optional()?;
    let (order_no, kind, status, total_minor, window_start_ms, window_end_ms, expires_at_ms, sale_id) =
        head.ok_or_else(|| StoreError::not_found("order", order_id))?;
    let lines = c
        .prepare("SELECT product_id, name, quantity, total_minor FROM order_lines WHERE order_id = ?1 ORDER BY line_no")?
        .query_map(params![order_id], |r| Ok(OrderViewLine { product_id: r.get(0)?, name: r.get(1)?, quantity: r.get(2)?, total_minor: r.get(3)? }))?
        .collect::<Result<_, _>>()?;
    Ok(OrderView { order_id: order_id.into(), order_no, kind, status, lines, total_minor, window_start_ms, window_end_ms, expires_at_ms, sale_id })
}
