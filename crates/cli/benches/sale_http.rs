//! Sale throughput and latency over HTTP on loopback, against a bare SQLite insert-and-commit at
//! the same durability (WAL, synchronous=FULL) on the same disk, measured in the same run.
//! Run: `cargo bench -p stockade --bench sale_http` (SALES=n to change the count).

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockade_store::clock::SystemClock;
use stockade_store::{InitOptions, Store};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut lat: Vec<Duration>, wall: Duration) -> (f64, Duration, Duration) {
    lat.sort();
    let rate = lat.len() as f64 / wall.as_secs_f64();
    let (p50, p99) = (pct(&lat, 0.50), pct(&lat, 0.99));
    println!("{name:<38} {:>8.0}/s   p50 {:>7.2} ms   p99 {:>7.2} ms   (n={})", rate, p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3, lat.len());
    (rate, p50, p99)
}

fn bare_sqlite(dir: &std::path::Path, n: usize) -> Vec<Duration> {
    let c = rusqlite::Connection::open(dir.join("bare.db")).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)").unwrap();
    let body = vec![7u8; 600]; // about one sale entry
    (0..n)
        .map(|_| {
            let t = Instant::now();
            c.execute_batch("BEGIN").unwrap();
            c.execute("INSERT INTO t (body) VALUES (?1)", [&body]).unwrap();
            c.execute_batch("COMMIT").unwrap();
            t.elapsed()
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("SALES").ok().and_then(|v| v.parse().ok()).unwrap_or(1500);
    // On disk (target/tmp), not tmpfs: fsync must cost what it costs in a shop.
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    let t = Instant::now();
    let bare = bare_sqlite(tmp.path(), n);
    let (bare_rate, bare_p50, _) = summary("bare SQLite insert+commit (FULL)", bare, t.elapsed());

    let dir = tmp.path().join("store");
    let opts = InitOptions { name: "Bench".into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: "bench password".into() };
    Store::init(&dir, &opts, Arc::new(SystemClock)).unwrap();
    let store = Store::open(&dir, Arc::new(SystemClock), Some(1)).unwrap();
    let (base, token, till, product) = rt.block_on(async {
        let boss = store.first_manager().unwrap();
        let csv = include_bytes!("../demo/catalog.csv").to_vec();
        store.import_products(&boss, csv, false).await.unwrap();
        let p = store
            .read(|c| {
                stockade_store::queries::search_products(c, &stockade_store::queries::ProductQuery { q: Some("Blue Dream 1g".into()), ..Default::default() })
            })
            .unwrap();
        let product = p[0].product_id.clone();
        store
            .receive(
                &boss,
                stockade_store::commands::ReceiveRequest {
                    supplier: "S".into(),
                    document: "D".into(),
                    lines: vec![stockade_store::commands::ReceiveLineRequest {
                        product_id: product.clone(),
                        quantity: 1_000_000,
                        lot_code: "L".into(),
                        package_tag: None,
                        unit_cost_minor: 1,
                        lab_thc_mg: None,
                    }],
                },
            )
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(stockade_web::serve(store.clone(), listener, std::future::pending()));
        let c = reqwest::Client::new();
        let login: Value =
            c.post(format!("{base}/api/login")).json(&json!({"username": "boss", "password": "bench password"})).send().await.unwrap().json().await.unwrap();
        let token = login["token"].as_str().unwrap().to_string();
        let till: Value = c
            .post(format!("{base}/api/tills"))
            .bearer_auth(&token)
            .json(&json!({"register": "R1", "float_minor": 0}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (base, token, till["till_id"].as_str().unwrap().to_string(), product)
    });
    let body = json!({"till_id": till, "lines": [{"product_id": product, "quantity": 1}], "customer": {"age_confirmed": true},
        "tenders": [{"kind": "cash", "amount_minor": 2000}]});

    let run = |clients: usize| {
        rt.block_on(async {
            let per = n / clients;
            let start = Instant::now();
            let tasks: Vec<_> = (0..clients)
                .map(|_| {
                    let (base, token, body) = (base.clone(), token.clone(), body.clone());
                    tokio::spawn(async move {
                        let c = reqwest::Client::new();
                        let mut lat = Vec::with_capacity(per);
                        for _ in 0..per {
                            let t = Instant::now();
                            let r = c.post(format!("{base}/api/sales")).bearer_auth(&token).json(&body).send().await.unwrap();
                            assert_eq!(r.status(), 200);
                            r.bytes().await.unwrap();
                            lat.push(t.elapsed());
                        }
                        lat
                    })
                })
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            (all, start.elapsed())
        })
    };
    let (lat, wall) = run(1);
    let (seq_rate, seq_p50, _) = summary("HTTP sale, 1 register", lat, wall);
    let (lat, wall) = run(16);
    let (conc_rate, _, _) = summary("HTTP sale, 16 concurrent registers", lat, wall);
    println!();
    println!("ratio  sale p50 latency / bare commit p50:         {:.2}", seq_p50.as_secs_f64() / bare_p50.as_secs_f64());
    println!("ratio  1-register sales/s / bare commits/s:        {:.2}", seq_rate / bare_rate);
    println!("ratio  16-register sales/s / bare commits/s:       {:.2}  (group commit)", conc_rate / bare_rate);
}
