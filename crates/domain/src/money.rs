//! Money in integer minor units (cents). No floats anywhere.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Cad,
    Usd,
}

impl Currency {
    pub fn code(self) -> &'static str {
        match self {
            Currency::Cad => "CAD",
            Currency::Usd => "USD",
        }
    }
}

/// An amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amounts in {0} and {1} cannot be combined")]
    CurrencyMismatch(&'static str, &'static str),
    #[error("amount overflow")]
    Overflow,
    #[error("'{0}' is not an amount: use digits with at most two decimals, e.g. 12.50")]
    Unparsable(String),
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }
    pub fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }
    fn same(self, other: Money) -> Result<(), MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency.code(), other.currency.code()));
        }
        Ok(())
    }
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same(other)?;
        Ok(Money::new(self.minor.checked_add(other.minor).ok_or(MoneyError::Overflow)?, self.currency))
    }
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same(other)?;
        Ok(Money::new(self.minor.checked_sub(other.minor).ok_or(MoneyError::Overflow)?, self.currency))
    }
    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        Ok(Money::new(self.minor.checked_mul(factor).ok_or(MoneyError::Overflow)?, self.currency))
    }

    /// Parses "12", "12.5", "12.50" into minor units (two decimals).
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        parse_minor(text).map(|m| Money::new(m, currency))
    }
}

/// Parses a decimal amount with at most two decimals into minor units.
pub fn parse_minor(text: &str) -> Result<i64, MoneyError> {
    let t = text.trim().trim_start_matches('$');
    let bad = || MoneyError::Unparsable(text.to_string());
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    if whole.is_empty() && frac.is_empty() || frac.len() > 2 {
        return Err(bad());
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let w: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let f: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
        _ => frac.parse().map_err(|_| bad())?,
    };
    let v = w.checked_mul(100).and_then(|v| v.checked_add(f)).ok_or(MoneyError::Overflow)?;
    Ok(if neg { -v } else { v })
}

/// `amount × rate_ppm / 1_000_000`, rounded half away from zero. Used for taxes.
pub fn apply_rate_ppm(amount_minor: i64, rate_ppm: i64) -> i64 {
    let p = amount_minor as i128 * rate_ppm as i128;
    let q = p / 1_000_000;
    let r = p % 1_000_000;
    let adj = if r.abs() * 2 >= 1_000_000 { p.signum() } else { 0 };
    (q + adj) as i64
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let a = self.minor.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", a / 100, a % 100, self.currency.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amounts_with_up_to_two_decimals() {
        assert_eq!(parse_minor("12").unwrap(), 1200);
        assert_eq!(parse_minor("12.5").unwrap(), 1250);
        assert_eq!(parse_minor("$0.07").unwrap(), 7);
        assert_eq!(parse_minor("-3.10").unwrap(), -310);
        assert!(parse_minor("1.234").is_err());
        assert!(parse_minor("abc").is_err());
        assert!(parse_minor("").is_err());
        assert!(parse_minor("1e3").is_err());
    }

    #[test]
    fn rates_round_half_away_from_zero() {
        assert_eq!(apply_rate_ppm(1000, 130_000), 130); // 13 % of 10.00
        assert_eq!(apply_rate_ppm(1, 500_000), 1); // 0.5 cent rounds up
        assert_eq!(apply_rate_ppm(-1, 500_000), -1);
        assert_eq!(apply_rate_ppm(1999, 107_500), 215); // 214.89 -> 215
    }

    #[test]
    fn currencies_do_not_mix() {
        let a = Money::new(1, Currency::Cad);
        let b = Money::new(1, Currency::Usd);
        assert!(a.checked_add(b).is_err());
        assert_eq!(a.checked_add(a).unwrap().minor, 2);
        assert_eq!(Money::new(-1234, Currency::Usd).to_string(), "-12.34 USD");
    }
}
