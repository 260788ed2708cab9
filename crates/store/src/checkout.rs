//! Limits on online checkout, so nobody can empty the shelf from a browser.
//!
//! `POST /api/orders` is public: before these limits, one anonymous order reserved a product's
//! whole stock for a week and the register's next sale of it was refused. Now:
//!
//! * the counter always keeps [`CheckoutPolicy::counter_reserve_percent`] of each product's
//!   stock: online orders together never reserve more than the rest;
//! * one order takes at most [`CheckoutPolicy::order_share_percent`] of what online orders may
//!   reserve of a product, and all of a day's online orders at most
//!   [`CheckoutPolicy::day_share_percent`] of its stock;
//! * one customer (their phone or e-mail, as a keyed hash) has at most
//!   [`CheckoutPolicy::open_orders_per_contact`] open orders and
//!   [`CheckoutPolicy::orders_per_contact_per_day`] orders in 24 hours;
//! * a pickup window starts today or tomorrow (local), a delivery window within
//!   [`CheckoutPolicy::delivery_days`]; an order not handed over expires 2 hours after its
//!   window opens, so a reservation lasts about two days at most.
//!
//! Per-address rate limits and the flood alert are the web layer's (`stockade_web::limits`).

use crate::error::StoreError;
use rusqlite::{params, Connection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckoutPolicy {
    pub counter_reserve_percent: i64,
    pub order_share_percent: i64,
    pub day_share_percent: i64,
    pub open_orders_per_contact: i64,
    pub orders_per_contact_per_day: i64,
    pub delivery_days: i64,
}

impl Default for CheckoutPolicy {
    fn default() -> Self {
        CheckoutPolicy {
            counter_reserve_percent: 30,
            order_share_percent: 25,
            day_share_percent: 50,
            open_orders_per_contact: 3,
            orders_per_contact_per_day: 5,
            delivery_days: 2,
        }
    }
}

impl CheckoutPolicy {
    /// Refuses a policy with a share outside 0–100 % or a count below 1.
    pub fn checked(self) -> Result<Self, String> {
        for (name, v) in [("counter reserve", self.counter_reserve_percent), ("order share", self.order_share_percent)] {
            if !(0..=100).contains(&v) {
                return Err(format!("the {name} is a percentage from 0 to 100 (got {v})"));
            }
        }
        // Orders that expire or are cancelled give their units back, so a day's orders may add
        // up to more than the stock.
        if !(1..=1000).contains(&self.day_share_percent) {
            return Err(format!("the day share is a percentage from 1 to 1000 (got {})", self.day_share_percent));
        }
        for (name, v) in [
            ("open orders per contact", self.open_orders_per_contact),
            ("orders per contact per day", self.orders_per_contact_per_day),
            ("delivery days", self.delivery_days),
        ] {
            if !(1..=1000).contains(&v) {
                return Err(format!("{name} is from 1 to 1000 (got {v})"));
            }
        }
        Ok(self)
    }

    /// Units of a product with `on_hand` in stock that online orders together may hold.
    pub fn online_budget(&self, on_hand: i64) -> i64 {
        let on_hand = on_hand.max(0);
        // The counter's share is rounded up: it keeps at least what it is promised.
        let counter = on_hand.saturating_mul(self.counter_reserve_percent).saturating_add(99) / 100;
        on_hand - counter
    }

    /// The most one order may take of a product whose online budget is `budget` (at least one
    /// unit while the budget has one).
    pub fn per_order(&self, budget: i64) -> i64 {
        if budget <= 0 {
            return 0;
        }
        (budget.saturating_mul(self.order_share_percent) / 100).max(1)
    }

    /// The most a day's online orders (other than those handed over) may take of a product
    /// with `on_hand` in stock: orders that expire or are cancelled count, so reserving and
    /// letting go again and again stops too.
    pub fn per_day(&self, on_hand: i64) -> i64 {
        (on_hand.max(0).saturating_mul(self.day_share_percent) / 100).max(1)
    }
}

/// The keyed hash of an order's contact: the phone's digits, else the e-mail in lower case.
/// `None` when neither is given (the order is refused: a store must be able to reach whoever
/// holds its stock).
pub fn contact_hash(key: &[u8; 32], phone: Option<&str>, email: Option<&str>) -> Option<String> {
    let digits: String = phone.unwrap_or_default().chars().filter(char::is_ascii_digit).collect();
    let contact = if digits.len() >= 7 {
        format!("phone:{digits}")
    } else {
        let e = email.unwrap_or_default().trim().to_lowercase();
        if !e.contains('@') {
            return None;
        }
        format!("email:{e}")
    };
    Some(blake3::keyed_hash(key, contact.as_bytes()).to_hex().to_string())
}

fn too_many(message: String) -> StoreError {
    StoreError::conflict("too_many_orders", message)
}

/// Refuses an order from a contact that already has its share of orders.
pub(crate) fn check_contact(conn: &Connection, policy: &CheckoutPolicy, contact: &str, now_ms: i64) -> Result<(), StoreError> {
    let (open, day): (i64, i64) = conn.query_row(
        "SELECT COALESCE(SUM(o.status IN ('placed', 'accepted', 'picked', 'ready', 'out_for_delivery')), 0),
                COALESCE(SUM(c.placed_at > ?2), 0)
         FROM order_contacts c JOIN orders o ON o.order_id = c.order_id WHERE c.contact_hash = ?1",
        params![contact, now_ms - 86_400_000],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if open >= policy.open_orders_per_contact {
        return Err(too_many(format!("this phone or e-mail already has {open} open orders; pick them up or cancel one first")));
    }
    if day >= policy.orders_per_contact_per_day {
        return Err(too_many(format!("this phone or e-mail has placed {day} orders in 24 hours, the most the store takes")));
    }
    Ok(())
}

/// Refuses lines that would take more than online orders may hold of a product. `wanted` is
/// (product id, name, on hand, units), one per product; `since_ms` starts the local day.
pub(crate) fn check_shares(conn: &Connection, policy: &CheckoutPolicy, wanted: &[(String, String, i64, i64)], since_ms: i64) -> Result<(), StoreError> {
    for (product_id, name, on_hand, units) in wanted {
        let reserved = crate::commands::reserved_units(conn, product_id, None)?;
        let budget = policy.online_budget(*on_hand);
        let free_online = (budget - reserved).max(0);
        let refuse = |max: i64, why: &str| {
            StoreError::conflict("online_limit", format!("online orders may take at most {max} of '{name}' {why}; the store keeps the rest for the counter"))
        };
        let per_order = policy.per_order(budget);
        if *units > per_order {
            return Err(refuse(per_order, "in one order"));
        }
        if *units > free_online {
            return Err(refuse(free_online, "now"));
        }
        let today: i64 = conn.query_row(
            "SELECT COALESCE(SUM(l.quantity), 0) FROM order_lines l JOIN orders o ON o.order_id = l.order_id WHERE l.product_id = ?1 AND o.placed_at >= ?2 AND o.status <> 'completed'",
            params![product_id, since_ms],
            |r| r.get(0),
        )?;
        let per_day = policy.per_day(*on_hand);
        if today.saturating_add(*units) > per_day {
            return Err(refuse((per_day - today).max(0), "more today"));
        }
    }
    Ok(())
}

/// When the local day `days` after the one that holds `at_ms` starts (0: today's midnight).
fn midnight(tz: chrono_tz::Tz, at_ms: i64, days: u64) -> Option<i64> {
    use chrono::TimeZone;
    let today = chrono::DateTime::from_timestamp_millis(at_ms)?.with_timezone(&tz).date_naive();
    let day = today.checked_add_days(chrono::Days::new(days))?;
    Some(tz.from_local_datetime(&day.and_hms_opt(0, 0, 0)?).earliest()?.timestamp_millis())
}

/// When the day after tomorrow starts, locally: a pickup window opens before it.
pub fn pickup_horizon(tz: chrono_tz::Tz, at_ms: i64) -> Option<i64> {
    midnight(tz, at_ms, 2)
}

/// When the local day that holds `at_ms` started.
pub fn day_start(tz: chrono_tz::Tz, at_ms: i64) -> Option<i64> {
    midnight(tz, at_ms, 0)
}

/// Records the order's contact hash (in the order's own transaction).
pub(crate) fn record_contact(conn: &Connection, order_id: &str, contact: &str, now_ms: i64) -> Result<(), StoreError> {
    conn.execute("INSERT INTO order_contacts (order_id, contact_hash, placed_at) VALUES (?1, ?2, ?3)", params![order_id, contact, now_ms])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_keeps_its_share_and_one_order_takes_a_quarter_of_the_rest() {
        let p = CheckoutPolicy::default();
        assert_eq!(p.online_budget(200), 140);
        assert_eq!(p.per_order(140), 35);
        assert_eq!(p.per_day(200), 100);
        assert_eq!(p.online_budget(1), 0, "the last unit stays at the counter");
        assert_eq!(p.per_order(0), 0);
        assert_eq!(p.per_order(2), 1, "at least one unit while there is budget");
        assert_eq!(p.online_budget(-5), 0);
        assert!(p.online_budget(i64::MAX) > 0 && p.per_day(i64::MAX) > 0, "no overflow at the edge");
        assert!(CheckoutPolicy { counter_reserve_percent: 101, ..p }.checked().is_err());
        assert!(CheckoutPolicy { open_orders_per_contact: 0, ..p }.checked().is_err());
    }

    #[test]
    fn a_pickup_opens_before_the_day_after_tomorrow_starts_locally() {
        let tz = chrono_tz::America::Toronto;
        let noon_dec_2 = 1_796_230_800_000; // 2026-12-02T17:00:00Z, noon in Toronto
        assert_eq!(day_start(tz, noon_dec_2), Some(1_796_187_600_000), "2026-12-02T05:00:00Z");
        assert_eq!(pickup_horizon(tz, noon_dec_2), Some(1_796_360_400_000), "2026-12-04T05:00:00Z");
    }

    #[test]
    fn a_contact_is_its_phone_digits_or_its_email_in_lower_case() {
        let k = [7u8; 32];
        let a = contact_hash(&k, Some("+1 (416) 555-0199"), None);
        assert_eq!(a, contact_hash(&k, Some("14165550199"), Some("other@example.org")));
        assert_eq!(contact_hash(&k, None, Some(" Jane@Example.org ")), contact_hash(&k, Some("12"), Some("jane@example.org")));
        assert_eq!(contact_hash(&k, Some("12"), None), None);
        assert_ne!(a, contact_hash(&[8u8; 32], Some("14165550199"), None), "keyed");
        assert!(!a.unwrap().contains("416"));
    }
}
