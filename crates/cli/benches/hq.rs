//! HQ rates against the raw hashing rate of the same bytes, measured in the same run:
//! replication (store → HQ over HTTP on loopback, signed requests, batches of 1,000), `hq verify`
//! and `hq rebuild`, on SQLite and (when `STOCKADE_TEST_POSTGRES` is set) PostgreSQL.
//! Run: `cargo bench -p stockade --bench hq`. ENTRIES (default 1,000,000) and PG_ENTRIES
//! (default 100,000) set the journal sizes.

use std::sync::Arc;
use std::time::Instant;
use stockade_hq::db::Db;
use stockade_hq::Hq;
use stockade_journal::{Envelope, Event, StoredEntry};
use stockade_store::clock::ManualClock;
use stockade_store::{InitOptions, Store};

const START_MS: i64 = 1_795_359_600_000;

/// A real store's journal (init, catalog, stock, a few sales), then synthetic sales cloned from
/// a real sale entry up to `n` entries, each with its own sale id. Returns (entries, key).
fn journal(dir: &std::path::Path, n: u64) -> (Vec<(u64, Vec<u8>)>, ed25519_dalek::SigningKey, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let d = dir.join("store");
    let opts = InitOptions { name: "Bench".into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: "bench password".into() };
    Store::init(&d, &opts, clock.clone()).unwrap();
    let store = Store::open(&d, clock.clone(), Some(1)).unwrap();
    rt.block_on(async {
        let boss = store.first_manager().unwrap();
        store.import_products(&boss, include_bytes!("../demo/catalog.csv").to_vec(), false).await.unwrap();
        store.receive_all(&boss, 1_000_000).await.unwrap();
        store.simulate(&boss, 5, 1, |_| {}).await.unwrap();
    });
    let mut entries: Vec<(u64, Vec<u8>)> = store
        .read(|c| {
            Ok(c.prepare("SELECT seq, bytes FROM journal ORDER BY seq")?
                .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?
                .collect::<Result<_, _>>()?)
        })
        .unwrap();
    let template = Envelope::decode(&entries.last().unwrap().1).unwrap();
    let store_id = store.info().store_id.clone();
    drop(store);
    let mut prev = [0u8; 32];
    for (_, b) in &entries {
        prev = stockade_journal::chain_hash(&prev, b);
    }
    while (entries.len() as u64) < n {
        let seq = entries.len() as u64 + 1;
        let mut env = template.clone();
        env.seq = seq;
        env.at_ms = START_MS + seq as i64 * 1000;
        if let Event::SaleRecorded { sale_id, sale_no, idempotency_key, .. } = &mut env.event {
            *sale_id = format!("bench-{seq}");
            *sale_no = seq;
            *idempotency_key = None;
        }
        let e = StoredEntry::seal(&env, prev).unwrap();
        prev = e.hash;
        entries.push((seq, e.bytes));
    }
    let key = stockade_journal::keyfile::read(&d.join("store.key")).unwrap();
    (entries, key, store_id)
}

fn rate(n: usize, t: std::time::Duration) -> f64 {
    n as f64 / t.as_secs_f64()
}

fn hashing_rate(entries: &[(u64, Vec<u8>)]) -> f64 {
    let t = Instant::now();
    let mut h = [0u8; 32];
    for (_, b) in entries {
        h = stockade_journal::chain_hash(&h, b);
    }
    std::hint::black_box(h);
    rate(entries.len(), t.elapsed())
}

fn run(engine: &str, db: Db, rebuild_db: Db, dir: &std::path::Path, entries: &[(u64, Vec<u8>)], key: &ed25519_dalek::SigningKey, store_id: &str) {
    let hash = hashing_rate(entries);
    let hq = Arc::new(Hq::init(&dir.join(format!("hq-{engine}")), db, "Bench HQ", stockade_hq::system_clock()).unwrap());
    hq.add_retailer("acme", "Acme").unwrap();
    let pk = hex::encode(key.verifying_key().to_bytes());
    let code = hq.add_store("acme", &pk, "Bench").unwrap();
    hq.enroll(&code, store_id, &pk).unwrap();

    // Replication over HTTP on loopback: the wire format and signatures the replicator uses.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(stockade_web::hq::serve_hq(hq.clone(), stockade_sync::DEFAULT_MAX_SKEW_MS, listener, std::future::pending()));
    let client = reqwest::blocking::Client::new();
    let mut head = [0u8; 32];
    let t = Instant::now();
    for chunk in entries.chunks(1000) {
        for (_, b) in chunk {
            head = stockade_journal::chain_hash(&head, b);
        }
        let size = chunk.last().unwrap().0;
        let cp = stockade_journal::Checkpoint { store_id: store_id.into(), size, head };
        let body = serde_json::to_vec(&stockade_sync::PushRequest {
            store_id: store_id.into(),
            store_size: entries.len() as u64,
            entries: chunk.iter().map(|(seq, b)| stockade_sync::WireEntry { seq: *seq, entry: String::from_utf8(b.clone()).unwrap() }).collect(),
            checkpoint: stockade_journal::SignedCheckpoint { size, head: hex::encode(head), signature: hex::encode(cp.sign(key)), hq_signature: None },
            problem: None,
            want_tree_head: false,
        })
        .unwrap();
        let now = chrono_now();
        let sig = ed25519_dalek::Signer::sign(key, &stockade_sync::request_message(&pk, "POST", "/hq/api/v1/push", now, &body)).to_bytes();
        let r = client
            .post(format!("{base}/hq/api/v1/push"))
            .header(stockade_sync::HEADER_KEY, &pk)
            .header(stockade_sync::HEADER_TIME, now.to_string())
            .header(stockade_sync::HEADER_SIGNATURE, hex::encode(sig))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text());
    }
    let push = rate(entries.len(), t.elapsed());

    let t = Instant::now();
    let report = stockade_hq::verify::verify(&hq).unwrap();
    let verify = rate(entries.len(), t.elapsed());
    assert_eq!(report.entries, entries.len() as u64);

    let hq_backup = stockade_journal::backup::decode(std::str::from_utf8(&hq.backup_hq_journal().unwrap()).unwrap()).unwrap();
    let store_backup = stockade_journal::backup::decode(std::str::from_utf8(&hq.backup_store(store_id).unwrap()).unwrap()).unwrap();
    let digests = hq.digests().unwrap();
    let t = Instant::now();
    let (_, rebuilt) =
        stockade_hq::rebuild::rebuild(&dir.join(format!("hq-{engine}")), rebuild_db, &hq_backup, &[store_backup], stockade_hq::system_clock()).unwrap();
    let rebuild = rate(entries.len(), t.elapsed());
    assert_eq!(rebuilt.digests, digests, "rebuild reproduces every table");

    println!("{engine}: {} entries", entries.len());
    println!("  raw chain hashing of the same bytes   {:>12.0} entries/s", hash);
    println!("  replication over HTTP (batches 1000)  {:>12.0} entries/s   ratio to hashing {:.4}", push, push / hash);
    println!("  hq verify                             {:>12.0} entries/s   ratio to hashing {:.4}", verify, verify / hash);
    println!("  hq rebuild                            {:>12.0} entries/s   ratio to hashing {:.4}", rebuild, rebuild / hash);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn main() {
    let n: u64 = std::env::var("ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (entries, key, store_id) = journal(tmp.path(), n);
    run(
        "sqlite",
        Db::open_sqlite(&tmp.path().join("hq.db")).unwrap(),
        Db::open_sqlite(&tmp.path().join("rebuilt.db")).unwrap(),
        tmp.path(),
        &entries,
        &key,
        &store_id,
    );
    if let Ok(url) = std::env::var("STOCKADE_TEST_POSTGRES") {
        let pg_n: usize = std::env::var("PG_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
        let suffix = chrono_now();
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let (a, b) = (format!("stockade_bench_{suffix}"), format!("stockade_bench_{suffix}_rebuilt"));
        admin.batch_execute(&format!("CREATE DATABASE {a}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {b}")).unwrap();
        let with = |db: &str| format!("{}/{db}", url.rsplit_once('/').unwrap().0);
        run(
            "postgres",
            Db::connect_postgres(&with(&a)).unwrap(),
            Db::connect_postgres(&with(&b)).unwrap(),
            tmp.path(),
            &entries[..pg_n.min(entries.len())],
            &key,
            &store_id,
        );
        let _ = admin.batch_execute(&format!("DROP DATABASE {a} WITH (FORCE)"));
        let _ = admin.batch_execute(&format!("DROP DATABASE {b} WITH (FORCE)"));
    }
}
