//! The rollback matrix, with the real binaries: a store's database goes back in time — an old
//! copy put back, its write-ahead log deleted or cut in half, its journal truncated by SQL to
//! an old checkpoint (whose signature is still in the `checkpoints` table) — while HQ is
//! reachable at start, or unreachable while the store sells 20 sales and then back.
//!
//! Each time: the store notices before its next sale (its witness file), HQ refuses to co-sign
//! the older head and raises one `rollback` alert, the store gets HQ's copy back and re-records
//! what it sold on the stale branch after it. Afterwards every acknowledged sale is there with
//! its receipt number, no receipt number was issued twice, and `verify` is intact on both sides.

mod common;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const START_MS: i64 = 1_795_356_000_000; // 2026-11-22 14:00 UTC, 09:00 in Toronto

#[derive(Debug, Clone, Copy)]
enum Attack {
    OldCopy,
    DeletedWal,
    TruncatedWal,
    SqlTruncation,
}

fn journal_size(db: &Path) -> u64 {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row("SELECT COALESCE(MAX(seq), 0) FROM journal", [], |r| r.get::<_, i64>(0)).unwrap() as u64
}

fn wal(db: &Path) -> std::path::PathBuf {
    db.with_file_name("store.db-wal")
}

struct Register<'a> {
    client: &'a reqwest::blocking::Client,
    till: String,
    product: String,
    /// sale id → receipt number, for every sale the store acknowledged.
    acked: HashMap<String, i64>,
    n: u64,
}

impl Register<'_> {
    fn sell(&mut self, url: &str, token: &str, count: u64) -> Vec<i64> {
        let mut numbers = Vec::new();
        for _ in 0..count {
            self.n += 1;
            let r = self.client.post(format!("{url}/api/sales")).bearer_auth(token).json(&sale_body(&self.till, &self.product, self.n)).send().unwrap();
            assert!(r.status().is_success(), "sale {}: {}", self.n, r.text().unwrap());
            let v: Value = r.json().unwrap();
            let no = v["sale_no"].as_i64().unwrap();
            self.acked.insert(v["sale_id"].as_str().unwrap().to_string(), no);
            numbers.push(no);
        }
        numbers
    }
}

fn status(client: &reqwest::blocking::Client, url: &str, token: &str) -> Value {
    client.get(format!("{url}/api/status")).bearer_auth(token).send().unwrap().json().unwrap()
}

fn drill(attack: Attack, hq_up_at_start: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, START_MS.to_string()).unwrap();
    let env = [("STOCKADE_CLOCK_FILE", clock.to_str().unwrap())];
    let pair = hq_and_store(tmp.path(), "CA-ON", "100000", &env);
    let (s, h) = (pair.s(), pair.h());
    let db = pair.store_dir.join("store.db");
    let hq_addr = free_addr();
    let hq_args = ["hq", "serve", "--data", h, "--listen", &hq_addr];
    let hq_env = [("STOCKADE_HQ_CLOCK_FILE", clock.to_str().unwrap())];
    let (mut hq, hq_url) = serve(&hq_args, &hq_env);
    run_ok(&["store", "enroll", "--data", s, "--hq", &hq_url, "--code", &pair.code], &env);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    // Sales replicated to HQ, then a copy of the database (what an attacker keeps), then more
    // sales, replicated and co-signed by HQ: acknowledged twice over.
    let (mut store, url) = start_store(&pair.store_dir, &env);
    let token = login(&client, &url);
    let (till, product) = till_and_product(&client, &url, &token);
    let mut reg = Register { client: &client, till, product, acked: HashMap::new(), n: 0 };
    reg.sell(&url, &token, 10);
    wait_caught_up(&client, &url, &token, Duration::from_secs(60));
    kill(&mut store);
    let old = tmp.path().join("old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::copy(&db, old.join("store.db")).unwrap();
    if wal(&db).exists() {
        std::fs::copy(wal(&db), old.join("store.db-wal")).unwrap();
    }
    let (mut store, url) = start_store(&pair.store_dir, &env);
    let token = login(&client, &url);
    reg.sell(&url, &token, 30);
    wait_caught_up(&client, &url, &token, Duration::from_secs(60));
    kill(&mut store);
    let before = journal_size(&db);

    // The attack, on the stopped store.
    let _ = std::fs::remove_file(db.with_file_name("store.db-shm"));
    match attack {
        Attack::OldCopy => {
            std::fs::copy(old.join("store.db"), &db).unwrap();
            let _ = std::fs::remove_file(wal(&db));
            if old.join("store.db-wal").exists() {
                std::fs::copy(old.join("store.db-wal"), wal(&db)).unwrap();
            }
        }
        Attack::DeletedWal => std::fs::remove_file(wal(&db)).unwrap(),
        Attack::TruncatedWal => {
            let len = std::fs::metadata(wal(&db)).unwrap().len();
            std::fs::OpenOptions::new().write(true).open(wal(&db)).unwrap().set_len(len / 2).unwrap();
        }
        Attack::SqlTruncation => {
            // What a 30-line forger does without the key: cut the journal back to a checkpoint
            // and present that checkpoint's signature as the head's; hide the sales after it.
            let c = rusqlite::Connection::open(&db).unwrap();
            let (size, head, sig): (i64, Vec<u8>, Vec<u8>) = c
                .query_row("SELECT size, head, signature FROM checkpoints WHERE size <= ?1 ORDER BY size DESC LIMIT 1", [before as i64 - 20], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .unwrap();
            c.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
            c.execute("DELETE FROM journal WHERE seq > ?1", [size]).unwrap();
            c.execute("DELETE FROM checkpoints WHERE size > ?1", [size]).unwrap();
            c.execute("DELETE FROM sale_lines WHERE sale_id IN (SELECT sale_id FROM sales WHERE seq > ?1)", [size]).unwrap();
            c.execute("DELETE FROM sale_tenders WHERE sale_id IN (SELECT sale_id FROM sales WHERE seq > ?1)", [size]).unwrap();
            c.execute("DELETE FROM sales WHERE seq > ?1", [size]).unwrap();
            c.execute("UPDATE head SET size = ?1, hash = ?2, signature = ?3", rusqlite::params![size, head, sig]).unwrap();
        }
    }
    let after = journal_size(&db);
    assert!(after < before, "{attack:?}: the attack took the journal back ({before} → {after})");

    if !hq_up_at_start {
        kill(&mut hq);
    }
    let (mut store, url) = start_store(&pair.store_dir, &env);
    let token = login(&client, &url);
    let mut stale_numbers = Vec::new();
    if !hq_up_at_start {
        // Offline, behind: it knows (its witness) and sells on, never reusing a receipt number.
        let st = status(&client, &url, &token);
        assert!(st["integrity"].as_str().unwrap().starts_with("behind"), "{attack:?}: {st}");
        stale_numbers = reg.sell(&url, &token, 20);
        let (hq2, _) = serve(&hq_args, &hq_env);
        hq = hq2;
    }
    let since = Instant::now();
    loop {
        let st = status(&client, &url, &token);
        if st["integrity"] == "ok" && st["unreplicated_entries"] == 0 && st["journal_size"].as_i64().unwrap() as u64 >= before {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(90), "{attack:?}, HQ up at start {hq_up_at_start}: not reconciled: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Every acknowledged sale is there with its receipt number; none was issued twice.
    for (id, no) in &reg.acked {
        let r = client.get(format!("{url}/api/sales/{id}")).bearer_auth(&token).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{attack:?}: acknowledged sale {id} lost");
        assert_eq!(r.json::<Value>().unwrap()["sale_no"].as_i64(), Some(*no), "{attack:?}: sale {id} changed its receipt number");
    }
    let numbers: std::collections::HashSet<i64> = reg.acked.values().copied().collect();
    assert_eq!(numbers.len(), reg.acked.len(), "{attack:?}: a receipt number was issued twice");
    let next = reg.sell(&url, &token, 3);
    assert!(next.iter().all(|n| !numbers.contains(n)), "{attack:?}: receipt number issued again: {next:?}");
    assert_eq!(stale_numbers.len(), if hq_up_at_start { 0 } else { 20 });
    wait_caught_up(&client, &url, &token, Duration::from_secs(60));
    kill(&mut store);
    kill(&mut hq);

    // HQ raised one rollback alert for the incident, and both sides verify.
    let hq_status: Value = serde_json::from_str(&run_ok(&["hq", "status", "--data", h], &[])).unwrap();
    let alerts: Vec<&Value> = hq_status["alerts"].as_array().unwrap().iter().filter(|a| a["kind"] == "rollback").collect();
    assert!(!alerts.is_empty(), "{attack:?}: HQ raised no rollback alert: {hq_status}");
    run_ok(&["store", "verify", "--data", s], &env);
    run_ok(&["hq", "verify", "--data", h], &[]);
    let st: Value = serde_json::from_str(&run_ok(&["store", "status", "--data", s], &env)).unwrap();
    let at_hq = hq_status["stores"][0]["size"].as_i64().unwrap();
    assert_eq!(st["journal_size"].as_i64(), Some(at_hq), "{attack:?}: HQ holds the store's whole journal");
}

#[test]
fn an_old_copy_of_the_database_with_hq_reachable_at_start() {
    drill(Attack::OldCopy, true);
}

#[test]
fn an_old_copy_of_the_database_while_hq_is_unreachable() {
    drill(Attack::OldCopy, false);
}

#[test]
fn a_deleted_write_ahead_log_with_hq_reachable_at_start() {
    drill(Attack::DeletedWal, true);
}

#[test]
fn a_deleted_write_ahead_log_while_hq_is_unreachable() {
    drill(Attack::DeletedWal, false);
}

#[test]
fn a_write_ahead_log_cut_in_half_with_hq_reachable_at_start() {
    drill(Attack::TruncatedWal, true);
}

#[test]
fn a_write_ahead_log_cut_in_half_while_hq_is_unreachable() {
    drill(Attack::TruncatedWal, false);
}

#[test]
fn a_journal_truncated_by_sql_with_hq_reachable_at_start() {
    drill(Attack::SqlTruncation, true);
}

#[test]
fn a_journal_truncated_by_sql_while_hq_is_unreachable() {
    drill(Attack::SqlTruncation, false);
}

/// The case no copy can save: sales the store made while HQ was away, lost with its database
/// before they were replicated. The store is not stuck: it reconciles with what HQ holds, says
/// how many witnessed entries were lost (an `entries_lost` alert reaches HQ), never reissues
/// their receipt numbers, and both sides verify.
#[test]
fn entries_lost_before_they_reached_hq_are_named_and_their_receipt_numbers_retired() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, START_MS.to_string()).unwrap();
    let env = [("STOCKADE_CLOCK_FILE", clock.to_str().unwrap())];
    let pair = hq_and_store(tmp.path(), "CA-ON", "100000", &env);
    let (s, h) = (pair.s(), pair.h());
    let db = pair.store_dir.join("store.db");
    let hq_addr = free_addr();
    let hq_args = ["hq", "serve", "--data", h, "--listen", &hq_addr];
    let hq_env = [("STOCKADE_HQ_CLOCK_FILE", clock.to_str().unwrap())];
    let (mut hq, hq_url) = serve(&hq_args, &hq_env);
    run_ok(&["store", "enroll", "--data", s, "--hq", &hq_url, "--code", &pair.code], &env);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    let (mut store, url) = start_store(&pair.store_dir, &env);
    let token = login(&client, &url);
    let (till, product) = till_and_product(&client, &url, &token);
    let mut reg = Register { client: &client, till, product, acked: HashMap::new(), n: 0 };
    reg.sell(&url, &token, 10);
    wait_caught_up(&client, &url, &token, Duration::from_secs(60));
    kill(&mut hq); // HQ away from here
    let replicated: Vec<String> = reg.acked.keys().cloned().collect();
    reg.sell(&url, &token, 10);
    kill(&mut store);
    let copy = tmp.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(&db, copy.join("store.db")).unwrap();
    if wal(&db).exists() {
        std::fs::copy(wal(&db), copy.join("store.db-wal")).unwrap();
    }
    let in_copy: Vec<String> = reg.acked.keys().cloned().collect();
    let (mut store, url) = start_store(&pair.store_dir, &env);
    let token = login(&client, &url);
    let lost_numbers = reg.sell(&url, &token, 10); // only on this disk: lost below
    kill(&mut store);
    std::fs::copy(copy.join("store.db"), &db).unwrap();
    let _ = std::fs::remove_file(wal(&db));
    let _ = std::fs::remove_file(db.with_file_name("store.db-shm"));
    if copy.join("store.db-wal").exists() {
        std::fs::copy(copy.join("store.db-wal"), wal(&db)).unwrap();
    }

    // Behind its witness, HQ away: it sells on, above every number it ever issued.
    let (mut store, url) = start_store(&pair.store_dir, &env);
    let token = login(&client, &url);
    let st = status(&client, &url, &token);
    assert!(st["integrity"].as_str().unwrap().starts_with("behind"), "{st}");
    let stale = reg.sell(&url, &token, 20);
    let max_lost = *lost_numbers.iter().max().unwrap();
    assert!(stale.iter().all(|n| *n > max_lost), "receipt numbers of the lost sales reissued: {stale:?} vs {lost_numbers:?}");
    let (hq2, _) = serve(&hq_args, &hq_env);
    hq = hq2;
    let since = Instant::now();
    loop {
        let st = status(&client, &url, &token);
        if st["integrity"] == "ok" && st["unreplicated_entries"] == 0 {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(90), "not reconciled: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Everything the copy held, and everything sold since, is there; the 10 lost are not.
    for id in in_copy.iter().chain(replicated.iter()) {
        let r = client.get(format!("{url}/api/sales/{id}")).bearer_auth(&token).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "sale {id} lost");
    }
    let stale_ids: Vec<&String> = reg.acked.iter().filter(|(_, n)| stale.contains(n)).map(|(id, _)| id).collect();
    for id in stale_ids {
        let r = client.get(format!("{url}/api/sales/{id}")).bearer_auth(&token).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "stale-branch sale {id} lost");
    }
    kill(&mut store);
    kill(&mut hq);
    let hq_status: Value = serde_json::from_str(&run_ok(&["hq", "status", "--data", h], &[])).unwrap();
    let lost_alert = hq_status["alerts"].as_array().unwrap().iter().find(|a| a["kind"] == "entries_lost").cloned();
    let lost_alert = lost_alert.unwrap_or_else(|| panic!("HQ heard of the lost entries: {hq_status}"));
    assert!(lost_alert["message"].as_str().unwrap().starts_with("10 entries"), "{lost_alert}");
    run_ok(&["store", "verify", "--data", s], &env);
    run_ok(&["hq", "verify", "--data", h], &[]);
}
