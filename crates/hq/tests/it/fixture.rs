//! A real store (stockade-store) producing a real journal, and HQ backends to push it to.

use std::path::Path;
use std::sync::Arc;
use stockade_hq::db::Db;
use stockade_hq::Hq;
use stockade_journal::Checkpoint;
use stockade_store::clock::ManualClock;
use stockade_store::commands::{ReturnLineRequest, ReturnRequest, VoidRequest};
use stockade_store::{InitOptions, Store};

pub const START_MS: i64 = 1_795_359_600_000;

pub struct Backend {
    pub name: &'static str,
    /// Opens database `label` of this backend (created empty on first use).
    pub open: Box<dyn Fn(&str) -> Db>,
}

impl Backend {
    pub fn connect(&self) -> Db {
        (self.open)("main")
    }
}

/// SQLite always; PostgreSQL when configured (required under CI). Each PostgreSQL backend gets
/// a fresh database, dropped by nobody: names are random, the server is a test server.
pub fn backends(dir: &Path) -> Vec<Backend> {
    let d = dir.to_path_buf();
    let mut v = vec![Backend { name: "sqlite", open: Box::new(move |label| Db::open_sqlite(&d.join(format!("hq-{label}.db"))).unwrap()) }];
    match std::env::var("STOCKADE_TEST_POSTGRES") {
        Ok(url) => {
            let prefix = format!("stockade_t_{}", uuid_like());
            let created = std::sync::Mutex::new(std::collections::HashSet::new());
            v.push(Backend {
                name: "postgres",
                open: Box::new(move |label| {
                    let name = format!("{prefix}_{label}");
                    if created.lock().unwrap().insert(name.clone()) {
                        let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("STOCKADE_TEST_POSTGRES must reach a PostgreSQL server");
                        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
                    }
                    Db::connect_postgres(&with_dbname(&url, &name)).unwrap()
                }),
            });
        }
        Err(_) if std::env::var("CI").is_ok() => panic!("CI must run the HQ suite on PostgreSQL: set STOCKADE_TEST_POSTGRES"),
        Err(_) => eprintln!("skipping PostgreSQL: STOCKADE_TEST_POSTGRES is not set (outside CI only)"),
    }
    v
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Replaces the database name of a postgres:// URL.
pub fn with_dbname(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

pub fn hq(dir: &Path, b: &Backend) -> Hq {
    let clock = Arc::new(|| START_MS);
    Hq::init(&dir.join(format!("hq-{}", b.name)), b.connect(), "Test HQ", clock).unwrap()
}

pub struct StoreFx {
    pub store: Store,
    pub rt: tokio::runtime::Runtime,
}

/// A store with the demo catalog, `stock` units of every priced product, and `per_day`
/// simulated sales on each of `days` days.
pub fn selling_store(dir: &Path, name: &str, stock: i64, days: u64, per_day: u64) -> StoreFx {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let d = dir.join(name);
    let opts = InitOptions { name: name.into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: "fixture password".into() };
    Store::init(&d, &opts, clock.clone()).unwrap();
    let store = Store::open(&d, clock.clone(), Some(7)).unwrap();
    let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../cli/demo/catalog.csv")).unwrap();
    rt.block_on(async {
        let boss = store.first_manager().unwrap();
        store.import_products(&boss, csv, false).await.unwrap();
        store.receive_all(&boss, stock).await.unwrap();
        for day in 0..days {
            store.simulate(&boss, per_day, 100 + day, |_| {}).await.unwrap();
            clock.advance(86_400_000);
        }
    });
    StoreFx { store, rt }
}

/// A store with the demo catalog, stock, `sales` simulated sales over three days, one void and one return.
pub fn store(dir: &Path, name: &str, sales: u64) -> StoreFx {
    let fx = selling_store(dir, name, 5000, 3, sales / 3);
    let StoreFx { store, rt } = fx;
    rt.block_on(async {
        let boss = store.first_manager().unwrap();
        let sales = store
            .read(|c| {
                Ok(c.prepare("SELECT sale_id, till_id FROM sales ORDER BY seq LIMIT 2")?
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap();
        store.void_sale(&boss, sales[0].0.clone(), VoidRequest { reason: "customer changed mind".into() }).await.unwrap();
        store
            .return_items(
                &boss,
                sales[1].0.clone(),
                ReturnRequest {
                    till_id: sales[1].1.clone(),
                    lines: vec![ReturnLineRequest { line: 0, quantity: 1, restock: true }],
                    reason: "defective".into(),
                    refund_tender: None,
                },
            )
            .await
            .unwrap();
    });
    StoreFx { store, rt }
}

/// Enrols the store at `hq` under retailer `acme` (created if needed).
pub fn enrol(hq: &Hq, fx: &StoreFx) {
    let _ = hq.add_retailer("acme", "Acme Cannabis");
    let pk = hex::encode(fx.store.public_key().to_bytes());
    let code = hq.add_store("acme", &pk, fx.store.info().name.as_str()).unwrap();
    hq.enroll(&code, &fx.store.info().store_id, &pk).unwrap();
}

pub fn store_head(fx: &StoreFx) -> (u64, String) {
    fx.store.read(|c| Ok(c.query_row("SELECT size, hash FROM head", [], |r| Ok((r.get::<_, i64>(0)? as u64, hex::encode(r.get::<_, Vec<u8>>(1)?))))?)).unwrap()
}

/// Pushes everything in batches of `batch`, as the replicator would; returns the number of pushes.
pub fn push_all(hq: &Hq, fx: &StoreFx, batch: u64) -> usize {
    let mut acked = 0;
    let mut n = 0;
    while let Some(b) = fx.store.batch_after(acked, batch).unwrap() {
        let ack = hq.push(&fx.store.info().store_id, &b.entries, &b.checkpoint, &b.signature, b.head_size).unwrap();
        let sig = hex::decode(&ack.hq_signature).unwrap();
        assert!(b.checkpoint.verify(&hq.public_key(), &sig), "HQ's co-signature verifies");
        fx.rt.block_on(fx.store.record_ack(b.checkpoint.clone(), b.signature, sig, START_MS)).unwrap();
        acked = b.checkpoint.size;
        n += 1;
    }
    n
}

pub fn checkpoint(store_id: &str, size: u64, head: [u8; 32]) -> Checkpoint {
    Checkpoint { store_id: store_id.into(), size, head }
}
