//! `forecast run` at HQ against the same forecasts computed in memory, measured in the same run:
//! how much reading the sales from the database and storing every forecast and proposal adds to
//! the computation itself. The HQ database is seeded directly with the reporting rows a replayed
//! journal would have produced (stores, products, daily sales, stock) from the synthetic panel
//! the scale benchmark uses, so the figures isolate the run.
//!
//! Run: `cargo bench -p stockade-hq --bench forecast_run` (STORES=10 PRODUCTS=1000 DAYS=365 by
//! default). With `STOCKADE_TEST_POSTGRES` set it also runs on PostgreSQL (PG_STORES, default 2).

use rayon::prelude::*;
use std::sync::Arc;
use std::time::Instant;
use stockade_forecast::replenish::{order_up_to, proposal, Policy};
use stockade_forecast::{dispersion, forecast, synthetic, Method};
use stockade_hq::db::{Db, Val};
use stockade_hq::replenish::RunParams;
use stockade_hq::Hq;

const SEED: u64 = 7;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn day(start: chrono::NaiveDate, d: usize) -> String {
    (start + chrono::Days::new(d as u64)).format("%Y-%m-%d").to_string()
}

/// Writes `stores` × `products` series of `days` days; returns the number of daily rows.
fn seed(hq: &Hq, stores: usize, products: usize, days: usize, start: chrono::NaiveDate) -> usize {
    let mut rows = 0;
    let mut y = Vec::with_capacity(days);
    for s in 0..stores {
        let store = format!("store-{s:04}");
        hq.db()
            .tx(|tx| {
                tx.exec(
                    "INSERT INTO store_heads (retailer_id, store_id, size, head, name, jurisdiction, timezone) VALUES ('acme', $1, 0, $2, $3, 'CA-ON', 'America/Toronto')",
                    &[store.as_str().into(), Val::B(vec![0; 32]), format!("Store {s}").into()],
                )?;
                for p in 0..products {
                    let pid = format!("p-{p:05}");
                    tx.exec(
                        "INSERT INTO products (retailer_id, store_id, product_id, sku, name, class) VALUES ('acme', $1, $2, $3, $3, 'dried_flower')",
                        &[store.as_str().into(), pid.as_str().into(), format!("SKU-{p:05}").into()],
                    )?;
                    synthetic::series(SEED, (s * products + p) as u64, days, &mut y);
                    for (d, v) in y.iter().enumerate().filter(|(_, v)| **v > 0.0) {
                        tx.exec(
                            "INSERT INTO daily_sales (retailer_id, store_id, day, product_id, units_sold, units_returned, weight_mg, net_minor, tax_minor, refund_minor)
                             VALUES ('acme', $1, $2, $3, $4, 0, 0, 0, 0, 0)",
                            &[store.as_str().into(), day(start, d).into(), pid.as_str().into(), (*v as i64).into()],
                        )?;
                        rows += 1;
                    }
                    tx.exec(
                        "INSERT INTO stock (retailer_id, store_id, product_id, on_hand) VALUES ('acme', $1, $2, $3)",
                        &[store.as_str().into(), pid.as_str().into(), ((p % 7) as i64).into()],
                    )?;
                }
                Ok::<_, stockade_hq::HqError>(())
            })
            .unwrap();
    }
    rows
}

/// The same forecasts and proposals with no database: the baseline.
fn in_memory(stores: usize, products: usize, days: usize, p: &RunParams) -> i64 {
    (0..stores * products)
        .into_par_iter()
        .map_init(Vec::new, |y, i| {
            synthetic::series(SEED, i as u64, days, y);
            let from = y.iter().position(|v| *v > 0.0).unwrap_or(y.len());
            let history = &y[from..];
            let daily = forecast(Method::AutoSeasonal(7), history, p.horizon);
            let policy = Policy { lead_time: p.lead_time, review: p.review, service: p.service, pack: 1 };
            let level = order_up_to(&daily, dispersion(history), &policy);
            proposal(level, ((i % products) % 7) as i64, 0, 1)
        })
        .sum()
}

fn run(engine: &str, dir: &std::path::Path, db: Db, stores: usize, products: usize, days: usize) {
    let hq = Hq::init(&dir.join(engine), db, "Bench HQ", Arc::new(|| 1_795_359_600_000)).unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let t = Instant::now();
    let rows = seed(&hq, stores, products, days, start);
    println!("{engine}: seeded {stores} stores × {products} products × {days} days ({rows} daily sales rows) in {:.1} s", t.elapsed().as_secs_f64());
    let params = RunParams { as_of: Some(day(start, days - 1)), history_days: days, ..RunParams::default() };

    let t = Instant::now();
    let units_memory = in_memory(stores, products, days, &params);
    let base = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let summary = hq.run_forecasts(&params, &|_| {}).unwrap();
    let full = t.elapsed().as_secs_f64();
    let stored: i64 = hq.db().snapshot(|tx| tx.one("SELECT COUNT(*) FROM forecasts", &[])).unwrap().and_then(|r| r[0].i()).unwrap_or(0);
    let series = stores * products;
    assert_eq!(summary.series as usize, series, "every series forecast");
    assert_eq!(stored as usize, series, "every forecast stored");
    assert_eq!(summary.units_proposed, units_memory, "the run proposes what the in-memory baseline proposes");
    println!("{engine}: in memory (baseline) {series} series in {base:.2} s ({:.0} series/s)", series as f64 / base);
    println!(
        "{engine}: forecast run {series} series in {full:.2} s ({:.0} series/s), {} proposals, {} units — ratio to baseline {:.2}",
        series as f64 / full,
        summary.proposals,
        summary.units_proposed,
        full / base
    );
}

fn main() {
    let (stores, products, days) = (env("STORES", 10), env("PRODUCTS", 1000), env("DAYS", 365));
    let tmp = tempfile::tempdir().unwrap();
    run("sqlite", tmp.path(), Db::open_sqlite(&tmp.path().join("hq.db")).unwrap(), stores, products, days);
    if let Ok(url) = std::env::var("STOCKADE_TEST_POSTGRES") {
        let name = format!("stockade_bench_forecast_{}", std::process::id());
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let with = format!("{}/{name}", url.rsplit_once('/').unwrap().0);
        run("postgres", tmp.path(), Db::connect_postgres(&with).unwrap(), env("PG_STORES", 2), products, days);
        let _ = admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"));
    }
}
