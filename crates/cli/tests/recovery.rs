//! Recovery from the command line: a wiped store restored from HQ, a store restored from its
//! backup file, HQ rebuilt from backups — each verified, and forgeries refused.

mod common;
use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn a_wiped_store_comes_back_from_hq_and_hq_comes_back_from_backups() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| run_ok(args, &[]);
    let pair = hq_and_store(tmp.path(), "US-CO", "500", &[]);
    let (store_dir, hq_dir, hq_key) = (pair.store_dir.clone(), pair.hq_dir.clone(), pair.hq_public_key.clone());
    let (s, h) = (pair.s(), pair.h());
    let Running { mut hq, hq_url, mut store, client, .. } = pair.run(300, 4);
    let hq_addr = hq_url.trim_start_matches("http://").to_string();
    kill(&mut store);
    let before: Value = serde_json::from_str(&run(&["store", "status", "--data", s])).unwrap();
    let key_backup = tmp.path().join("store.key.backup");
    std::fs::copy(store_dir.join("store.key"), &key_backup).unwrap();
    let file_backup = tmp.path().join("store.backup");
    run(&["backup", "--data", s, "--out", file_backup.to_str().unwrap()]);

    // The store's disk is wiped. It comes back from HQ, checked against its key and HQ's.
    std::fs::remove_dir_all(&store_dir).unwrap();
    let wrong_hq = "11".repeat(32);
    let refused = stockade(&["store", "restore", "--data", s, "--from-hq", &hq_url, "--key", key_backup.to_str().unwrap(), "--hq-key", &wrong_hq]);
    assert!(!refused.status.success(), "a restore that cannot verify HQ's co-signatures is refused");
    assert!(!store_dir.join("store.db").exists(), "a refused restore writes nothing");
    let out = run(&["store", "restore", "--data", s, "--from-hq", &hq_url, "--key", key_backup.to_str().unwrap(), "--hq-key", &hq_key]);
    assert!(out.contains("restored store"), "{out}");
    run(&["store", "verify", "--data", s]);
    let after: Value = serde_json::from_str(&run(&["store", "status", "--data", s])).unwrap();
    assert_eq!((&after["journal_size"], &after["head_hash"]), (&before["journal_size"], &before["head_hash"]));
    // It sells again and replicates on, with a new manager password.
    let (mut store, url) = start_store(&store_dir, &[]);
    assert!(!login(&client, &url).is_empty(), "the new manager password works");
    kill(&mut store);
    kill(&mut hq);

    // The same store from its backup file, in another folder; a tampered file is refused.
    let other = tmp.path().join("from-file");
    run(&["restore", "--data", other.to_str().unwrap(), "--from", file_backup.to_str().unwrap(), "--key", key_backup.to_str().unwrap()]);
    let again: Value = serde_json::from_str(&run(&["store", "status", "--data", other.to_str().unwrap()])).unwrap();
    assert_eq!(again["head_hash"], before["head_hash"]);
    run(&["store", "verify", "--data", other.to_str().unwrap()]);

    // HQ's co-signatures kept by the store are evidence too: a changed one is found.
    {
        let db = rusqlite::Connection::open(store_dir.join("store.db")).unwrap();
        let n = db
            .execute("UPDATE checkpoints SET hq_signature = zeroblob(64) WHERE size = (SELECT MAX(size) FROM checkpoints WHERE hq_signature IS NOT NULL)", [])
            .unwrap();
        assert_eq!(n, 1);
    }
    let o = stockade(&["store", "verify", "--data", s]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("co-signature"), "{}", text(&o));
    let text_backup = std::fs::read_to_string(&file_backup).unwrap();
    let tampered = tmp.path().join("tampered.backup");
    std::fs::write(&tampered, text_backup.replacen("Blue Dream", "Blue Dreams", 1)).unwrap();
    let o =
        stockade(&["restore", "--data", tmp.path().join("t").to_str().unwrap(), "--from", tampered.to_str().unwrap(), "--key", key_backup.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("not an intact backup"), "{}", text(&o));
    // A manager name the journal does not know: refused, and nothing is left in the folder.
    let nobody = tmp.path().join("nobody");
    let o = stockade(&[
        "restore",
        "--data",
        nobody.to_str().unwrap(),
        "--from",
        file_backup.to_str().unwrap(),
        "--key",
        key_backup.to_str().unwrap(),
        "--manager",
        "nobody",
    ]);
    assert!(!o.status.success() && text(&o).contains("not an active manager"), "{}", text(&o));
    assert_eq!(std::fs::read_dir(&nobody).map(|d| d.count()).unwrap_or(0), 0, "a refused restore leaves no files");

    // HQ's database is lost: rebuilt from HQ's journal backup and the store's backup.
    let hq_journal = tmp.path().join("hq.backup");
    run(&["hq", "backup", "--data", h, "--out", hq_journal.to_str().unwrap()]);
    let verified = run(&["hq", "verify", "--data", h]);
    std::fs::remove_file(hq_dir.join("hq.db")).unwrap();
    let rebuilt = run(&["hq", "rebuild", "--data", h, "--hq-journal", hq_journal.to_str().unwrap(), "--store", file_backup.to_str().unwrap()]);
    let head = before["head_hash"].as_str().unwrap();
    assert!(rebuilt.contains(head), "{rebuilt}");
    let verified_again = run(&["hq", "verify", "--data", h]);
    let journals = |v: &str| v.lines().filter(|l| !l.starts_with("audit log:")).collect::<Vec<_>>().join("\n");
    assert_eq!(journals(&verified_again), journals(&verified), "the rebuilt HQ's journals verify exactly as before");
    // The audit log is not in the journal backups: a rebuilt HQ starts a new one.
    assert!(verified.contains("audit log: 1 records") && verified_again.contains("audit log: 0 records"), "{verified}{verified_again}");

    // Or pulled from the running store itself; the store answers only HQ's key.
    let (mut store, url) = start_store(&other, &[]);
    let o = stockade(&["hq", "rebuild", "--data", h, "--hq-journal", hq_journal.to_str().unwrap(), "--from-store", &url]);
    assert!(!o.status.success(), "a store that never enrolled with this HQ does not hand its journal over: {}", text(&o));
    kill(&mut store);
    // The store restored from HQ knows HQ's key (its co-signature was damaged above: restore it from HQ afresh).
    let fresh = tmp.path().join("fresh");
    let (mut hq, _) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &[]);
    run(&["store", "restore", "--data", fresh.to_str().unwrap(), "--from-hq", &hq_url, "--key", key_backup.to_str().unwrap(), "--hq-key", &hq_key]);
    kill(&mut hq);
    let (mut store, url) = start_store(&fresh, &[]);
    std::fs::remove_file(hq_dir.join("hq.db")).unwrap();
    let pulled = run(&["hq", "rebuild", "--data", h, "--hq-journal", hq_journal.to_str().unwrap(), "--from-store", &url]);
    assert!(pulled.contains(head), "{pulled}");
    kill(&mut store);
    assert_eq!(journals(&run(&["hq", "verify", "--data", h])), journals(&verified), "rebuilt from the store itself");
}

/// HQ publishes catalog and price updates; the store verifies HQ's signature, applies them
/// through its own journal, and its journal (and HQ's copy of it) still verifies.
#[test]
fn hq_catalog_updates_reach_the_store_through_its_own_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| run_ok(args, &[]);
    let pair = hq_and_store(tmp.path(), "CA-ON", "10", &[]);
    let (store_dir, code) = (pair.store_dir.clone(), pair.code.clone());
    let (s, h) = (pair.s(), pair.h());
    let hq_addr = free_addr();
    let (mut hq, hq_url) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &[]);
    run(&["store", "enroll", "--data", s, "--hq", &hq_url, "--code", &code]);

    // One new product and a new price for an existing SKU (the demo catalog's first line).
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/catalog.csv")).unwrap();
    let header = demo.lines().next().unwrap();
    let existing = demo.lines().nth(1).unwrap();
    let cols: Vec<&str> = header.split(',').collect();
    let price_col = cols.iter().position(|c| *c == "price").unwrap();
    let sku_col = cols.iter().position(|c| *c == "sku").unwrap();
    let mut repriced: Vec<String> = existing.split(',').map(str::to_string).collect();
    repriced[price_col] = "99.99".into();
    let mut new: Vec<String> = repriced.clone();
    new[sku_col] = "HQ-NEW-1".into();
    let gtin_col = cols.iter().position(|c| *c == "gtin" || *c == "barcode");
    if let Some(g) = gtin_col {
        new[g] = String::new();
    }
    let name_col = cols.iter().position(|c| *c == "name").unwrap();
    new[name_col] = format!("{} HQ edition", new[name_col]);
    let csv = tmp.path().join("update.csv");
    std::fs::write(&csv, format!("{header}\n{}\n{}\n", repriced.join(","), new.join(","))).unwrap();
    let out = run(&["hq", "publish-catalog", "--data", h, "--retailer", "acme", csv.to_str().unwrap()]);
    assert!(out.contains("catalog update 1"), "{out}");

    let (mut store, url) = start_store(&store_dir, &[]);
    let client = reqwest::blocking::Client::new();
    let token = login(&client, &url);
    let since = Instant::now();
    let (old_sku, new_sku) = (repriced[sku_col].clone(), "HQ-NEW-1");
    loop {
        let found: Value = client.get(format!("{url}/api/products?q={new_sku}")).bearer_auth(&token).send().unwrap().json().unwrap();
        if found.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(30), "the update never arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
    let old: Value = client.get(format!("{url}/api/products?q={old_sku}")).bearer_auth(&token).send().unwrap().json().unwrap();
    assert_eq!(old[0]["price_minor"], 9999, "{old}");

    // HQ's operator view: denied without the operator token, complete with it.
    wait_caught_up(&client, &url, &token, Duration::from_secs(30));
    let r = client.get(format!("{hq_url}/hq/api/v1/status")).send().unwrap();
    assert_eq!(r.status(), 401);
    let r = client.get(format!("{hq_url}/hq/api/v1/status")).bearer_auth("0".repeat(64)).send().unwrap();
    assert_eq!(r.status(), 401, "a wrong token is refused");
    let st: Value = client.get(format!("{hq_url}/hq/api/v1/status")).bearer_auth(&pair.operator_token).send().unwrap().json().unwrap();
    let row = &st["stores"][0];
    assert_eq!((row["retailer_id"].as_str(), row["integrity"].as_str(), row["lag"].as_u64()), (Some("acme"), Some("ok"), Some(0)), "{st}");
    assert!(row["last_contact_ms"].as_i64().is_some() && row["size"].as_u64().unwrap() > 24, "{st}");
    let day = chrono_like_today();
    let report: Value = client.get(format!("{hq_url}/hq/api/v1/reports/daily?date={day}")).bearer_auth(&pair.operator_token).send().unwrap().json().unwrap();
    let rows = report.as_array().unwrap_or_else(|| panic!("{report}"));
    assert!(rows.len() >= 24 && rows.iter().all(|r| r["closing_units"] == 10 && r["retailer_id"] == "acme"), "every stocked product closes at 10: {report}");
    let bad: Value = client.get(format!("{hq_url}/hq/api/v1/reports/daily?date=yesterday")).bearer_auth(&pair.operator_token).send().unwrap().json().unwrap();
    assert_eq!(bad["error"]["code"], "invalid_date");
    kill(&mut store);
    kill(&mut hq);
    // An export for a named recipient; a leaked fifth of it, shuffled, is traced back to them.
    let export = tmp.path().join("for-leaky.csv");
    run(&["hq", "report", "daily", "--data", pair.h(), "--date", &day, "--recipient", "Leaky Co", "--csv", export.to_str().unwrap()]);
    let exported = std::fs::read_to_string(&export).unwrap();
    let lines: Vec<&str> = exported.lines().collect();
    let leaked = tmp.path().join("found-online.csv");
    std::fs::write(&leaked, format!("{}\n{}\n{}\n", lines[0], lines[9], lines[3])).unwrap();
    let traced = run(&["hq", "trace-leak", "--data", pair.h(), leaked.to_str().unwrap()]);
    assert!(traced.starts_with("recipient 'Leaky Co': export ") && traced.contains("by local administrator"), "{traced}");
    let plain = tmp.path().join("plain.csv");
    std::fs::write(&plain, "sku,units\nFLW-001,3\n").unwrap();
    let o = stockade(&["hq", "trace-leak", "--data", pair.h(), plain.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no fingerprint"), "{}", text(&o));
    run(&["store", "verify", "--data", s]);
    let db = rusqlite::Connection::open_with_flags(store_dir.join("store.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let (applied, actor): (i64, String) =
        db.query_row("SELECT h.products, j.actor FROM hq_catalog h JOIN journal j ON j.seq = h.applied_seq", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((applied, actor.as_str()), (2, "hq"), "both changes, recorded in the store's own journal");
}

/// Today in the test store's zone (Ontario): HQ reports by the store's local day.
fn chrono_like_today() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    stockade_domain::local_date(chrono_tz::America::Toronto, now)
}
