//! Crash safety: SIGKILL the store node at random moments while sales stream in.
//! After every restart each acknowledged sale is present, a sale in flight at the kill is either
//! wholly present or absent (retrying it with its Idempotency-Key records it once), and at the
//! end `stockade store verify` passes. Kills: 200 by default, `STOCKADE_TORTURE_KILLS` for more.

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::*;

fn start(data: &Path) -> (Server, String) {
    start_store(data, &[])
}

#[test]
fn acknowledged_sales_survive_sigkill_and_nothing_is_half_written() {
    let kills: usize = std::env::var("STOCKADE_TORTURE_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("store");
    let d = data.to_str().unwrap();
    assert!(stockade(&["store", "init", "--data", d, "--jurisdiction", "CA-ON", "--name", "Torture"]).status.success());
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/catalog.csv");
    assert!(stockade(&["store", "import-products", "--data", d, catalog]).status.success());
    assert!(stockade(&["store", "receive-all", "--data", d, "--quantity", "100000"]).status.success());

    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let (mut child, url) = start(&data);
    let login: Value = client.post(format!("{url}/api/login")).json(&json!({"username": "manager", "password": PASSWORD})).send().unwrap().json().unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    let products: Value = client.get(format!("{url}/api/products?q=Blue%20Dream%201g")).bearer_auth(&token).send().unwrap().json().unwrap();
    let product = products[0]["product_id"].as_str().unwrap().to_string();
    let till: Value =
        client.post(format!("{url}/api/tills")).bearer_auth(&token).json(&json!({"register": "R1", "float_minor": 0})).send().unwrap().json().unwrap();
    let till = till["till_id"].as_str().unwrap().to_string();
    child.kill().unwrap();
    child.wait().unwrap();

    let sale = {
        let (till, product) = (till.clone(), product.clone());
        move |n: u64| sale_body(&till, &product, n)
    };
    let acked: Arc<Mutex<HashMap<String, String>>> = Default::default(); // key -> sale_id
    let mut in_flight: Vec<(String, u64)> = Vec::new();
    let mut next = 0u64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5107);
    let started = Instant::now();
    for round in 0..kills {
        let (mut child, url) = start(&data);
        // First, retry whatever was in flight when the previous process died.
        for (key, n) in in_flight.drain(..) {
            let r = client.post(format!("{url}/api/sales")).bearer_auth(&token).header("Idempotency-Key", &key).json(&sale(n)).send().unwrap();
            assert_eq!(r.status(), 200, "retry of {key} after restart");
            let v: Value = r.json().unwrap();
            acked.lock().unwrap().insert(key, v["sale_id"].as_str().unwrap().to_string());
        }
        let stop_at = Duration::from_millis(rng.gen_range(2..60));
        let (url2, token2, acked2, sale) = (url.clone(), token.clone(), acked.clone(), sale.clone());
        let first = next;
        let sender = std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
            let mut n = first;
            loop {
                let key = format!("torture-{n}");
                let r = client.post(format!("{url2}/api/sales")).bearer_auth(&token2).header("Idempotency-Key", &key).json(&sale(n)).send();
                match r {
                    Ok(r) if r.status() == 200 => {
                        let v: Value = match r.json() {
                            Ok(v) => v,
                            Err(_) => return (n, Some(key)), // killed while answering: not acknowledged
                        };
                        acked2.lock().unwrap().insert(key, v["sale_id"].as_str().unwrap().to_string());
                        n += 1;
                    }
                    Ok(r) => panic!("sale {n} refused with {}: {:?}", r.status(), r.text()),
                    Err(_) => return (n, Some(key)),
                }
            }
        });
        std::thread::sleep(stop_at);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (n, pending) = sender.join().unwrap();
        if let Some(key) = pending {
            in_flight.push((key, n));
        }
        next = n + 1;
        if round % 50 == 49 {
            eprintln!("{} kills, {} sales acknowledged, {:?}", round + 1, acked.lock().unwrap().len(), started.elapsed());
        }
    }

    // Every acknowledged sale is in the database, whole; nothing else is.
    let db = rusqlite::Connection::open_with_flags(data.join("store.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let stored: HashMap<String, (String, i64)> = db
        .prepare("SELECT idempotency_key, sale_id, (SELECT COUNT(*) FROM sale_lines l WHERE l.sale_id = s.sale_id) FROM sales s WHERE idempotency_key LIKE 'torture-%'")
        .unwrap()
        .query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get::<_, String>(1)?, r.get::<_, i64>(2)?))))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let acked = acked.lock().unwrap();
    assert!(acked.len() >= kills, "too few sales acknowledged to mean anything: {}", acked.len());
    for (key, sale_id) in acked.iter() {
        let (id, lines) = stored.get(key).unwrap_or_else(|| panic!("acknowledged sale {key} is lost"));
        assert_eq!(id, sale_id);
        assert_eq!(*lines, 1, "sale {key} is half-written");
    }
    let in_flight_keys: HashSet<&String> = in_flight.iter().map(|(k, _)| k).collect();
    for key in stored.keys() {
        assert!(acked.contains_key(key) || in_flight_keys.contains(key), "{key} is in the database but was never sent");
    }
    let on_hand: i64 = db.query_row("SELECT on_hand FROM products WHERE sku = 'FLW-005'", [], |r| r.get(0)).unwrap();
    let sold: i64 = db
        .query_row("SELECT COALESCE(SUM(quantity), 0) FROM sale_lines l JOIN products p ON p.product_id = l.product_id WHERE p.sku = 'FLW-005'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(on_hand, 100_000 - sold, "stock matches the sales exactly");
    drop(db);
    let out = stockade(&["store", "verify", "--data", d]);
    assert!(out.status.success(), "verify after {kills} kills: {}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{kills} SIGKILLs, {} acknowledged sales, all present; verify: {}", acked.len(), String::from_utf8_lossy(&out.stdout).trim());
}
