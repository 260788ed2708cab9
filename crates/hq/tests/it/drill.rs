//! Corruption drill: random single-row changes, deletions and insertions anywhere in HQ's
//! evidence and derived tables; `verify` must find every one. Each corruption is undone before
//! the next, so one database serves the whole drill on either engine.

use crate::fixture::*;
use rand::{Rng, SeedableRng};
use stockade_hq::db::{Tx, Val};

/// Every table `verify` vouches for: (name, key columns, all columns).
const TABLES: &[(&str, &[&str], &[&str])] = &[
    ("hq_journal", &["seq"], &["seq", "at_ms", "kind", "bytes", "hash"]),
    ("hq_head", &["id"], &["id", "size", "hash", "signature"]),
    ("entries", &["retailer_id", "store_id", "seq"], &["retailer_id", "store_id", "seq", "at_ms", "kind", "bytes", "hash"]),
    ("checkpoints", &["retailer_id", "store_id", "size"], &["retailer_id", "store_id", "size", "prev_size", "head", "store_signature", "hq_signature"]),
];

fn all_tables() -> Vec<(&'static str, &'static [&'static str], &'static [&'static str])> {
    TABLES.iter().copied().chain(stockade_hq::schema::DERIVED.iter().copied()).collect()
}

type Undo = Box<dyn Fn(&mut dyn Tx)>;

fn changed(v: &Val, rng: &mut impl Rng) -> Val {
    match v {
        Val::Null => Val::I(1),
        Val::I(i) => Val::I(i + rng.gen_range(1..3)),
        Val::T(t) => Val::T(format!("{t}x")),
        Val::B(b) if b.is_empty() => Val::B(vec![1]),
        Val::B(b) => {
            let mut b = b.clone();
            let i = rng.gen_range(0..b.len());
            b[i] ^= 1 << rng.gen_range(0..8);
            Val::B(b)
        }
    }
}

fn where_key(keys: &[&str], offset: usize) -> String {
    keys.iter().enumerate().map(|(i, k)| format!("{k} = ${}", i + 1 + offset)).collect::<Vec<_>>().join(" AND ")
}

fn insert_sql(table: &str, cols: &[&str]) -> String {
    let ph: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    format!("INSERT INTO {table} ({}) VALUES ({})", cols.join(", "), ph.join(", "))
}

#[test]
fn every_single_row_corruption_of_hq_is_detected_and_named() {
    let runs: usize = std::env::var("STOCKADE_DRILL_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let tmp = tempfile::tempdir().unwrap();
    let fx = store(tmp.path(), "Queen St", 30);
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        enrol(&hq, &fx);
        push_all(&hq, &fx, 20);
        let pristine = stockade_hq::verify::verify(&hq).unwrap();
        let pristine_digests = hq.digests().unwrap();
        let hq_backup = stockade_journal::backup::decode(std::str::from_utf8(&hq.backup_hq_journal().unwrap()).unwrap()).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
        let tables = all_tables();
        let mut kinds = [0usize; 3];
        let mut run = 0;
        while kinds.iter().sum::<usize>() < runs {
            run += 1;
            let (table, keys, cols) = tables[rng.gen_range(0..tables.len())];
            let rows = hq.db().tx(|t: &mut dyn Tx| t.query(&format!("SELECT {} FROM {table}", cols.join(", ")), &[])).unwrap();
            if rows.is_empty() {
                continue;
            }
            let row = rows[rng.gen_range(0..rows.len())].clone();
            let key: Vec<Val> = row[..keys.len()].to_vec();
            let op = rng.gen_range(0..3);
            let what;
            let undo: Undo;
            match op {
                0 => {
                    let c = rng.gen_range(0..cols.len());
                    let new = changed(&row[c], &mut rng);
                    what = format!("change {table}.{} of {key:?}", cols[c]);
                    let mut p = vec![new];
                    p.extend(key.clone());
                    let sql = format!("UPDATE {table} SET {} = $1 WHERE {}", cols[c], where_key(keys, 1));
                    if hq.db().tx(|t| t.exec(&sql, &p)).is_err() {
                        continue; // the database itself refuses it (a duplicate key): not a corruption
                    }
                    let mut new_key = key.clone();
                    if c < keys.len() {
                        new_key[c] = p[0].clone();
                    }
                    let (row, cols) = (row.clone(), cols.to_vec());
                    undo = Box::new(move |t| {
                        let mut p = vec![row[c].clone()];
                        p.extend(new_key.clone());
                        t.exec(&format!("UPDATE {table} SET {} = $1 WHERE {}", cols[c], where_key(keys, 1)), &p).unwrap();
                    });
                }
                1 => {
                    what = format!("delete {table} row {key:?}");
                    hq.db().tx(|t| t.exec(&format!("DELETE FROM {table} WHERE {}", where_key(keys, 0)), &key)).unwrap();
                    let (row, cols) = (row.clone(), cols.to_vec());
                    undo = Box::new(move |t| {
                        t.exec(&insert_sql(table, &cols), &row).unwrap();
                    });
                }
                _ => {
                    let mut copy = row.clone();
                    let k = keys.len() - 1;
                    copy[k] = match &copy[k] {
                        Val::I(i) => Val::I(i + 1_000_000),
                        Val::T(t) => Val::T(format!("{t}-copy")),
                        other => other.clone(),
                    };
                    what = format!("insert into {table} a copy of {key:?}");
                    if hq.db().tx(|t| t.exec(&insert_sql(table, cols), &copy)).is_err() {
                        continue;
                    }
                    let new_key = copy[..keys.len()].to_vec();
                    undo = Box::new(move |t| {
                        t.exec(&format!("DELETE FROM {table} WHERE {}", where_key(keys, 0)), &new_key).unwrap();
                    });
                }
            }
            kinds[op] += 1;
            match stockade_hq::verify::verify(&hq) {
                Ok(_) => panic!("{}: run {run}: undetected: {what}", b.name),
                Err(Ok(finding)) => assert!(!finding.to_string().is_empty()),
                Err(Err(e)) => panic!("{}: run {run}: verify could not run after {what}: {e}", b.name),
            }
            hq.db()
                .tx(|t| {
                    undo(t);
                    Ok::<_, stockade_hq::HqError>(())
                })
                .unwrap();
        }
        let after = stockade_hq::verify::verify(&hq).unwrap_or_else(|e| panic!("{}: undo left damage: {e:?}", b.name));
        assert_eq!(after.heads, pristine.heads);
        assert!(kinds.iter().all(|k| *k > runs / 5), "{}: all three kinds of corruption were tried: {kinds:?}", b.name);
        eprintln!("{}: {runs} corruptions detected ({} changes, {} deletions, {} insertions)", b.name, kinds[0], kinds[1], kinds[2]);

        // Now damage HQ for real (a deleted entry, an altered sale, a forged stock row) and
        // rebuild it from HQ's journal backup and the store's own backup.
        hq.db()
            .tx(|t| t.batch("DELETE FROM entries WHERE seq = 40; UPDATE daily_sales SET units_sold = units_sold + 5; UPDATE stock SET on_hand = 0"))
            .unwrap();
        assert!(stockade_hq::verify::verify(&hq).is_err());
        let store_backup = stockade_journal::backup::decode(std::str::from_utf8(&fx.store.backup().unwrap()).unwrap()).unwrap();
        let hq_dir = tmp.path().join(format!("hq-{}", b.name));
        let (rebuilt, report) =
            stockade_hq::rebuild::rebuild(&hq_dir, (b.open)("rebuilt"), &hq_backup, std::slice::from_ref(&store_backup), std::sync::Arc::new(|| START_MS))
                .unwrap();
        assert_eq!(report.digests, pristine_digests, "{}: every derived table and journal digest equals the original", b.name);
        assert_eq!(report.stores, pristine.heads, "{}: same head hashes", b.name);
        let v = stockade_hq::verify::verify(&rebuilt).unwrap();
        assert_eq!((v.entries, v.derived_rows, v.checkpoints), (pristine.entries, pristine.derived_rows, pristine.checkpoints), "{}", b.name);

        // A tampered backup is refused before anything is written.
        let mut forged = store_backup.clone();
        let env = String::from_utf8(forged.entries[20].1.clone()).unwrap().replacen("\"at_ms\":", "\"at_ms\":1", 1);
        forged.entries[20].1 = env.into_bytes();
        let r = stockade_hq::rebuild::rebuild(&hq_dir, (b.open)("refused"), &hq_backup, &[forged], std::sync::Arc::new(|| START_MS));
        assert!(r.is_err(), "{}: a tampered backup must be refused", b.name);
    }
}
