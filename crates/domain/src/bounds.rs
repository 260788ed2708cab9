//! Ranges of every quantity and amount that may enter the journal. A value outside them is
//! refused before it is journaled (with the field named), so no entry can make a projection
//! overflow: the journal replays the same state forever, and a poisoned entry would too.

/// Largest magnitude of any running total (stock in units, money in minor units). Far above a
/// real store (10^15 cents is ten trillion dollars), far below where `i64` wraps (9.2 × 10^18),
/// so a sum of bounded values checked against it can never wrap.
pub const MAX_TOTAL: i64 = 1_000_000_000_000_000;
/// Units in one receipt line or one adjustment.
pub const MAX_LINE_UNITS: i64 = 1_000_000;
/// Units counted for one product.
pub const MAX_COUNTED_UNITS: i64 = 10_000_000;
/// A unit's cost or price, minor units (1,000,000.00).
pub const MAX_UNIT_MINOR: i64 = 100_000_000;
/// Cash in a till (float, counted), minor units (1,000,000.00).
pub const MAX_CASH_MINOR: i64 = 100_000_000;

/// A value outside its field's range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be between {min} and {max} (got {value})")]
pub struct OutOfRange {
    pub field: String,
    pub value: i64,
    pub min: i64,
    pub max: i64,
}

/// `value` if `min ≤ value ≤ max`, else an error naming `field`.
pub fn in_range(field: &str, value: i64, min: i64, max: i64) -> Result<i64, OutOfRange> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(OutOfRange { field: field.to_string(), value, min, max })
    }
}

/// Earliest birth date accepted from a person or a file: nobody alive was born before it.
pub const MIN_BIRTH_YEAR: i32 = 1900;
/// Latest year a birth date may name at all; one later than today is refused by the age rule.
pub const MAX_BIRTH_YEAR: i32 = 2100;

/// A date of birth, as read from an ID or typed at checkout: between 1 January
/// [`MIN_BIRTH_YEAR`] and 31 December [`MAX_BIRTH_YEAR`]. A request naming another is refused
/// where it is read (422 naming the field), so "born in year 0" never reaches a rule or a
/// sealed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, format = Date, pattern = r"^(19[0-9]{2}|20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}$", example = "1990-05-17"))]
#[serde(try_from = "chrono::NaiveDate", into = "chrono::NaiveDate")]
pub struct BirthDate(chrono::NaiveDate);

impl BirthDate {
    pub fn date(self) -> chrono::NaiveDate {
        self.0
    }
}

impl TryFrom<chrono::NaiveDate> for BirthDate {
    type Error = String;
    fn try_from(d: chrono::NaiveDate) -> Result<Self, Self::Error> {
        use chrono::Datelike;
        if (MIN_BIRTH_YEAR..=MAX_BIRTH_YEAR).contains(&d.year()) {
            Ok(BirthDate(d))
        } else {
            Err(format!("a birth date is between {MIN_BIRTH_YEAR}-01-01 and {MAX_BIRTH_YEAR}-12-31 (got {d})"))
        }
    }
}

impl std::str::FromStr for BirthDate {
    type Err = String;
    /// `YYYY-MM-DD`, in range.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let d: chrono::NaiveDate = s.parse().map_err(|_| format!("'{}' is not a date (YYYY-MM-DD)", s.escape_debug()))?;
        BirthDate::try_from(d)
    }
}

impl From<BirthDate> for chrono::NaiveDate {
    fn from(b: BirthDate) -> Self {
        b.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn in_range_accepts_exactly_the_range(v in any::<i64>(), a in -1000i64..1000, w in 0i64..1000) {
            let r = in_range("x", v, a, a + w);
            prop_assert_eq!(r.is_ok(), v >= a && v <= a + w);
            if let Err(e) = r { prop_assert!(e.to_string().starts_with("x must be between")); }
        }
    }

    #[test]
    fn birth_dates_outside_living_memory_are_not_read() {
        for bad in ["\"0000-01-01\"", "\"1899-12-31\"", "\"2101-01-01\"", "\"+262143-01-01\"", "\"-0001-01-01\""] {
            assert!(serde_json::from_str::<BirthDate>(bad).is_err(), "{bad}");
        }
        let ok: BirthDate = serde_json::from_str("\"1990-05-17\"").unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"1990-05-17\"");
        let err = serde_json::from_str::<BirthDate>("\"0000-01-01\"").unwrap_err().to_string();
        assert!(err.contains("between 1900-01-01"), "{err}");
    }

    #[test]
    fn sums_of_bounded_values_cannot_wrap() {
        // A projection adds at most MAX_TOTAL to a total of at most MAX_TOTAL.
        assert!(MAX_TOTAL.checked_mul(2).is_some());
        assert!(MAX_LINE_UNITS < MAX_TOTAL && MAX_COUNTED_UNITS < MAX_TOTAL && MAX_UNIT_MINOR.checked_mul(MAX_LINE_UNITS).is_some_and(|v| v < MAX_TOTAL));
    }
}
