//! Value types stored inside journal events. They belong to the journal, not to the domain:
//! their JSON shape is part of the stored bytes and may never change once released (see
//! `ARCHITECTURE.md`, "The journal's format"). The domain converts to and from them at the edge
//! (`convert.rs`); a domain type may grow or change without touching a single stored byte.
//!
//! Every type here is exactly the shape release 1 wrote (pinned by `tests/pinned.rs`, which also
//! lists every enum spelling).

use serde::{Deserialize, Serialize};

/// What a product is, as recorded by `product_created` / `product_updated` (v1) and in HQ's
/// `catalog_published` (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductFacts {
    pub sku: String,
    #[serde(default)]
    pub gtin: Option<String>,
    pub name: String,
    #[serde(default)]
    pub brand: String,
    #[serde(default)]
    pub category: String,
    pub class: ProductClass,
    #[serde(default)]
    pub net_weight_mg: Option<i64>,
    #[serde(default)]
    pub net_volume_ml: Option<i64>,
    #[serde(default)]
    pub thc_mg: Option<i64>,
    #[serde(default)]
    pub cbd_mg: Option<i64>,
    #[serde(default)]
    pub price_minor: Option<i64>,
    pub tax_class: TaxClass,
}

macro_rules! stored_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
    };
}

stored_enum!(
    /// Product class (v1 spellings).
    ProductClass {
        Dried = "dried",
        Fresh = "fresh",
        Edible = "edible",
        Topical = "topical",
        NonSolid = "non_solid",
        Beverage = "beverage",
        Concentrate = "concentrate",
        Seed = "seed",
        Plant = "plant",
        NonCannabis = "non_cannabis",
    }
);

stored_enum!(
    /// Tax class (v1 spellings).
    TaxClass { Cannabis = "cannabis", General = "general" }
);

stored_enum!(
    /// How a sale was paid (v1 spellings).
    TenderKind { Cash = "cash", Debit = "debit", Credit = "credit", GiftCard = "gift_card" }
);

stored_enum!(
    /// Why stock was adjusted (v1 spellings).
    AdjustReason {
        Damage = "damage",
        Theft = "theft",
        Expired = "expired",
        EntryError = "entry_error",
        Sample = "sample",
        Destruction = "destruction",
        Recall = "recall",
        Found = "found",
    }
);

stored_enum!(
    /// Pickup or delivery (v1 spellings).
    OrderKind { Pickup = "pickup", Delivery = "delivery" }
);

stored_enum!(
    /// An online order's state (v1 spellings).
    OrderStatus {
        Placed = "placed",
        Accepted = "accepted",
        Picked = "picked",
        Ready = "ready",
        OutForDelivery = "out_for_delivery",
        Completed = "completed",
        Cancelled = "cancelled",
        Expired = "expired",
        Refused = "refused",
    }
);

/// One tax on a line or a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxAmount {
    pub tax_id: String,
    pub label: String,
    pub amount_minor: i64,
    #[serde(default)]
    pub separate_on_receipt: bool,
}

/// A sale's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal_minor: i64,
    pub taxes: Vec<TaxAmount>,
    pub tax_minor: i64,
    pub total_minor: i64,
}

/// One tender of a sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tender {
    pub kind: TenderKind,
    pub amount_minor: i64,
}

/// What was tendered, given back and kept in the drawer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub tendered_minor: i64,
    pub change_minor: i64,
    pub cash_kept_minor: i64,
}
