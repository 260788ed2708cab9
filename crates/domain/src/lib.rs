//! Stockade's domain core: money, quantities, catalog, compliance rules, pricing and inventory math.
//!
//! Invariant: this crate does no I/O, spawns nothing and reads no clock. Dates come in as arguments.

#![forbid(unsafe_code)]

pub mod bounds;
pub mod catalog;
pub mod compliance;
pub mod inventory;
pub mod money;
pub mod orders;
pub mod pricing;
pub mod quantity;
pub mod rules;

pub use bounds::MAX_TOTAL;

/// The shop-local calendar date (YYYY-MM-DD) of a UTC instant: per-day limits, end of day and
/// daily reports all count days in the shop's own zone. Pure: the instant is passed in.
pub fn local_date(tz: chrono_tz::Tz, at_ms: i64) -> String {
    use chrono::TimeZone;
    match tz.timestamp_millis_opt(at_ms).single() {
        Some(t) => t.date_naive().to_string(),
        None => chrono::DateTime::from_timestamp_millis(at_ms).map(|t| t.date_naive().to_string()).unwrap_or_default(),
    }
}
