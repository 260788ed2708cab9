//! Index and page damage, 20 cases, with the real binaries: bytes of an index's or a table's
//! root page overwritten in the database file of a stopped store (what a failing disk or an
//! attacker with `dd` does). Each time `store verify` names the damage, `store serve` stops
//! taking sales with a message naming the repair command, and `store repair --from-hq`
//! brings back every acknowledged sale with its receipt number and verifies intact.

mod common;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const START_MS: i64 = 1_795_356_000_000; // 2026-11-22 14:00 UTC, 09:00 in Toronto

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// `(type, name, root page)` of every index and table of the store whose table holds rows
/// (an empty b-tree page has nothing to damage), read from the schema.
fn roots(db: &Path) -> Vec<(String, String, i64)> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c.prepare("SELECT type, name, rootpage, tbl_name FROM sqlite_master WHERE rootpage > 0 ORDER BY type, name").unwrap();
    let all: Vec<(String, String, i64, String)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().collect::<Result<_, _>>().unwrap();
    all.into_iter()
        .filter(|(_, _, _, table)| c.query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |r| r.get::<_, i64>(0)).unwrap() > 0)
        .map(|(kind, name, page, _)| (kind, name, page))
        .collect()
}

/// Overwrites 24 bytes of the cell content of b-tree page `page` (where its rows, keys or
/// child pointers are), found from the page header.
fn damage(db: &Path, page: i64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(db).unwrap();
    let start = (page as u64 - 1) * 4096;
    let mut p = vec![0u8; 4096];
    f.seek(SeekFrom::Start(start)).unwrap();
    f.read_exact(&mut p).unwrap();
    let h = if page == 1 { 100 } else { 0 };
    let content = match u16::from_be_bytes([p[h + 5], p[h + 6]]) {
        0 => 65536,
        n => n as usize,
    };
    assert!(content < 4096, "page {page} has cells");
    let len = (4096 - content).min(24);
    f.seek(SeekFrom::Start(start + content as u64)).unwrap();
    f.write_all(&vec![0xA5; len]).unwrap();
    f.sync_all().unwrap();
}

fn sales_in(db: &Path) -> HashMap<String, i64> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c.prepare("SELECT sale_id, sale_no FROM sales").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn twenty_cases_of_index_and_page_damage_are_named_stop_sales_and_are_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, START_MS.to_string()).unwrap();
    let env = [("STOCKADE_CLOCK_FILE", clock.to_str().unwrap())];
    let pair = hq_and_store(tmp.path(), "CA-ON", "100000", &env);
    let (s, h) = (pair.s(), pair.h());
    let hq_addr = free_addr();
    let (_hq, hq_url) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr, "--max-clock-skew-ms", "100000000000"], &[]);
    run_ok(&["store", "enroll", "--data", s, "--hq", &hq_url, "--code", &pair.code], &env);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    // 60 sales, replicated to HQ: acknowledged.
    let (mut store, url) = start_store(&pair.store_dir, &env);
    let token = login(&client, &url);
    let (till, product) = till_and_product(&client, &url, &token);
    let mut acked: HashMap<String, i64> = HashMap::new();
    let sell = |url: &str, token: &str, n: u64| -> reqwest::blocking::Response {
        client.post(format!("{url}/api/sales")).bearer_auth(token).json(&sale_body(&till, &product, n)).send().unwrap()
    };
    for n in 0..60 {
        let v: Value = sell(&url, &token, n).json().unwrap();
        acked.insert(v["sale_id"].as_str().unwrap().to_string(), v["sale_no"].as_i64().unwrap());
    }
    wait_caught_up(&client, &url, &token, Duration::from_secs(60));
    kill(&mut store);
    // Everything into the database file, so the damage below hits real pages.
    let db = pair.store_dir.join("store.db");
    rusqlite::Connection::open(&db).unwrap().execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    let pristine = tmp.path().join("pristine");
    copy_dir(&pair.store_dir, &pristine);

    let all = roots(&db);
    let indexes: Vec<_> = all.iter().filter(|r| r.0 == "index").take(10).cloned().collect();
    let tables: Vec<_> = ["journal", "sales", "sale_lines", "products", "lots", "stock_moves", "tills", "checkpoints", "staff", "sale_tenders"]
        .iter()
        .map(|t| all.iter().find(|r| r.0 == "table" && r.1 == *t).unwrap_or_else(|| panic!("table {t}")).clone())
        .collect();
    assert_eq!(indexes.len(), 10, "the store has at least 10 indexes: {all:?}");
    let cases: Vec<_> = indexes.into_iter().chain(tables).collect();
    assert_eq!(cases.len(), 20);

    let mut n = 1000;
    for (kind, name, page) in cases {
        let what = format!("{kind} {name} (page {page})");
        let dir = tmp.path().join(format!("case-{name}"));
        copy_dir(&pristine, &dir);
        let d = dir.to_str().unwrap();
        damage(&dir.join("store.db"), page);

        // `verify` names it.
        let o = stockade(&["store", "verify", "--data", d]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        assert!(text(&o).contains("NOT INTACT"), "{what}: {}", text(&o));

        // `serve` stops taking sales (at start, or once the background check finds it), with
        // the repair command; a sale it took before that is acknowledged like any other.
        let (mut store, url) =
            serve(&["store", "serve", "--data", d, "--listen", "127.0.0.1:0", "--sync-max-backoff-ms", "1000", "--sync-idle-ms", "200"], &env);
        let since = Instant::now();
        let mut case_acked: HashMap<String, i64> = HashMap::new();
        let token = client
            .post(format!("{url}/api/login"))
            .json(&serde_json::json!({"username": "manager", "password": PASSWORD}))
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .and_then(|v| v["token"].as_str().map(str::to_string))
            .unwrap_or_default();
        loop {
            n += 1;
            let r = sell(&url, &token, n);
            let status = r.status().as_u16();
            let v: Value = r.json().unwrap_or_default();
            if status == 503 {
                assert_eq!(v["error"]["code"], "store_damaged", "{what}: {v}");
                let m = v["error"]["message"].as_str().unwrap();
                assert!(m.contains(&format!("stockade store repair --data {d}")), "{what}: {m}");
                break;
            }
            if status == 200 || status == 201 {
                case_acked.insert(v["sale_id"].as_str().unwrap().to_string(), v["sale_no"].as_i64().unwrap());
            }
            assert!(since.elapsed() < Duration::from_secs(30), "{what}: still selling after 30 s: {status} {v}");
            std::thread::sleep(Duration::from_millis(250));
        }
        // What it acknowledged reaches HQ before it is stopped (if its journal reads).
        std::thread::sleep(Duration::from_millis(1500));
        kill(&mut store);

        // The repair: salvage what reads, HQ's copy for the rest; every acknowledged sale back.
        let out = run_ok(&["store", "repair", "--data", d, "--from-hq"], &env);
        assert!(out.contains("repaired:") && out.contains("every witnessed entry is back"), "{what}: {out}");
        let o = stockade(&["store", "verify", "--data", d]);
        assert_eq!(o.status.code(), Some(0), "{what}: after repair: {}", text(&o));
        let sales = sales_in(&dir.join("store.db"));
        for (id, no) in acked.iter().chain(case_acked.iter()) {
            assert_eq!(sales.get(id), Some(no), "{what}: acknowledged sale {id} (receipt {no}) is not back");
        }
        let numbers: std::collections::HashSet<&i64> = sales.values().collect();
        assert_eq!(numbers.len(), sales.len(), "{what}: a receipt number appears twice");
    }
}
