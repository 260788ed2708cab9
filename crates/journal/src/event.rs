//! Journal payloads. Each variant is one kind of state change; its tag is the entry's `kind`.
//! Events carry everything derived at command time (prices, taxes, lot allocations), so that
//! replaying them needs no clock, no randomness and no catalog lookup.
//!
//! Compatibility rule: a variant, once released, never changes shape. A new shape is a new
//! variant (e.g. `sale_recorded_v2`) and readers keep handling the old one forever.

use crate::payload::{AdjustReason, OrderKind, OrderStatus, ProductClass, ProductFacts, Settlement, TaxAmount, Tender, TenderKind, Totals};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Budtender,
    Manager,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Budtender => "budtender",
            Role::Manager => "manager",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "budtender" => Some(Role::Budtender),
            "manager" => Some(Role::Manager),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotTake {
    pub lot_id: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedLine {
    pub product_id: String,
    pub lot_id: String,
    pub lot_code: String,
    /// State traceability tag (e.g. Metrc package label) when the jurisdiction issues one.
    pub package_tag: Option<String>,
    pub quantity: i64,
    pub unit_cost_minor: i64,
    /// Lab-tested THC per unit for this lot, when different from the product record.
    pub lab_thc_mg: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedLine {
    pub product_id: String,
    pub expected: i64,
    pub counted: i64,
    /// Per-lot changes that bring the stock to `counted`.
    pub changes: Vec<LotTake>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub class: ProductClass,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub net_minor: i64,
    pub taxes: Vec<TaxAmount>,
    pub total_minor: i64,
    pub lots: Vec<LotTake>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    /// Index into the sale's lines.
    pub line: usize,
    pub product_id: String,
    pub quantity: i64,
    pub refund_minor: i64,
    /// Units put back into sellable stock (by lot); empty when destroyed.
    pub restocked: Vec<LotTake>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    /// With taxes, as the jurisdiction shows them.
    pub total_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    StoreInitialized {
        store_id: String,
        name: String,
        jurisdiction: String,
        /// IANA zone of the shop; local dates (per-day limits, end of day) use it.
        timezone: String,
        public_key: String,
    },
    StaffAdded {
        user_id: String,
        username: String,
        display_name: String,
        role: Role,
    },
    StaffDisabled {
        user_id: String,
    },
    ProductCreated {
        product_id: String,
        spec: ProductFacts,
    },
    ProductUpdated {
        product_id: String,
        spec: ProductFacts,
    },
    PriceChanged {
        product_id: String,
        old_price_minor: Option<i64>,
        new_price_minor: i64,
    },
    StockReceived {
        receipt_id: String,
        supplier: String,
        document: String,
        lines: Vec<ReceivedLine>,
    },
    StockAdjusted {
        product_id: String,
        reason: AdjustReason,
        note: String,
        /// Signed per-lot changes; their sum is the adjustment.
        changes: Vec<LotTake>,
    },
    StockCounted {
        count_id: String,
        lines: Vec<CountedLine>,
    },
    SaleRecorded {
        sale_id: String,
        sale_no: u64,
        till_id: String,
        idempotency_key: Option<String>,
        /// SHA-256 of the request that carried the idempotency key, to refuse a reused key.
        request_digest: Option<String>,
        /// Keyed hash of the customer's ID number, for per-customer limits; never the number.
        customer_hash: Option<String>,
        lines: Vec<SaleLine>,
        totals: Totals,
        tenders: Vec<Tender>,
        settlement: Settlement,
    },
    SaleVoided {
        sale_id: String,
        reason: String,
    },
    SaleReturned {
        return_id: String,
        sale_id: String,
        till_id: String,
        lines: Vec<ReturnLine>,
        refund_minor: i64,
        refund_tender: TenderKind,
        reason: String,
    },
    /// A catalog update from HQ (verified against HQ's key) was applied: the product changes
    /// are the entries just before this one.
    HqCatalogApplied {
        hq_id: String,
        hq_seq: u64,
        retailer_seq: u64,
        products: u64,
    },
    /// A purchase order from HQ (verified against HQ's key) is expected: its lines are in
    /// transit until stock is received with `po_id` as the receipt's document.
    HqPurchaseOrderApplied {
        hq_id: String,
        hq_seq: u64,
        store_seq: u64,
        po_id: String,
        lines: Vec<crate::hq_event::PurchaseOrderLine>,
    },
    /// An online order: its units are reserved until it is completed, cancelled, expired or
    /// refused. Only hashes of its tracking token and one-time code are kept; the customer is a
    /// reference to a sealed record, never personal data.
    OrderPlaced {
        order_id: String,
        order_no: u64,
        order_kind: OrderKind,
        token_hash: String,
        code_hash: String,
        customer_id: Option<String>,
        customer_hash: Option<String>,
        lines: Vec<OrderLine>,
        total_minor: i64,
        expires_at_ms: i64,
        window_start_ms: i64,
        window_end_ms: i64,
    },
    /// A step of the order state machine (`stockade_domain::orders::next`).
    OrderStatusChanged {
        order_id: String,
        status: OrderStatus,
        reason: String,
    },
    /// Handed over with the age check passed: the sale is the entry just before this one.
    OrderCompleted {
        order_id: String,
        sale_id: String,
    },
    /// Something a person should look at (e.g. order-tracking enumeration); replicated to HQ.
    SecurityAlert {
        alert_kind: String,
        message: String,
    },
    TillOpened {
        till_id: String,
        register: String,
        float_minor: i64,
    },
    TillClosed {
        till_id: String,
        counted_minor: i64,
        expected_minor: i64,
        variance_minor: i64,
    },
    /// An entry made on a stale branch — after the store's database went back in time and
    /// before it learned the truth from HQ — recorded again after the recovered entries, so
    /// nothing acknowledged on either branch is lost. `entry` is the original entry's exact
    /// bytes (verified against the store's key when the branch was reconciled); its event is
    /// applied at this entry's place.
    EntryReconciled {
        original_seq: u64,
        /// Hex SHA-256 chain hash of the original entry on its branch.
        original_hash: String,
        entry: String,
    },
    /// An entry of a kind (or kind version) this release does not know, written by a newer
    /// release: its bytes are kept, hashed and verified like any other, never re-encoded, and it
    /// is projected after an upgrade. Never written by this release.
    #[serde(skip)]
    Unknown(crate::UnknownKind),
}

impl Event {
    /// Every kind this release reads and writes (the stored tag; `_vN` marks version N ≥ 2).
    pub const KINDS: &'static [&'static str] = &[
        "store_initialized",
        "staff_added",
        "staff_disabled",
        "product_created",
        "product_updated",
        "price_changed",
        "stock_received",
        "stock_adjusted",
        "stock_counted",
        "sale_recorded",
        "sale_voided",
        "sale_returned",
        "hq_catalog_applied",
        "hq_purchase_order_applied",
        "order_placed",
        "order_status_changed",
        "order_completed",
        "security_alert",
        "till_opened",
        "till_closed",
        "entry_reconciled",
    ];

    pub fn kind(&self) -> &str {
        match self {
            Event::StoreInitialized { .. } => "store_initialized",
            Event::StaffAdded { .. } => "staff_added",
            Event::StaffDisabled { .. } => "staff_disabled",
            Event::ProductCreated { .. } => "product_created",
            Event::ProductUpdated { .. } => "product_updated",
            Event::PriceChanged { .. } => "price_changed",
            Event::StockReceived { .. } => "stock_received",
            Event::StockAdjusted { .. } => "stock_adjusted",
            Event::StockCounted { .. } => "stock_counted",
            Event::SaleRecorded { .. } => "sale_recorded",
            Event::SaleVoided { .. } => "sale_voided",
            Event::SaleReturned { .. } => "sale_returned",
            Event::HqCatalogApplied { .. } => "hq_catalog_applied",
            Event::HqPurchaseOrderApplied { .. } => "hq_purchase_order_applied",
            Event::OrderPlaced { .. } => "order_placed",
            Event::OrderStatusChanged { .. } => "order_status_changed",
            Event::OrderCompleted { .. } => "order_completed",
            Event::SecurityAlert { .. } => "security_alert",
            Event::TillOpened { .. } => "till_opened",
            Event::TillClosed { .. } => "till_closed",
            Event::EntryReconciled { .. } => "entry_reconciled",
            Event::Unknown(u) => &u.kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_matches_the_serialized_tag() {
        let e = Event::SaleVoided { sale_id: "x".into(), reason: "r".into() };
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], e.kind());
        assert!(Event::KINDS.contains(&e.kind()));
    }
}
