//! The store's clock against HQ's and against itself, with the real binaries (each with a
//! clock file). Set a day ahead while serving: the store pauses sales (none is booked on a
//! business day that has not started), says why, and HQ — which refuses its requests — raises a
//! `clock_skew` alert instead of showing a quiet store. Set back right: selling resumes by
//! itself. Set an hour behind: alerts at both ends, sales go on. Both sides verify after.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const START_MS: i64 = 1_795_366_800_000; // 2026-11-22 17:00 UTC, 12:00 in Toronto
const DAY_MS: i64 = 86_400_000;

/// The time a file clock reads now (its value plus the real time since it was written).
fn reads(file: &Path) -> i64 {
    let base: i64 = std::fs::read_to_string(file).unwrap().trim().parse().unwrap();
    let written = std::fs::metadata(file).unwrap().modified().unwrap();
    base + std::time::SystemTime::now().duration_since(written).unwrap().as_millis() as i64
}

fn set(file: &Path, ms: i64) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, ms.to_string()).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

fn hq_alerts(h: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(&run_ok(&["hq", "status", "--data", h], &[])).unwrap();
    v["alerts"].as_array().unwrap().clone()
}

#[test]
fn a_clock_a_day_ahead_pauses_sales_an_hour_behind_alerts_and_both_ends_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (hq_clock, store_clock) = (tmp.path().join("hq-clock"), tmp.path().join("store-clock"));
    set(&hq_clock, START_MS);
    set(&store_clock, START_MS);
    let env = [("STOCKADE_CLOCK_FILE", store_clock.to_str().unwrap())];
    let hq_env = [("STOCKADE_HQ_CLOCK_FILE", hq_clock.to_str().unwrap())];
    let pair = hq_and_store(tmp.path(), "CA-ON", "100000", &env);
    let (s, h) = (pair.s(), pair.h());
    let hq_addr = free_addr();
    // HQ's default tolerance for request times: 15 minutes.
    let (mut hq, hq_url) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &hq_env);
    run_ok(&["store", "enroll", "--data", s, "--hq", &hq_url, "--code", &pair.code], &env);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let (mut store, url) = start_store(&pair.store_dir, &env);
    let token = login(&client, &url);
    let (till, product) = till_and_product(&client, &url, &token);
    let mut n = 0;
    let mut sell = |token: &str| -> (u16, Value) {
        n += 1;
        let r = client.post(format!("{url}/api/sales")).bearer_auth(token).json(&sale_body(&till, &product, n)).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or_default())
    };
    for _ in 0..5 {
        assert_eq!(sell(&token).0, 200);
    }
    let status = |token: &str| -> Value { client.get(format!("{url}/api/status")).bearer_auth(token).send().unwrap().json().unwrap() };
    wait_caught_up(&client, &url, &token, Duration::from_secs(30));
    assert_eq!(status(&token)["integrity"], "ok");

    // A day ahead, while serving.
    set(&store_clock, reads(&hq_clock) + DAY_MS);
    // (A day later, sessions have expired: the budtender signs in again.)
    let token = login(&client, &url);
    let (code, v) = sell(&token);
    assert_eq!((code, v["error"]["code"].as_str()), (503, Some("clock_ahead")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("ahead"), "{v}");
    assert!(status(&token)["integrity"].as_str().unwrap().starts_with("clock:"));
    let since = Instant::now();
    while !hq_alerts(h).iter().any(|a| a["kind"] == "clock_skew" && a["message"].as_str().unwrap().contains("ahead of")) {
        assert!(since.elapsed() < Duration::from_secs(30), "HQ raised no clock alert: {:?}", hq_alerts(h));
        std::thread::sleep(Duration::from_millis(300));
    }
    let st: Value = serde_json::from_str(&run_ok(&["hq", "status", "--data", h], &[])).unwrap();
    assert!(st["stores"][0]["integrity"].as_str().unwrap().starts_with("clock_skew"), "HQ shows the store as refused: {st}");

    // Set right: selling resumes by itself.
    set(&store_clock, reads(&hq_clock));
    let token = login(&client, &url);
    let since = Instant::now();
    loop {
        let (code, v) = sell(&token);
        if code == 200 {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(30), "still refusing: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }

    // An hour behind: alerts at both ends; sales go on, dated by the store's clock.
    set(&store_clock, reads(&hq_clock) - 3_600_000);
    let (code, v) = sell(&token);
    assert_eq!(code, 200, "{v}");
    assert!(status(&token)["integrity"].as_str().unwrap().contains("behind"), "{}", status(&token));
    let since = Instant::now();
    while !hq_alerts(h).iter().any(|a| a["kind"] == "clock_skew" && a["message"].as_str().unwrap().contains("behind")) {
        assert!(since.elapsed() < Duration::from_secs(30), "HQ raised no clock alert: {:?}", hq_alerts(h));
        std::thread::sleep(Duration::from_millis(300));
    }
    set(&store_clock, reads(&hq_clock));
    let since = Instant::now();
    while status(&token)["integrity"] != "ok" {
        assert!(since.elapsed() < Duration::from_secs(30), "{}", status(&token));
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_caught_up(&client, &url, &token, Duration::from_secs(30));
    kill(&mut store);
    kill(&mut hq);

    // No sale on a business day that had not started.
    let db = rusqlite::Connection::open_with_flags(pair.store_dir.join("store.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let days: Vec<String> = db.prepare("SELECT DISTINCT local_date FROM sales").unwrap().query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(days, vec!["2026-11-22".to_string()]);
    run_ok(&["store", "verify", "--data", s], &env);
    run_ok(&["hq", "verify", "--data", h], &[]);
}
