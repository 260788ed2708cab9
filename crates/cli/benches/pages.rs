//! Server time per page and per register action, with 10,000 products and 100,000 sales in the
//! store, p50/p99 over loopback HTTP, each as a ratio to a static asset fetched in the same run.
//! A keyboard sale is 4 round trips: barcode lookup, cart quote, sale, receipt page.
//! Run: `cargo bench -p stockade --bench pages` (PRODUCTS, SALES, N to change the sizes).

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockade_store::clock::SystemClock;
use stockade_store::{InitOptions, Store};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A catalog of `n` priced products with valid GTINs.
fn catalog(n: usize) -> Vec<u8> {
    let mut out = String::from("sku,gtin,name,brand,category,class,net_weight_mg,net_volume_ml,thc_mg,cbd_mg,price\n");
    for i in 0..n {
        let body = format!("628{:09}", i);
        let digits: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
        let sum: u32 = digits.iter().rev().enumerate().map(|(k, d)| if k % 2 == 0 { d * 3 } else { *d }).sum();
        let check = (10 - sum % 10) % 10;
        out.push_str(&format!("B-{i:05},{body}{check},Bench Flower {i} 1g,Bench,Flower,dried,1000,,190,,{}.99\n", 5 + i % 40));
    }
    out.into_bytes()
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let (products, sales, n) = (env("PRODUCTS", 10_000), env("SALES", 100_000), env("N", 300));
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let opts = InitOptions { name: "Bench".into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: "bench password".into() };
    let dir = tmp.path().join("store");
    Store::init(&dir, &opts, Arc::new(SystemClock)).unwrap();
    let store = Store::open(&dir, Arc::new(SystemClock), Some(3)).unwrap();
    let t = Instant::now();
    let gtins: Vec<String> = rt.block_on(async {
        let boss = store.first_manager().unwrap();
        store.import_products(&boss, catalog(products), false).await.unwrap();
        let all = store
            .read(|c| stockade_store::queries::search_products(c, &stockade_store::queries::ProductQuery { limit: Some(10_000), ..Default::default() }))
            .unwrap();
        store.receive_all(&boss, 1_000_000).await.unwrap();
        // One sale opens the simulation till; then several at once: the writer groups commits.
        store.simulate(&boss, 1, 9, |_| {}).await.unwrap();
        let tasks: Vec<_> = (0..8u64)
            .map(|i| {
                let (store, boss) = (store.clone(), boss.clone());
                tokio::spawn(async move { store.simulate(&boss, sales as u64 / 8, 10 + i, |_| {}).await.unwrap() })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        all.iter().filter_map(|p| p.spec.gtin.clone()).collect()
    });
    eprintln!("set-up: {products} products, {sales} sales in {:?}", t.elapsed());

    let (base, cookie, till) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(stockade_web::serve(store.clone(), listener, std::future::pending()));
        let c = reqwest::Client::new();
        let r = c.post(format!("{base}/api/login")).json(&json!({"username": "boss", "password": "bench password"})).send().await.unwrap();
        let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
        let till: Value = c
            .post(format!("{base}/api/tills"))
            .header("cookie", &cookie)
            .json(&json!({"register": "R1", "float_minor": 0}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (base, cookie, till["till_id"].as_str().unwrap().to_string())
    });
    let client = reqwest::blocking::Client::new();
    let timed = |f: &dyn Fn(usize) -> reqwest::blocking::Response| -> Vec<Duration> {
        (0..n)
            .map(|i| {
                let t = Instant::now();
                let r = f(i);
                assert!(r.status().is_success(), "{}", r.status());
                r.bytes().unwrap();
                t.elapsed()
            })
            .collect()
    };
    let get = |path: String| client.get(format!("{base}{path}")).header("cookie", &cookie).send().unwrap();
    let baseline = timed(&|_| get("/assets/app.css".into()));
    let base50 = pct(baseline.clone(), 0.5);
    let mut rows = vec![("static asset (baseline)", baseline)];
    rows.push(("register page", timed(&|_| get("/register".into()))));
    rows.push(("barcode scan", timed(&|i| get(format!("/api/barcodes/{}", gtins[i * 37 % gtins.len()])))));
    let pids: Vec<String> = (0..3)
        .map(|k| get(format!("/api/barcodes/{}", gtins[k * 1000 % gtins.len()])).json::<Value>().unwrap()["product_id"].as_str().unwrap().to_string())
        .collect();
    let cart = json!({"lines": pids.iter().map(|p| json!({"product_id": p, "quantity": 1})).collect::<Vec<_>>()});
    rows.push(("cart quote (3 lines)", timed(&|_| client.post(format!("{base}/api/cart/quote")).header("cookie", &cookie).json(&cart).send().unwrap())));
    rows.push((
        "sale (1 line, cash)",
        timed(&|_| {
            let body = json!({"till_id": till, "lines": [{"product_id": pids[0], "quantity": 1}], "customer": {"age_confirmed": true}, "tenders": [{"kind": "cash", "amount_minor": 100_000}]});
            client.post(format!("{base}/api/sales")).header("cookie", &cookie).json(&body).send().unwrap()
        }),
    ));
    let sale: Value = client
        .post(format!("{base}/api/sales"))
        .header("cookie", &cookie)
        .json(&json!({"till_id": till, "lines": [{"product_id": pids[0], "quantity": 1}], "customer": {"age_confirmed": true}, "tenders": [{"kind": "cash", "amount_minor": 100_000}]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = sale["sale_id"].as_str().unwrap().to_string();
    rows.push(("receipt page", timed(&|_| get(format!("/receipt/{id}")))));
    rows.push(("product search (name)", timed(&|i| get(format!("/api/products?q=Flower%20{}&limit=10", i % 500)))));
    rows.push(("back office page", timed(&|_| get("/backoffice".into()))));

    println!("{products} products, {sales} sales; n={n} requests each; loopback HTTP");
    println!("{:<26} {:>9} {:>9} {:>12}", "", "p50 ms", "p99 ms", "p50 ratio");
    for (name, v) in rows {
        let (p50, p99) = (pct(v.clone(), 0.5), pct(v, 0.99));
        println!("{name:<26} {p50:>9.2} {p99:>9.2} {:>12.1}", p50 / base50);
    }
}
