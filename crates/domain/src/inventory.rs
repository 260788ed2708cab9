//! Inventory math: lot allocation, count variances, till reconciliation.

use serde::{Deserialize, Serialize};

/// Why stock was adjusted. Mirrors the reasons state traceability systems accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AdjustReason {
    Damage,
    Theft,
    Expired,
    EntryError,
    Sample,
    Destruction,
    Recall,
    Found,
}

impl AdjustReason {
    /// Every reason, in the order a back office lists them.
    pub const ALL: [AdjustReason; 8] = [
        AdjustReason::Damage,
        AdjustReason::Theft,
        AdjustReason::Expired,
        AdjustReason::EntryError,
        AdjustReason::Sample,
        AdjustReason::Destruction,
        AdjustReason::Recall,
        AdjustReason::Found,
    ];

    pub fn label(self) -> &'static str {
        match self {
            AdjustReason::Damage => "Damaged",
            AdjustReason::Theft => "Theft or loss",
            AdjustReason::Expired => "Expired",
            AdjustReason::EntryError => "Data entry error",
            AdjustReason::Sample => "Sample",
            AdjustReason::Destruction => "Destroyed",
            AdjustReason::Recall => "Recall",
            AdjustReason::Found => "Found",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AdjustReason::Damage => "damage",
            AdjustReason::Theft => "theft",
            AdjustReason::Expired => "expired",
            AdjustReason::EntryError => "entry_error",
            AdjustReason::Sample => "sample",
            AdjustReason::Destruction => "destruction",
            AdjustReason::Recall => "recall",
            AdjustReason::Found => "found",
        }
    }
}

/// Takes `quantity` units from lots in the given order (oldest first). Returns (lot index, units).
/// Fails with the units available when the lots cannot cover the quantity.
pub fn allocate_fifo(on_hand: &[i64], quantity: i64) -> Result<Vec<(usize, i64)>, i64> {
    let available: i64 = on_hand.iter().filter(|q| **q > 0).sum();
    if quantity > available {
        return Err(available);
    }
    let mut left = quantity;
    let mut out = Vec::new();
    for (i, q) in on_hand.iter().enumerate() {
        if left == 0 {
            break;
        }
        let take = (*q).min(left);
        if take > 0 {
            out.push((i, take));
            left -= take;
        }
    }
    Ok(out)
}

/// Cash the drawer should hold: opening float plus cash kept from sales minus cash refunds.
pub fn expected_cash(float_minor: i64, cash_sales_minor: i64, cash_refunds_minor: i64) -> i64 {
    float_minor + cash_sales_minor - cash_refunds_minor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_takes_the_oldest_lots_first_and_reports_shortfall() {
        assert_eq!(allocate_fifo(&[2, 0, 5], 4), Ok(vec![(0, 2), (2, 2)]));
        assert_eq!(allocate_fifo(&[2, 3], 6), Err(5));
        assert_eq!(allocate_fifo(&[], 0), Ok(vec![]));
    }

    #[test]
    fn till_expectation() {
        assert_eq!(expected_cash(20_000, 15_250, 1_000), 34_250);
    }
}
