//! The witness file against a database that goes back in time, at the store level: a history
//! rewritten without the key is refused even when it looks like a rollback, and a second
//! rollback while already on a stale branch is noticed, with receipt numbers never reissued.

use std::path::Path;
use std::sync::Arc;
use stockade_store::clock::ManualClock;
use stockade_store::{InitOptions, Store};

const START_MS: i64 = 1_795_359_600_000;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(START_MS))
}

fn new_store(dir: &Path) {
    let opts = InitOptions { name: "T".into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: "long password".into() };
    Store::init(dir, &opts, clock()).unwrap();
    let store = Store::open(dir, clock(), Some(1)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let boss = store.first_manager().unwrap();
        let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../cli/demo/catalog.csv")).unwrap();
        store.import_products(&boss, csv, false).await.unwrap();
        store.receive_all(&boss, 1000).await.unwrap();
    });
    sell(dir, 10, 1);
}

/// `n` sales in a fresh open of the store; returns their receipt numbers.
fn sell(dir: &Path, n: u64, seed: u64) -> Vec<i64> {
    let store = Store::open(dir, clock(), Some(seed)).unwrap();
    let before = max_sale_no(&store);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let boss = store.first_manager().unwrap();
        store.simulate(&boss, n, seed, |_| {}).await.unwrap();
    });
    let numbers = store
        .read(|c| {
            Ok(c.prepare("SELECT sale_no FROM sales WHERE sale_no > ?1 ORDER BY sale_no")?
                .query_map([before], |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>()?)
        })
        .unwrap();
    assert_eq!(numbers.len() as u64, n);
    numbers
}

fn max_sale_no(store: &Store) -> i64 {
    store.read(|c| Ok(c.query_row("SELECT COALESCE(MAX(sale_no), 0) FROM sales", [], |r| r.get(0))?)).unwrap()
}

fn copy_db(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["store.db", "store.db-wal"] {
        let _ = std::fs::remove_file(to.join(f));
        if from.join(f).exists() {
            std::fs::copy(from.join(f), to.join(f)).unwrap();
        }
    }
    let _ = std::fs::remove_file(to.join("store.db-shm"));
}

#[test]
fn a_history_rewritten_without_the_key_is_refused_even_when_it_looks_like_a_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    new_store(&dir);
    // Entry 5 changed, the chain recomputed after it, the last entries dropped so the database
    // is "behind" its witness: what a forger without the key can do.
    {
        let c = rusqlite::Connection::open(dir.join("store.db")).unwrap();
        let rows: Vec<(i64, Vec<u8>)> = c
            .prepare("SELECT seq, bytes FROM journal ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let keep = rows.len() - 3;
        let mut prev: [u8; 32] = c.query_row("SELECT hash FROM journal WHERE seq = 4", [], |r| r.get::<_, Vec<u8>>(0)).unwrap().try_into().unwrap();
        for (seq, bytes) in rows.iter().take(keep).skip(4) {
            let mut text = String::from_utf8(bytes.clone()).unwrap();
            if *seq == 5 {
                let at = text.find("\"at_ms\":").unwrap() + 8;
                text.insert(at, '1'); // another time: another history
                let ms: i64 = text[at..].split(|ch: char| !ch.is_ascii_digit()).next().unwrap().parse().unwrap();
                c.execute("UPDATE journal SET recorded_at = ?1 WHERE seq = 5", [ms]).unwrap();
            }
            let hash = stockade_journal::chain_hash(&prev, text.as_bytes());
            c.execute("UPDATE journal SET bytes = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4", rusqlite::params![text.as_bytes(), &prev[..], &hash[..], seq])
                .unwrap();
            prev = hash;
        }
        c.execute("DELETE FROM journal WHERE seq > ?1", [keep as i64]).unwrap();
        c.execute("DELETE FROM checkpoints WHERE size >= 5", []).unwrap();
        c.execute("UPDATE head SET size = ?1, hash = ?2", rusqlite::params![keep as i64, &prev[..]]).unwrap();
    }
    let err = Store::open(&dir, clock(), None).err().expect("a forged history is refused, not re-signed");
    assert!(err.to_string().contains("no signature of the store covers it"), "{err}");
}

#[test]
fn a_second_rollback_on_a_stale_branch_is_noticed_and_receipt_numbers_are_never_reissued() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    new_store(&dir);
    let a = tmp.path().join("a");
    copy_db(&dir, &a);
    let mut issued = sell(&dir, 5, 2);
    // First rollback: back to copy A. The store notices at once and sells on a stale branch.
    copy_db(&a, &dir);
    {
        let store = Store::open(&dir, clock(), None).unwrap();
        assert!(store.health().stale(), "the rollback is noticed at start");
    }
    let b = tmp.path().join("b");
    copy_db(&dir, &b);
    issued.extend(sell(&dir, 5, 3));
    // Second rollback, to a copy taken on the stale branch: noticed again.
    copy_db(&b, &dir);
    let store = Store::open(&dir, clock(), None).unwrap();
    assert!(store.health().stale());
    let alerts: i64 = store.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM store_alerts WHERE kind = 'rollback'", [], |r| r.get(0))?)).unwrap();
    assert_eq!(alerts, 2, "each rollback is journaled as an alert");
    drop(store);
    let next = sell(&dir, 5, 4);
    for n in &next {
        assert!(!issued.contains(n), "receipt number {n} issued again (issued before: {issued:?})");
    }
}

#[test]
fn repair_refuses_while_the_store_is_open_and_when_the_evidence_falls_short() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    new_store(&dir);
    let salvage = stockade_store::repair::salvage(&dir).unwrap();
    {
        let _open = Store::open(&dir, clock(), None).unwrap();
        let err = stockade_store::repair::repair(&dir, &salvage, None, &[], START_MS).unwrap_err();
        assert!(err.to_string().contains("the store is open"), "{err}");
    }
    // The journal's last entries unreadable (gone), the witness gone too: the signed head still
    // says how far the journal went, so a repair from what is left is refused.
    {
        let c = rusqlite::Connection::open(dir.join("store.db")).unwrap();
        c.execute("DELETE FROM journal WHERE seq > (SELECT MAX(seq) - 5 FROM journal)", []).unwrap();
    }
    std::fs::remove_file(dir.join("store.witness")).unwrap();
    let salvage = stockade_store::repair::salvage(&dir).unwrap();
    let err = stockade_store::repair::repair(&dir, &salvage, None, &[], START_MS).unwrap_err();
    assert!(err.to_string().contains("the damaged file shows the journal went to entry"), "{err}");
    assert!(
        dir.join("store.db").exists() && !std::fs::read_dir(&dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("damaged-")),
        "nothing was changed"
    );
}
