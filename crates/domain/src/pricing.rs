//! Sale arithmetic: line totals, itemized taxes, tenders and change. Integers only.

use crate::catalog::TaxClass;
use crate::money::apply_rate_ppm;
use crate::rules::RulePack;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaxAmount {
    pub tax_id: String,
    pub label: String,
    pub amount_minor: i64,
    #[serde(default)]
    pub separate_on_receipt: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PricedLine {
    pub unit_price_minor: i64,
    pub quantity: i64,
    pub net_minor: i64,
    pub taxes: Vec<TaxAmount>,
    pub total_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    pub subtotal_minor: i64,
    /// One entry per tax of the pack that applied, summed over lines, in pack order.
    pub taxes: Vec<TaxAmount>,
    pub tax_minor: i64,
    pub total_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("amount overflow")]
    Overflow,
}

/// Taxes for one line, rounded per line and per tax (half away from zero), in pack order.
pub fn line_taxes(pack: &RulePack, tax_class: TaxClass, net_minor: i64) -> Result<Vec<TaxAmount>, PricingError> {
    let mut out: Vec<TaxAmount> = Vec::new();
    let mut prior: i64 = 0;
    for tax in pack.taxes.iter().filter(|t| t.applies_to.contains(&tax_class)) {
        let base = if tax.compound { net_minor.checked_add(prior).ok_or(PricingError::Overflow)? } else { net_minor };
        let amount = apply_rate_ppm(base, tax.rate_ppm);
        prior = prior.checked_add(amount).ok_or(PricingError::Overflow)?;
        out.push(TaxAmount { tax_id: tax.id.clone(), label: tax.label.clone(), amount_minor: amount, separate_on_receipt: tax.separate_on_receipt });
    }
    Ok(out)
}

pub fn price_line(pack: &RulePack, tax_class: TaxClass, unit_price_minor: i64, quantity: i64) -> Result<PricedLine, PricingError> {
    let net = unit_price_minor.checked_mul(quantity).ok_or(PricingError::Overflow)?;
    let taxes = line_taxes(pack, tax_class, net)?;
    let tax: i64 = taxes.iter().map(|t| t.amount_minor).sum();
    Ok(PricedLine { unit_price_minor, quantity, net_minor: net, taxes, total_minor: net.checked_add(tax).ok_or(PricingError::Overflow)? })
}

pub fn totals(pack: &RulePack, lines: &[PricedLine]) -> Totals {
    let subtotal: i64 = lines.iter().map(|l| l.net_minor).sum();
    let mut taxes: Vec<TaxAmount> = Vec::new();
    for tax in &pack.taxes {
        let amount: i64 = lines.iter().flat_map(|l| &l.taxes).filter(|t| t.tax_id == tax.id).map(|t| t.amount_minor).sum();
        if lines.iter().flat_map(|l| &l.taxes).any(|t| t.tax_id == tax.id) {
            taxes.push(TaxAmount { tax_id: tax.id.clone(), label: tax.label.clone(), amount_minor: amount, separate_on_receipt: tax.separate_on_receipt });
        }
    }
    let tax_minor: i64 = taxes.iter().map(|t| t.amount_minor).sum();
    Totals { subtotal_minor: subtotal, taxes, tax_minor, total_minor: subtotal + tax_minor }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenderKind {
    Cash,
    Debit,
    Credit,
    GiftCard,
}

impl TenderKind {
    pub const ALL: [TenderKind; 4] = [TenderKind::Cash, TenderKind::Debit, TenderKind::Credit, TenderKind::GiftCard];
    pub fn as_str(self) -> &'static str {
        match self {
            TenderKind::Cash => "cash",
            TenderKind::Debit => "debit",
            TenderKind::Credit => "credit",
            TenderKind::GiftCard => "gift_card",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tender {
    pub kind: TenderKind,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settlement {
    pub tendered_minor: i64,
    pub change_minor: i64,
    /// Cash that stays in the drawer: cash tendered minus change.
    pub cash_kept_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TenderError {
    #[error("no tender given")]
    NoTender,
    #[error("amount_minor of every tender is between 1 and 100000000 (1,000,000.00)")]
    NonPositive,
    #[error("at most {0} tenders per sale")]
    TooMany(usize),
    #[error("tendered {tendered_minor} is less than the total {due_minor}")]
    Insufficient { due_minor: i64, tendered_minor: i64 },
    #[error("card and gift-card tenders ({non_cash_minor}) exceed the total {due_minor}: change is given in cash only")]
    NonCashOverTender { due_minor: i64, non_cash_minor: i64 },
}

pub const MAX_TENDERS: usize = 8;

pub fn settle(due_minor: i64, tenders: &[Tender]) -> Result<Settlement, TenderError> {
    if tenders.is_empty() {
        return Err(TenderError::NoTender);
    }
    if tenders.len() > MAX_TENDERS {
        return Err(TenderError::TooMany(MAX_TENDERS));
    }
    if tenders.iter().any(|t| t.amount_minor <= 0 || t.amount_minor > 100_000_000) {
        return Err(TenderError::NonPositive);
    }
    let tendered: i64 = tenders.iter().map(|t| t.amount_minor).sum();
    let cash: i64 = tenders.iter().filter(|t| t.kind == TenderKind::Cash).map(|t| t.amount_minor).sum();
    let non_cash = tendered - cash;
    if tendered < due_minor {
        return Err(TenderError::Insufficient { due_minor, tendered_minor: tendered });
    }
    if non_cash > due_minor {
        return Err(TenderError::NonCashOverTender { due_minor, non_cash_minor: non_cash });
    }
    let change = tendered - due_minor;
    Ok(Settlement { tendered_minor: tendered, change_minor: change, cash_kept_minor: cash - change })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleBook;
    use chrono::NaiveDate;

    fn pack(id: &str) -> RulePack {
        RuleBook::builtin().unwrap().pack_for(id, NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()).unwrap().clone()
    }

    #[test]
    fn ontario_hst_is_13_percent_per_line() {
        let l = price_line(&pack("CA-ON"), TaxClass::Cannabis, 3999, 2).unwrap();
        assert_eq!(l.net_minor, 7998);
        assert_eq!(l.taxes[0].amount_minor, 1040); // 1039.74
        assert_eq!(l.total_minor, 9038);
    }

    #[test]
    fn washington_excise_is_itemized_separately_and_michigan_compounds() {
        let wa = price_line(&pack("US-WA"), TaxClass::Cannabis, 1000, 1).unwrap();
        assert_eq!(
            wa.taxes.iter().map(|t| (t.tax_id.as_str(), t.amount_minor, t.separate_on_receipt)).collect::<Vec<_>>(),
            vec![("excise", 370, true), ("sales_tax", 65, false)]
        );
        let mi = price_line(&pack("US-MI"), TaxClass::Cannabis, 1000, 1).unwrap();
        assert_eq!(mi.taxes[1].amount_minor, 66); // 6 % of 11.00
        let acc = price_line(&pack("US-WA"), TaxClass::General, 1000, 1).unwrap();
        assert_eq!(acc.taxes.len(), 1, "accessories pay sales tax only");
    }

    #[test]
    fn change_is_given_from_cash_only() {
        let t = |kind, amount_minor| Tender { kind, amount_minor };
        assert_eq!(settle(1750, &[t(TenderKind::Cash, 2000)]).unwrap(), Settlement { tendered_minor: 2000, change_minor: 250, cash_kept_minor: 1750 });
        assert_eq!(settle(1750, &[t(TenderKind::Debit, 1000), t(TenderKind::Cash, 1000)]).unwrap().change_minor, 250);
        assert!(matches!(settle(1750, &[t(TenderKind::Credit, 2000)]), Err(TenderError::NonCashOverTender { .. })));
        assert!(matches!(settle(1750, &[t(TenderKind::Cash, 1000)]), Err(TenderError::Insufficient { .. })));
        assert_eq!(settle(1750, &[]), Err(TenderError::NoTender));
        assert_eq!(settle(1750, &[t(TenderKind::Cash, -5)]), Err(TenderError::NonPositive));
    }
}
