//! A cart before it is a sale: prices, itemized taxes, stock, and how much of each purchase
//! limit it uses — what the register shows as items are scanned. Reads only; records nothing.

use crate::commands::{cart_facts, check_quantity, customer_hash, CartFacts, CustomerEvidence, SaleLineRequest, MAX_LINES};
use crate::error::StoreError;
use crate::node::Store;
use serde::{Deserialize, Serialize};
use stockade_domain::compliance::{self, AgeEvidence, ExplainedViolation, LimitUsage};
use stockade_domain::pricing::{self, TaxAmount};
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CartQuoteRequest {
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<SaleLineRequest>,
    /// The customer, when known: per-customer daily limits then count earlier purchases.
    #[serde(default)]
    pub customer: Option<CustomerEvidence>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuoteLine {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub net_minor: i64,
    pub taxes: Vec<TaxAmount>,
    pub total_minor: i64,
    pub on_hand: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CartQuote {
    pub lines: Vec<QuoteLine>,
    pub subtotal_minor: i64,
    pub taxes: Vec<TaxAmount>,
    pub tax_minor: i64,
    pub total_minor: i64,
    /// Every limit of the jurisdiction with how much this cart (and the customer's earlier
    /// purchases today) uses: the register's limit meter.
    pub limits: Vec<LimitUsage>,
    /// Limits this cart would break (the age check is a separate step at checkout).
    pub violations: Vec<ExplainedViolation>,
    /// Lines asking for more than is on hand.
    pub short: Vec<String>,
}

impl Store {
    pub fn quote_cart(&self, req: &CartQuoteRequest) -> Result<CartQuote, StoreError> {
        if req.lines.is_empty() || req.lines.len() > MAX_LINES {
            return Err(StoreError::invalid("invalid_request", format!("a cart has 1 to {MAX_LINES} lines")));
        }
        for l in &req.lines {
            check_quantity(l.quantity)?;
        }
        let now = self.clock().now_ms();
        let pack = self.pack_at(now)?.clone();
        let today = crate::apply::local_date(self.info().timezone, now);
        let local_day = today.parse().map_err(|_| StoreError::Io("bad local date".into()))?;
        let customer = match req.customer.as_ref().and_then(|c| c.id_number.as_deref()) {
            Some(n) => Some(customer_hash(self.customer_key(), n)?),
            None => None,
        };
        self.read(|c| {
            let CartFacts { products, cart, earlier } = cart_facts(c, &pack, &req.lines, customer.as_deref(), &today)?;
            let age = AgeEvidence { confirmed: true, birth_date: None };
            let (limits, violations) = match compliance::check_sale(&pack, &cart, &earlier, customer.is_some(), age, local_day) {
                Ok(usage) => (usage, vec![]),
                Err(v) => (compliance::meter(&pack, &cart, &earlier), v),
            };
            let mut lines = Vec::new();
            let mut priced = Vec::new();
            let mut short = Vec::new();
            let mut wanted: std::collections::HashMap<&str, i64> = Default::default();
            for (p, l) in products.iter().zip(&req.lines) {
                let price = p.spec.price_minor.unwrap_or(0);
                let line =
                    pricing::price_line(&pack, p.spec.tax_class, price, l.quantity).map_err(|e| StoreError::invalid("invalid_request", e.to_string()))?;
                let total_wanted = wanted.entry(p.product_id.as_str()).or_default();
                *total_wanted += l.quantity;
                if *total_wanted > p.on_hand - crate::commands::reserved_units(c, &p.product_id, None)? && !short.contains(&p.product_id) {
                    short.push(p.product_id.clone());
                }
                lines.push(QuoteLine {
                    product_id: p.product_id.clone(),
                    sku: p.spec.sku.clone(),
                    name: p.spec.name.clone(),
                    quantity: l.quantity,
                    unit_price_minor: price,
                    net_minor: line.net_minor,
                    taxes: line.taxes.clone(),
                    total_minor: line.total_minor,
                    on_hand: p.on_hand,
                });
                priced.push(line);
            }
            let totals = pricing::totals(&pack, &priced);
            Ok(CartQuote {
                lines,
                subtotal_minor: totals.subtotal_minor,
                taxes: totals.taxes,
                tax_minor: totals.tax_minor,
                total_minor: totals.total_minor,
                limits,
                violations: violations.into_iter().map(ExplainedViolation::from).collect(),
                short,
            })
        })
    }
}
