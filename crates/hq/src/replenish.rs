//! Forecasts and replenishment at head office: every store × product forecast from
//! `daily_sales` (in parallel), an order-up-to proposal from the forecast's quantile, stock on
//! hand and purchase orders still in transit; proposals approved into purchase orders, which are
//! entries of HQ's journal delivered to the store like catalog updates.

use crate::access::{Action, Principal, Scope};
use crate::audit::AuditEvent;
use crate::db::{Tx, Val};
use crate::{invalid, Hq, HqError, SignedPublication};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use stockade_forecast::replenish::{cover, order_up_to, proposal, Policy};
use stockade_forecast::{classify, dispersion, forecast, Class, Method};
use stockade_journal::hq_event::{HqEvent, PurchaseOrderLine};

/// What a forecast run uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunParams {
    /// Last day of history (store-local, YYYY-MM-DD); by default the latest day with sales.
    pub as_of: Option<String>,
    /// Days of history used, ending at `as_of`.
    pub history_days: usize,
    /// Days forecast (at least lead time + review period).
    pub horizon: usize,
    pub lead_time: usize,
    pub review: usize,
    /// Target probability of not running out before the delivery after next (0.5 to 0.999).
    pub service: f64,
    /// Pack size by SKU; products not listed are ordered by the unit.
    pub packs: BTreeMap<String, u32>,
}

impl Default for RunParams {
    fn default() -> Self {
        RunParams { as_of: None, history_days: 730, horizon: 28, lead_time: 7, review: 7, service: 0.95, packs: BTreeMap::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub as_of: String,
    pub stores: usize,
    pub series: u64,
    /// Store × product pairs with something to order.
    pub proposals: u64,
    pub units_proposed: i64,
    pub millis: u64,
}

/// One store × product of the latest run, as a user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposalRow {
    pub run_id: String,
    pub retailer_id: String,
    pub store_id: String,
    pub store_name: String,
    pub product_id: String,
    pub sku: String,
    pub product_name: String,
    /// Syntetos–Boylan class of the history (smooth, intermittent, erratic, lumpy, none).
    pub class: String,
    /// Mean forecast demand per day, in thousandths of a unit.
    pub per_day_milli: i64,
    /// Forecast demand over lead time + review period, in thousandths of a unit.
    pub cover_milli: i64,
    pub order_up_to: i64,
    pub on_hand: i64,
    pub in_transit: i64,
    pub pack: i64,
    /// Units proposed (whole packs); 0 when the stock position already covers the period.
    pub units: i64,
    /// open, approved (then `po_id`), or none (nothing to order).
    pub status: String,
    pub po_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseOrder {
    pub po_id: String,
    pub retailer_id: String,
    pub store_id: String,
    pub store_seq: u64,
    pub hq_seq: u64,
    pub lines: Vec<PurchaseOrderLine>,
}

pub const CSV_HEADER: &str =
    "run_id,retailer_id,store_id,store_name,product_id,sku,product_name,class,per_day_milli,cover_milli,order_up_to,on_hand,in_transit,pack,units,status,po_id";

pub fn to_csv(rows: &[ProposalRow]) -> String {
    crate::report::rows_to_csv(CSV_HEADER, rows)
}

/// One series' outcome.
struct Row {
    product_id: String,
    class: &'static str,
    daily: Vec<f64>,
    cover: f64,
    level: i64,
    on_hand: i64,
    in_transit: i64,
    pack: u32,
    units: i64,
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::NoDemand => "none",
        Class::Smooth => "smooth",
        Class::Intermittent => "intermittent",
        Class::Erratic => "erratic",
        Class::Lumpy => "lumpy",
    }
}

fn milli(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

/// Forecast and proposal for one history (oldest first; starts at the product's first sale).
fn plan(history: &[f64], p: &RunParams, on_hand: i64, in_transit: i64, pack: u32) -> (Class, f64, Vec<f64>, i64, i64) {
    let policy = Policy { lead_time: p.lead_time, review: p.review, service: p.service, pack };
    let daily = forecast(Method::AutoSeasonal(7), history, p.horizon);
    let level = order_up_to(&daily, dispersion(history), &policy) as i64;
    let units = proposal(level as f64, on_hand, in_transit, pack);
    (classify(history), cover(&daily, &policy), daily, level, units)
}

/// What a run reads for one store: products (id, sku), daily sales in the window (product, day,
/// units), stock on hand and units in transit by product.
type StoreData = (Vec<crate::db::Row>, Vec<crate::db::Row>, Vec<crate::db::Row>, HashMap<String, i64>);

/// One store ready to forecast: its key, daily units sold by product over the window (oldest
/// first), products, stock and units in transit.
type StoreSeries = (Vec<Val>, HashMap<String, Vec<f64>>, Vec<crate::db::Row>, Vec<crate::db::Row>, HashMap<String, i64>);

fn read_store(tx: &mut dyn Tx, key: &[Val], first: &str, last: &str) -> Result<StoreData, HqError> {
    let products = tx.query("SELECT product_id, sku FROM products WHERE retailer_id = $1 AND store_id = $2", key)?;
    let sales = tx.query(
        "SELECT product_id, day, units_sold FROM daily_sales WHERE retailer_id = $1 AND store_id = $2 AND day >= $3 AND day <= $4",
        &[key[0].clone(), key[1].clone(), first.into(), last.into()],
    )?;
    let stock = tx.query("SELECT product_id, on_hand FROM stock WHERE retailer_id = $1 AND store_id = $2", key)?;
    let transit = in_transit(tx, &key[0].show(), &key[1].show())?;
    Ok((products, sales, stock, transit))
}

/// Forecasts, across all cores, every product of one store with sales in the window, stock or
/// an order in transit.
fn plan_store(
    p: &RunParams,
    history: &HashMap<String, Vec<f64>>,
    data: (&[crate::db::Row], &[crate::db::Row], &HashMap<String, i64>),
    done: &std::sync::atomic::AtomicU64,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<Row> {
    let (products, stock, transit) = data;
    let on_hand: HashMap<String, i64> = stock.iter().map(|r| (r[0].show(), r[1].i().unwrap_or(0))).collect();
    let skus: HashMap<String, String> = products.iter().map(|r| (r[0].show(), r[1].show())).collect();
    let series: Vec<&String> = skus
        .keys()
        .filter(|pid| history.contains_key(*pid) || on_hand.get(*pid).is_some_and(|v| *v > 0) || transit.get(*pid).is_some_and(|v| *v > 0))
        .collect();
    series
        .par_iter()
        .map(|pid| {
            let full = history.get(*pid).map(Vec::as_slice).unwrap_or(&[]);
            let since_first_sale = full.iter().position(|v| *v > 0.0).map(|i| &full[i..]).unwrap_or(&[]);
            let (oh, it) = (on_hand.get(*pid).copied().unwrap_or(0), transit.get(*pid).copied().unwrap_or(0));
            let pack = skus.get(*pid).and_then(|sku| p.packs.get(sku)).copied().unwrap_or(1).max(1);
            let (class, cover, daily, level, units) = plan(since_first_sale, p, oh, it, pack);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_multiple_of(1000) {
                progress(n);
            }
            Row { product_id: (*pid).clone(), class: class_name(class), daily, cover, level, on_hand: oh, in_transit: it, pack, units }
        })
        .collect()
}

/// Replaces one store's forecasts with `rows`. Approved proposals live on in their purchase
/// order, now counted as in transit.
fn store_rows(tx: &mut dyn Tx, key: &[Val], run: &str, rows: &[Row]) -> Result<(), HqError> {
    tx.exec("DELETE FROM forecasts WHERE retailer_id = $1 AND store_id = $2", key)?;
    for row in rows {
        let daily = row.daily.iter().map(|v| milli(*v).to_string()).collect::<Vec<_>>().join(",");
        tx.exec(
            "INSERT INTO forecasts (retailer_id, store_id, product_id, run_id, class, daily_milli, cover_milli, order_up_to, on_hand,
                in_transit, pack, units, status, po_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '')",
            &[
                key[0].clone(),
                key[1].clone(),
                row.product_id.as_str().into(),
                run.into(),
                row.class.into(),
                daily.into(),
                milli(row.cover).into(),
                row.level.into(),
                row.on_hand.into(),
                row.in_transit.into(),
                i64::from(row.pack).into(),
                row.units.into(),
                if row.units > 0 { "open" } else { "none" }.into(),
            ],
        )?;
    }
    Ok(())
}

impl Hq {
    /// Forecasts every store × product with sales in the window (or stock, or an order in
    /// transit) and replaces the stored forecasts and proposals, store by store; proposals
    /// already approved stay with their purchase order. `progress` is called with the number
    /// of series done so far.
    pub fn run_forecasts(&self, p: &RunParams, progress: &(dyn Fn(u64) + Sync)) -> Result<RunSummary, HqError> {
        let policy = Policy { lead_time: p.lead_time, review: p.review, service: p.service, pack: 1 };
        if p.history_days == 0 || p.history_days > 3660 {
            return Err(invalid("invalid_history", "history must be 1 to 3,660 days"));
        }
        if policy.lead_time == 0 || policy.review == 0 || p.horizon < policy.lead_time + policy.review || p.horizon > 366 {
            return Err(invalid("invalid_policy", "lead time and review period must be at least 1 day, and the horizon at least their sum (at most 366)"));
        }
        if !(0.5..=0.999).contains(&policy.service) {
            return Err(invalid("invalid_service", "the service level must be between 0.5 and 0.999"));
        }
        let started = std::time::Instant::now();
        let (stores, latest) = self.db.snapshot(|tx| {
            let stores = tx.query("SELECT retailer_id, store_id FROM store_heads ORDER BY retailer_id, store_id", &[])?;
            let latest = tx.one("SELECT MAX(day) FROM daily_sales", &[])?.and_then(|r| r[0].t().map(str::to_string));
            Ok::<_, HqError>((stores, latest))
        })?;
        let as_of = match (&p.as_of, latest) {
            (Some(d), _) => d.clone(),
            (None, Some(d)) => d,
            (None, None) => return Err(invalid("no_sales", "HQ has no sales yet: nothing to forecast")),
        };
        let end =
            chrono::NaiveDate::parse_from_str(&as_of, "%Y-%m-%d").map_err(|_| invalid("invalid_date", format!("'{as_of}' is not a date (YYYY-MM-DD)")))?;
        let start = end - chrono::Days::new(p.history_days as u64 - 1);
        let (first, last) = (start.format("%Y-%m-%d").to_string(), as_of.clone());
        let run_id = format!("run-{}", uuid::Uuid::new_v4().simple());
        let mut summary =
            RunSummary { run_id: run_id.clone(), as_of: as_of.clone(), stores: stores.len(), series: 0, proposals: 0, units_proposed: 0, millis: 0 };
        let done = std::sync::atomic::AtomicU64::new(0);
        // Day → index in the window, built once: the sales rows name their day as text.
        let window: HashMap<String, usize> = (0..p.history_days).map(|i| ((start + chrono::Days::new(i as u64)).format("%Y-%m-%d").to_string(), i)).collect();
        // One thread reads the next store while this one forecasts and stores the current one.
        std::thread::scope(|scope| {
            let (send, receive) = std::sync::mpsc::sync_channel::<StoreSeries>(1);
            let window = &window;
            let reader = scope.spawn(move || {
                for s in &stores {
                    let key = vec![Val::T(s[0].show()), Val::T(s[1].show())];
                    let (products, sales, stock, transit) = self.db.snapshot(|tx| read_store(tx, &key, &first, &last))?;
                    let mut history: HashMap<String, Vec<f64>> = HashMap::new();
                    for row in &sales {
                        let Some(&i) = row[1].t().and_then(|d| window.get(d)) else { continue };
                        history.entry(row[0].show()).or_insert_with(|| vec![0.0; p.history_days])[i] += row[2].i().unwrap_or(0).max(0) as f64;
                    }
                    if send.send((key, history, products, stock, transit)).is_err() {
                        break; // the writer stopped on an error of its own
                    }
                }
                Ok::<_, HqError>(())
            });
            let written = (|| {
                for (key, history, products, stock, transit) in receive {
                    let rows = plan_store(p, &history, (&products, &stock, &transit), &done, progress);
                    summary.series += rows.len() as u64;
                    summary.proposals += rows.iter().filter(|r| r.units > 0).count() as u64;
                    summary.units_proposed += rows.iter().map(|r| r.units).sum::<i64>();
                    self.db.tx(|tx| store_rows(tx, &key, &run_id, &rows))?;
                }
                Ok::<_, HqError>(())
            })();
            let read = reader.join().map_err(|_| HqError::Io("the forecast reader thread failed".into()))?;
            written.and(read)
        })?;
        progress(done.load(std::sync::atomic::Ordering::Relaxed));
        summary.millis = started.elapsed().as_millis() as u64;
        let params = serde_json::to_string(p).unwrap_or_default();
        self.db.tx(|tx| {
            tx.exec(
                "INSERT INTO forecast_runs (run_id, at_ms, as_of, params, series, proposals, millis) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    run_id.as_str().into(),
                    self.now_ms().into(),
                    as_of.as_str().into(),
                    params.into(),
                    summary.series.into(),
                    summary.proposals.into(),
                    summary.millis.into(),
                ],
            )
        })?;
        Ok(summary)
    }

    /// The latest run's proposals that `p` may see (store-level rows: an analyst sees only the
    /// retailers that share them), audited before they are returned. `open_only` leaves out
    /// rows with nothing to order and those already approved.
    pub fn proposals_for(&self, p: &Principal, retailer: Option<&str>, open_only: bool) -> Result<Vec<ProposalRow>, HqError> {
        let scope = self.require(p, &Action::ReadSales { retailer })?;
        // The query itself is scoped: an owner's rows are the only ones read for an owner.
        let r = match (&scope, retailer) {
            (_, Some(r)) => r,
            (Scope::Retailer(own), None) => own.as_str(),
            (_, None) => "",
        };
        let rows = self.db.snapshot(|tx| {
            tx.query(
                "SELECT f.run_id, f.retailer_id, f.store_id, h.name, f.product_id, COALESCE(pr.sku, ''), COALESCE(pr.name, ''), f.class,
                        f.daily_milli, f.cover_milli, f.order_up_to, f.on_hand, f.in_transit, f.pack, f.units, f.status, f.po_id
                 FROM forecasts f
                 JOIN store_heads h ON h.retailer_id = f.retailer_id AND h.store_id = f.store_id
                 LEFT JOIN products pr ON pr.retailer_id = f.retailer_id AND pr.store_id = f.store_id AND pr.product_id = f.product_id
                 WHERE ($1 = '' OR f.retailer_id = $1) AND ($2 = 0 OR f.status = 'open')
                 ORDER BY f.retailer_id, h.name, f.store_id, pr.sku, f.product_id",
                &[r.into(), i64::from(open_only).into()],
            )
        })?;
        let visible = |retailer: &str| match &scope {
            Scope::All => true,
            Scope::Retailer(own) => own == retailer,
            Scope::Aggregated { store_level } => store_level.iter().any(|s| s == retailer),
        };
        let out: Vec<ProposalRow> = rows
            .into_iter()
            .filter(|row| visible(&row[1].show()))
            .map(|row| {
                let daily: Vec<i64> = row[8].show().split(',').filter_map(|v| v.parse().ok()).collect();
                ProposalRow {
                    run_id: row[0].show(),
                    retailer_id: row[1].show(),
                    store_id: row[2].show(),
                    store_name: row[3].show(),
                    product_id: row[4].show(),
                    sku: row[5].show(),
                    product_name: row[6].show(),
                    class: row[7].show(),
                    per_day_milli: daily.iter().sum::<i64>() / daily.len().max(1) as i64,
                    cover_milli: row[9].i().unwrap_or(0),
                    order_up_to: row[10].i().unwrap_or(0),
                    on_hand: row[11].i().unwrap_or(0),
                    in_transit: row[12].i().unwrap_or(0),
                    pack: row[13].i().unwrap_or(1),
                    units: row[14].i().unwrap_or(0),
                    status: row[15].show(),
                    po_id: row[16].show(),
                }
            })
            .collect();
        self.audit(AuditEvent {
            scope: crate::report::scope_code(&scope),
            user_id: &p.user_id,
            user_name: &p.name,
            kind: "read_forecasts",
            retailer_id: r,
            store_id: "",
            what: format!("replenishment proposals{}", if open_only { " (open)" } else { "" }),
            rows: out.len() as u64,
        })?;
        Ok(out)
    }

    /// Turns the open proposals of one store (all of them, or the products listed) into one
    /// purchase order: an entry of HQ's journal, which the store pulls and verifies. Proposals
    /// are read and marked approved in the same transaction as the entry is appended.
    pub fn approve(&self, p: &Principal, retailer_id: &str, store_id: &str, products: &[String]) -> Result<PurchaseOrder, HqError> {
        self.require(p, &Action::ApproveOrders { retailer: retailer_id })?;
        if products.len() > 5000 {
            return Err(invalid("invalid_request", "a purchase order holds at most 5,000 products"));
        }
        let mut issued: Option<PurchaseOrder> = None;
        let hq_seq = self.append_hq_with(&p.user_id, |tx| {
            if tx.one("SELECT 1 FROM store_heads WHERE retailer_id = $1 AND store_id = $2", &[retailer_id.into(), store_id.into()])?.is_none() {
                return Err(HqError::NotFound { what: "store", id: format!("{retailer_id}/{store_id}") });
            }
            let open = tx.query(
                "SELECT f.product_id, COALESCE(pr.sku, ''), f.units FROM forecasts f
                 LEFT JOIN products pr ON pr.retailer_id = f.retailer_id AND pr.store_id = f.store_id AND pr.product_id = f.product_id
                 WHERE f.retailer_id = $1 AND f.store_id = $2 AND f.status = 'open' AND f.units > 0 ORDER BY pr.sku, f.product_id",
                &[retailer_id.into(), store_id.into()],
            )?;
            let lines: Vec<PurchaseOrderLine> = open
                .iter()
                .filter(|row| products.is_empty() || products.iter().any(|want| *want == row[0].show()))
                .map(|row| PurchaseOrderLine { product_id: row[0].show(), sku: row[1].show(), units: row[2].i().unwrap_or(0) })
                .collect();
            if let Some(missing) = products.iter().find(|want| !lines.iter().any(|l| &l.product_id == *want)) {
                return Err(invalid("not_proposed", format!("product '{missing}' has no open proposal at this store")));
            }
            if lines.is_empty() {
                return Err(invalid("nothing_to_approve", "this store has no open proposal: run the forecast first"));
            }
            let store_seq = tx
                .one(
                    "SELECT COALESCE(MAX(store_seq), 0) FROM purchase_orders WHERE retailer_id = $1 AND store_id = $2",
                    &[retailer_id.into(), store_id.into()],
                )?
                .and_then(|r| r[0].i())
                .unwrap_or(0) as u64
                + 1;
            let po_id = format!("PO-{store_seq:06}");
            issued = Some(PurchaseOrder {
                po_id: po_id.clone(),
                retailer_id: retailer_id.into(),
                store_id: store_id.into(),
                store_seq,
                hq_seq: 0,
                lines: lines.clone(),
            });
            Ok(vec![HqEvent::PurchaseOrderIssued {
                retailer_id: retailer_id.into(),
                store_id: store_id.into(),
                store_seq,
                po_id,
                approved_by: p.user_id.clone(),
                lines,
            }])
        })?;
        let mut po = issued.ok_or_else(|| HqError::Corrupt("purchase order not built".into()))?;
        po.hq_seq = hq_seq;
        self.audit(AuditEvent {
            scope: format!("retailer:{retailer_id}"),
            user_id: &p.user_id,
            user_name: &p.name,
            kind: "approve_order",
            retailer_id,
            store_id,
            what: format!("purchase order {} ({} lines, {} units)", po.po_id, po.lines.len(), po.lines.iter().map(|l| l.units).sum::<i64>()),
            rows: po.lines.len() as u64,
        })?;
        tracing::info!(po = %po.po_id, store = %store_id, lines = po.lines.len(), "purchase order issued");
        Ok(po)
    }

    /// Purchase orders for the store holding `public_key` after its order number `after`, each
    /// with HQ's signature of the entry: (HQ seq, store seq, exact bytes, signature).
    pub fn orders_for(&self, public_key: &str, after: u64) -> Result<Vec<SignedPublication>, HqError> {
        let rows = self.db.tx(|tx| {
            tx.query(
                "SELECT o.hq_seq, o.store_seq, j.bytes FROM stores s
                 JOIN purchase_orders o ON o.retailer_id = s.retailer_id AND o.store_id = s.store_id
                 JOIN hq_journal j ON j.seq = o.hq_seq
                 WHERE s.public_key = $1 AND s.store_id <> '' AND o.store_seq > $2 ORDER BY o.store_seq LIMIT 100",
                &[public_key.into(), after.into()],
            )
        })?;
        Ok(self.sign_entries(rows))
    }
}

/// Units of each product on purchase orders the store has not received yet.
fn in_transit(tx: &mut dyn Tx, retailer_id: &str, store_id: &str) -> Result<HashMap<String, i64>, HqError> {
    let rows = tx.query(
        "SELECT l.product_id, CAST(SUM(l.units) AS BIGINT) FROM purchase_order_lines l
         WHERE l.retailer_id = $1 AND l.store_id = $2 AND NOT EXISTS (
            SELECT 1 FROM po_events e WHERE e.retailer_id = l.retailer_id AND e.store_id = l.store_id AND e.po_id = l.po_id AND e.kind = 'received')
         GROUP BY l.product_id",
        &[retailer_id.into(), store_id.into()],
    )?;
    Ok(rows.into_iter().map(|r| (r[0].show(), r[1].i().unwrap_or(0))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_orders_whole_packs_up_to_the_quantile_of_the_cover_period() {
        let p = RunParams { lead_time: 2, review: 2, service: 0.9, horizon: 4, ..RunParams::default() };
        // A steady 1 a day: cover 4 units; Poisson(4) P(≤6) = 0.889, P(≤7) = 0.949 → level 7.
        let history = vec![1.0; 30];
        let (class, cover, daily, level, units) = plan(&history, &p, 2, 1, 1);
        assert_eq!((class, daily.len(), level, units), (Class::Smooth, 4, 7, 4), "{cover}");
        assert!((cover - 4.0).abs() < 1e-9);
        assert_eq!(plan(&history, &p, 2, 1, 6).4, 6, "a pack of 6");
        assert_eq!(plan(&history, &p, 9, 0, 1).4, 0, "the stock covers it");
        assert_eq!(plan(&[], &p, 0, 0, 1).4, 0, "no sales: nothing to order");
    }
}
