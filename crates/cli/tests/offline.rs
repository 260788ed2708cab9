//! Three weeks offline: HQ is down while the store records 20,000 sales over 21 simulated days
//! and is killed with SIGKILL 50 times. When HQ comes back the store catches up by itself, and
//! HQ then holds exactly the store's journal: same head hash, same stock and sales, nothing
//! lost, nothing duplicated. `STOCKADE_OFFLINE_SALES` / `STOCKADE_OFFLINE_KILLS` change the size.

mod common;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const START_MS: i64 = 1_795_356_000_000; // 2026-11-22 14:00 UTC, 09:00 in Toronto
const DAY_MS: i64 = 86_400_000;

fn set_clock(file: &std::path::Path, ms: i64) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, ms.to_string()).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

fn sqlite(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

#[test]
fn three_weeks_offline_the_store_keeps_selling_and_catches_up_by_itself() {
    let sales: u64 = std::env::var("STOCKADE_OFFLINE_SALES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let kills: u64 = std::env::var("STOCKADE_OFFLINE_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    set_clock(&clock, START_MS);
    let clock_env = [("STOCKADE_CLOCK_FILE", clock.to_str().unwrap())];
    let run = |args: &[&str]| run_ok(args, &clock_env);

    // HQ and a store, enrolled while HQ is up.
    let pair = hq_and_store(tmp.path(), "CA-ON", "1000000", &clock_env);
    let (store_dir, hq_dir, code) = (pair.store_dir.clone(), pair.hq_dir.clone(), pair.code.clone());
    let (s, h) = (pair.s(), pair.h());
    let hq_addr = free_addr();
    let hq_args = ["hq", "serve", "--data", h, "--listen", &hq_addr];
    // HQ keeps the same (simulated) time as the store.
    let hq_env = [("STOCKADE_HQ_CLOCK_FILE", clock.to_str().unwrap())];
    let (mut hq, hq_url) = serve(&hq_args, &hq_env);
    run(&["store", "enroll", "--data", s, "--hq", &hq_url, "--code", &code]);
    kill(&mut hq); // HQ is down from here on: three weeks

    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (mut child, url) = start_store(&store_dir, &clock_env);
    let login = |url: &str| login(&client, url);
    let token = login(&url);
    let (till, product) = till_and_product(&client, &url, &token);
    kill(&mut child);

    let acked: Arc<Mutex<HashMap<String, String>>> = Default::default();
    let mut in_flight: Vec<(String, u64)> = Vec::new();
    let mut next = [0u64, 1_000_000_000];
    let started = Instant::now();
    for round in 0..kills {
        // Days 0..=20 across the rounds, each starting at 09:00 local.
        set_clock(&clock, START_MS + (round * 21 / kills) as i64 * DAY_MS);
        let (mut child, url) = start_store(&store_dir, &clock_env);
        let token = login(&url); // a new day: yesterday's session has expired
        for (key, n) in in_flight.drain(..) {
            let r = client
                .post(format!("{url}/api/sales"))
                .bearer_auth(&token)
                .header("Idempotency-Key", &key)
                .json(&sale_body(&till, &product, n))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "retry of {key} after restart");
            let v: Value = r.json().unwrap();
            acked.lock().unwrap().insert(key, v["sale_id"].as_str().unwrap().to_string());
        }
        // Two registers sell until the store is killed at a moment it does not expect.
        let target = (round + 1) * sales / kills;
        let senders: Vec<_> = (0..2)
            .map(|r| {
                let (url, token, acked, till, product, first) = (url.clone(), token.clone(), acked.clone(), till.clone(), product.clone(), next[r]);
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
                    let mut n = first;
                    loop {
                        let key = format!("offline-{n}");
                        match client
                            .post(format!("{url}/api/sales"))
                            .bearer_auth(&token)
                            .header("Idempotency-Key", &key)
                            .json(&sale_body(&till, &product, n))
                            .send()
                        {
                            Ok(r) if r.status() == 200 => match r.json::<Value>() {
                                Ok(v) => {
                                    acked.lock().unwrap().insert(key, v["sale_id"].as_str().unwrap().to_string());
                                    n += 1;
                                }
                                Err(_) => return (n, key),
                            },
                            Ok(r) => panic!("sale {n} refused with {}: {:?}", r.status(), r.text()),
                            Err(_) => return (n, key),
                        }
                    }
                })
            })
            .collect();
        while (acked.lock().unwrap().len() as u64) < target && senders.iter().all(|t| !t.is_finished()) {
            std::thread::sleep(Duration::from_millis(2));
        }
        kill(&mut child);
        for (r, t) in senders.into_iter().enumerate() {
            let (n, key) = t.join().unwrap();
            in_flight.push((key, n));
            next[r] = n + 1;
        }
    }
    eprintln!("{} sales acknowledged over 21 days with {kills} SIGKILLs in {:?}; HQ still down", acked.lock().unwrap().len(), started.elapsed());

    // The store is back (finishing what was in flight); then HQ comes back.
    let (mut child, url) = start_store(&store_dir, &clock_env);
    let token = login(&url);
    for (key, n) in in_flight.drain(..) {
        let r =
            client.post(format!("{url}/api/sales")).bearer_auth(&token).header("Idempotency-Key", &key).json(&sale_body(&till, &product, n)).send().unwrap();
        assert_eq!(r.status(), 200);
        acked.lock().unwrap().insert(key, r.json::<Value>().unwrap()["sale_id"].as_str().unwrap().to_string());
    }
    let status: Value = client.get(format!("{url}/api/status")).bearer_auth(&token).send().unwrap().json().unwrap();
    assert!(status["unreplicated_entries"].as_i64().unwrap() as u64 >= sales, "the lag is shown while HQ is away: {status}");
    assert!(status["hq_status"].as_str().unwrap().contains("failed"), "{status}");

    // HQ comes back at its address; the running store notices by itself.
    let caught_up_from = Instant::now();
    let (mut hq, _) = serve(&hq_args, &hq_env);
    wait_caught_up(&client, &url, &token, Duration::from_secs(300));
    let catch_up = caught_up_from.elapsed();
    kill(&mut child);
    kill(&mut hq);

    // HQ holds exactly the store's journal.
    let verify = run(&["hq", "verify", "--data", h]);
    let store_status: Value = serde_json::from_str(&run(&["store", "status", "--data", s])).unwrap();
    let (size, head) = (store_status["journal_size"].as_i64().unwrap(), store_status["head_hash"].as_str().unwrap());
    assert!(verify.contains(&format!("{size} entries, head {head}")), "HQ: {verify}\nstore: {size} {head}");
    run(&["store", "verify", "--data", s]);

    let st = sqlite(&store_dir.join("store.db"));
    let hqdb = sqlite(&hq_dir.join("hq.db"));
    let acked = acked.lock().unwrap();
    let stored: HashMap<String, String> = st
        .prepare("SELECT idempotency_key, sale_id FROM sales WHERE idempotency_key LIKE 'offline-%'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(stored.len(), acked.len(), "every sale once: nothing lost, nothing duplicated");
    for (k, id) in acked.iter() {
        assert_eq!(stored.get(k), Some(id), "acknowledged sale {k}");
    }
    let hq_sales: i64 = hqdb.query_row("SELECT COUNT(*) FROM entries WHERE kind = 'sale_recorded'", [], |r| r.get(0)).unwrap();
    assert_eq!(hq_sales as usize, acked.len());
    let store_stock: Vec<(String, i64)> = st
        .prepare("SELECT product_id, on_hand FROM products ORDER BY product_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let hq_stock: Vec<(String, i64)> = hqdb
        .prepare("SELECT product_id, on_hand FROM stock ORDER BY product_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(store_stock, hq_stock, "same stock per product");
    let days: i64 = st.query_row("SELECT COUNT(DISTINCT local_date) FROM sales", [], |r| r.get(0)).unwrap();
    let hq_days: i64 = hqdb.query_row("SELECT COUNT(DISTINCT day) FROM daily_sales", [], |r| r.get(0)).unwrap();
    let expected_days = 21.min(kills as i64);
    assert_eq!((days, hq_days), (expected_days, expected_days), "sales on every simulated day");
    let units: i64 = st.query_row("SELECT SUM(quantity) FROM sale_lines", [], |r| r.get(0)).unwrap();
    let hq_units: i64 = hqdb.query_row("SELECT SUM(units_sold) FROM daily_sales", [], |r| r.get(0)).unwrap();
    assert_eq!(units, hq_units, "same units sold");
    eprintln!("caught up {size} entries in {catch_up:?}; HQ verify: {}", verify.lines().next().unwrap_or(""));
}
