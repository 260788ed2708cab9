//! Conversions between domain types and the journal's stored types, at the edge. Every match is
//! exhaustive both ways: a variant added to the domain fails to compile here until someone
//! decides how (or in which new event version) it is stored.

use crate::payload as p;
use stockade_domain::{catalog as c, inventory as i, orders as o, pricing as pr};

macro_rules! enum_both_ways {
    ($stored:ty, $domain:ty, [$($v:ident),+ $(,)?]) => {
        impl From<$domain> for $stored {
            fn from(d: $domain) -> Self {
                match d { $(<$domain>::$v => <$stored>::$v),+ }
            }
        }
        impl From<$stored> for $domain {
            fn from(s: $stored) -> Self {
                match s { $(<$stored>::$v => <$domain>::$v),+ }
            }
        }
    };
}

enum_both_ways!(p::ProductClass, c::ProductClass, [Dried, Fresh, Edible, Topical, NonSolid, Beverage, Concentrate, Seed, Plant, NonCannabis]);
enum_both_ways!(p::TaxClass, c::TaxClass, [Cannabis, General]);
enum_both_ways!(p::TenderKind, pr::TenderKind, [Cash, Debit, Credit, GiftCard]);
enum_both_ways!(p::AdjustReason, i::AdjustReason, [Damage, Theft, Expired, EntryError, Sample, Destruction, Recall, Found]);
enum_both_ways!(p::OrderKind, o::OrderKind, [Pickup, Delivery]);
enum_both_ways!(p::OrderStatus, o::OrderStatus, [Placed, Accepted, Picked, Ready, OutForDelivery, Completed, Cancelled, Expired, Refused]);

impl From<c::ProductSpec> for p::ProductFacts {
    fn from(s: c::ProductSpec) -> Self {
        p::ProductFacts {
            sku: s.sku,
            gtin: s.gtin,
            name: s.name,
            brand: s.brand,
            category: s.category,
            class: s.class.into(),
            net_weight_mg: s.net_weight_mg,
            net_volume_ml: s.net_volume_ml,
            thc_mg: s.thc_mg,
            cbd_mg: s.cbd_mg,
            price_minor: s.price_minor,
            tax_class: s.tax_class.into(),
        }
    }
}

impl From<p::ProductFacts> for c::ProductSpec {
    fn from(s: p::ProductFacts) -> Self {
        c::ProductSpec {
            sku: s.sku,
            gtin: s.gtin,
            name: s.name,
            brand: s.brand,
            category: s.category,
            class: s.class.into(),
            net_weight_mg: s.net_weight_mg,
            net_volume_ml: s.net_volume_ml,
            thc_mg: s.thc_mg,
            cbd_mg: s.cbd_mg,
            price_minor: s.price_minor,
            tax_class: s.tax_class.into(),
        }
    }
}

impl From<pr::TaxAmount> for p::TaxAmount {
    fn from(t: pr::TaxAmount) -> Self {
        p::TaxAmount { tax_id: t.tax_id, label: t.label, amount_minor: t.amount_minor, separate_on_receipt: t.separate_on_receipt }
    }
}

impl From<p::TaxAmount> for pr::TaxAmount {
    fn from(t: p::TaxAmount) -> Self {
        pr::TaxAmount { tax_id: t.tax_id, label: t.label, amount_minor: t.amount_minor, separate_on_receipt: t.separate_on_receipt }
    }
}

impl From<pr::Totals> for p::Totals {
    fn from(t: pr::Totals) -> Self {
        p::Totals { subtotal_minor: t.subtotal_minor, taxes: t.taxes.into_iter().map(Into::into).collect(), tax_minor: t.tax_minor, total_minor: t.total_minor }
    }
}

impl From<p::Totals> for pr::Totals {
    fn from(t: p::Totals) -> Self {
        pr::Totals {
            subtotal_minor: t.subtotal_minor,
            taxes: t.taxes.into_iter().map(Into::into).collect(),
            tax_minor: t.tax_minor,
            total_minor: t.total_minor,
        }
    }
}

impl From<pr::Tender> for p::Tender {
    fn from(t: pr::Tender) -> Self {
        p::Tender { kind: t.kind.into(), amount_minor: t.amount_minor }
    }
}

impl From<p::Tender> for pr::Tender {
    fn from(t: p::Tender) -> Self {
        pr::Tender { kind: t.kind.into(), amount_minor: t.amount_minor }
    }
}

impl From<pr::Settlement> for p::Settlement {
    fn from(s: pr::Settlement) -> Self {
        p::Settlement { tendered_minor: s.tendered_minor, change_minor: s.change_minor, cash_kept_minor: s.cash_kept_minor }
    }
}

impl From<p::Settlement> for pr::Settlement {
    fn from(s: p::Settlement) -> Self {
        pr::Settlement { tendered_minor: s.tendered_minor, change_minor: s.change_minor, cash_kept_minor: s.cash_kept_minor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored spelling of every enum is the domain's spelling today; the two may diverge
    /// later only by adding a new event version.
    #[test]
    fn stored_spellings_match_the_domain_today() {
        for &k in p::ProductClass::ALL {
            assert_eq!(k.as_str(), c::ProductClass::from(k).as_str());
        }
        for &k in p::TenderKind::ALL {
            assert_eq!(k.as_str(), pr::TenderKind::from(k).as_str());
        }
        for &k in p::AdjustReason::ALL {
            assert_eq!(k.as_str(), i::AdjustReason::from(k).as_str());
        }
        for &k in p::OrderStatus::ALL {
            assert_eq!(k.as_str(), o::OrderStatus::from(k).as_str());
        }
        for &k in p::TaxClass::ALL {
            assert_eq!(k.as_str(), c::TaxClass::from(k).as_str());
        }
        // And the serde spellings, which is what the domain's own JSON (the API) uses.
        fn same<A: serde::Serialize, B: serde::Serialize>(a: A, b: B) {
            assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        }
        p::ProductClass::ALL.iter().for_each(|&k| same(k, c::ProductClass::from(k)));
        p::TaxClass::ALL.iter().for_each(|&k| same(k, c::TaxClass::from(k)));
        p::TenderKind::ALL.iter().for_each(|&k| same(k, pr::TenderKind::from(k)));
        p::AdjustReason::ALL.iter().for_each(|&k| same(k, i::AdjustReason::from(k)));
        p::OrderKind::ALL.iter().for_each(|&k| same(k, o::OrderKind::from(k)));
        p::OrderStatus::ALL.iter().for_each(|&k| same(k, o::OrderStatus::from(k)));
    }
}
