//! The tree head HQ signs for a store that asks (witnessed history; once a minute by default)
//! against a heartbeat push, measured in the same run: what the witness costs HQ as the number
//! of stores grows. Other stores' heads are seeded directly in `store_heads`; one
//! real enrolled store pushes its journal, then heartbeats.
//!
//! Run: `cargo bench -p stockade-hq --bench tree_head` (STORES=1000, ROUNDS=300 by default).

use std::sync::Arc;
use std::time::Instant;
use stockade_hq::db::{Db, Val};
use stockade_hq::Hq;
use stockade_journal::Checkpoint;
use stockade_store::clock::ManualClock;
use stockade_store::{InitOptions, Store};

const START_MS: i64 = 1_795_359_600_000;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let stores = env("STORES", 1000);
    let rounds = env("ROUNDS", 300);
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let d = tmp.path().join("store");
    let opts = InitOptions { name: "Bench".into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: "bench password".into() };
    Store::init(&d, &opts, clock.clone()).unwrap();
    let store = Store::open(&d, clock, Some(1)).unwrap();
    let entries: Vec<(u64, Vec<u8>)> = store
        .read(|c| {
            Ok(c.prepare("SELECT seq, bytes FROM journal ORDER BY seq")?
                .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?
                .collect::<Result<_, _>>()?)
        })
        .unwrap();
    let store_id = store.info().store_id.clone();
    let pk = hex::encode(store.public_key().to_bytes());
    drop(store);
    let key = stockade_journal::keyfile::read(&d.join("store.key")).unwrap();

    let hq = Hq::init(&tmp.path().join("hq"), Db::open_sqlite(&tmp.path().join("hq.db")).unwrap(), "Bench HQ", Arc::new(|| START_MS)).unwrap();
    hq.add_retailer("acme", "Acme").unwrap();
    let code = hq.add_store("acme", &pk, "Bench").unwrap();
    hq.enroll(&code, &store_id, &pk).unwrap();
    let mut head = stockade_journal::GENESIS;
    for (_, b) in &entries {
        head = stockade_journal::chain_hash(&head, b);
    }
    let cp = Checkpoint { store_id: store_id.clone(), size: entries.len() as u64, head };
    let sig = cp.sign(&key);
    hq.push(&store_id, &entries, &cp, &sig, cp.size).unwrap();
    hq.db()
        .tx(|tx| {
            for s in 0..stores {
                tx.exec(
                    "INSERT INTO store_heads (retailer_id, store_id, size, head, name, jurisdiction, timezone) VALUES ('acme', $1, $2, $3, 'S', 'CA-ON', 'America/Toronto')",
                    &[format!("store-{s:05}").as_str().into(), (s as u64 * 37).into(), Val::B(vec![(s % 251) as u8; 32])],
                )?;
            }
            Ok::<_, stockade_hq::HqError>(())
        })
        .unwrap();

    // Alternate the two so both see the same machine state.
    let (mut push_ms, mut tree_ms) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        hq.push(&store_id, &[], &cp, &sig, cp.size).unwrap();
        push_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let th = hq.tree_head().unwrap();
        tree_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(th.count, stores as u64 + 1);
    }
    let (push, tree) = (p50(push_ms), p50(tree_ms));
    let bytes = serde_json::to_vec(&hq.tree_head().unwrap()).unwrap().len();
    println!(
        "stores {}: heartbeat push p50 {push:.3} ms, tree head p50 {tree:.3} ms (ratio {:.2}); tree head {} bytes on the wire",
        stores + 1,
        tree / push,
        bytes
    );
}
