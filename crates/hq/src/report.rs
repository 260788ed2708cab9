//! The wholesaler's daily sales-and-inventory report: per store × product, the day's sales
//! (units, weight, revenue, taxes, refunds) and closing stock, in the store's local day.

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

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl DailyRow {
    pub fn csv(&self) -> String {
        [
            csv_field(&self.date),
            csv_field(&self.retailer_id),
            csv_field(&self.store_id),
            csv_field(&self.store_name),
            csv_field(&self.product_id),
            csv_field(&self.sku),
            csv_field(&self.gtin),
            csv_field(&self.product_name),
            self.units_sold.to_string(),
            self.units_returned.to_string(),
            self.weight_sold_mg.to_string(),
            self.net_sales_minor.to_string(),
            self.tax_minor.to_string(),
            self.refunds_minor.to_string(),
            self.closing_units.to_string(),
        ]
        .join(",")
    }
}

pub fn to_csv(rows: &[DailyRow]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        out.push_str(&r.csv());
        out.push('\n');
    }
    out
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
    /// Net sales per product class on local days from `since` (YYYY-MM-DD) on, largest first.
    pub fn sales_by_category(&self, since: &str) -> Result<Vec<CategorySales>, HqError> {
        let rows = self.db.snapshot(|tx| {
            tx.query(
                "SELECT p.class, CAST(SUM(d.units_sold) AS BIGINT), CAST(SUM(d.net_minor) AS BIGINT)
                 FROM daily_sales d JOIN products p ON p.retailer_id = d.retailer_id AND p.store_id = d.store_id AND p.product_id = d.product_id
                 WHERE d.day >= $1 GROUP BY p.class",
                &[since.into()],
            )
        })?;
        let mut out: Vec<CategorySales> =
            rows.into_iter().map(|r| CategorySales { class: r[0].show(), units_sold: r[1].i().unwrap_or(0), net_sales_minor: r[2].i().unwrap_or(0) }).collect();
        out.sort_by(|a, b| b.net_sales_minor.cmp(&a.net_sales_minor).then_with(|| a.class.cmp(&b.class)));
        Ok(out)
    }
}
