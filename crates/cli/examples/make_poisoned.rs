//! A release-1 store whose journal holds the "poison" sequence the first release let through:
//! a stock count of i64::MAX units, then an ordinary receipt of the same product (whose stock
//! then overflows), then ordinary receipts of other products. Later releases must name these entries, never answer 500.
//!
//! ```sh
//! cargo run -p stockade --example make_poisoned -- crates/cli/tests/golden/r1
//! ```

use anyhow::{ensure, Context, Result};
use std::sync::Arc;
use stockade_store::clock::ManualClock;
use stockade_store::commands::{CountLineRequest, CountRequest, ReceiveLineRequest, ReceiveRequest};
use stockade_store::{InitOptions, Store};

const START_MS: i64 = 1_795_359_600_000;

fn main() -> Result<()> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).context("usage: make_poisoned OUTDIR")?);
    let dir = out.join("store-poisoned");
    ensure!(!dir.exists(), "{} exists: released fixtures are never regenerated", dir.display());
    let clock = Arc::new(ManualClock::new(START_MS));
    let opts = InitOptions {
        name: "Poisoned St".into(),
        jurisdiction: "CA-ON".into(),
        manager_username: "manager".into(),
        manager_password: "golden-r1 manager password".into(),
    };
    Store::init(&dir, &opts, clock.clone())?;
    let store = Store::open(&dir, clock.clone(), Some(11))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/catalog.csv"))?;
    let (poisoned, count_seq, receipt_seq) = rt.block_on(async {
        let boss = store.first_manager()?;
        store.import_products(&boss, csv, false).await?;
        store.receive_all(&boss, 50).await?;
        clock.advance(60_000);
        let product_id: String = store.read(|c| Ok(c.query_row("SELECT product_id FROM products ORDER BY sku LIMIT 1", [], |r| r.get(0))?))?;
        store.count(&boss, CountRequest { lines: vec![CountLineRequest { product_id: product_id.clone(), counted: i64::MAX }] }).await?;
        let count_seq: i64 = store.read(|c| Ok(c.query_row("SELECT MAX(seq) FROM journal", [], |r| r.get(0))?))?;
        clock.advance(60_000);
        let r = store
            .receive(
                &boss,
                ReceiveRequest {
                    supplier: "OCS".into(),
                    document: "INV-POISON".into(),
                    lines: vec![ReceiveLineRequest {
                        product_id: product_id.clone(),
                        quantity: 5,
                        lot_code: "L-5".into(),
                        package_tag: None,
                        unit_cost_minor: 100,
                        lab_thc_mg: None,
                    }],
                },
            )
            .await?;
        clock.advance(60_000);
        // Later, ordinary entries about other products (release 1 itself could no longer read
        // the poisoned product's row: its stock had become a float).
        let others: Vec<String> = store.read(|c| {
            Ok(c.prepare("SELECT product_id FROM products ORDER BY sku LIMIT 3 OFFSET 1")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
        })?;
        for (i, other) in others.iter().enumerate() {
            store
                .receive(
                    &boss,
                    ReceiveRequest {
                        supplier: "OCS".into(),
                        document: format!("INV-LATER-{i}"),
                        lines: vec![ReceiveLineRequest {
                            product_id: other.clone(),
                            quantity: 7,
                            lot_code: format!("L-{i}"),
                            package_tag: None,
                            unit_cost_minor: 250,
                            lab_thc_mg: None,
                        }],
                    },
                )
                .await?;
        }
        anyhow::Ok((product_id, count_seq, r.seq))
    })?;
    let size: i64 = store.read(|c| Ok(c.query_row("SELECT MAX(seq) FROM journal", [], |r| r.get(0))?))?;
    std::fs::write(out.join("store-poisoned.backup"), store.backup()?)?;
    drop(store);
    drop(rt);
    let c = rusqlite::Connection::open(dir.join("store.db"))?;
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    drop(c);
    for s in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("store.db{s}")));
    }
    let manifest = serde_json::json!({
        "product_id": poisoned,
        "count_seq": count_seq,
        "receipt_seq": receipt_seq,
        "journal_size": size,
        "manager": "manager",
        "password": "golden-r1 manager password",
    });
    std::fs::write(out.join("store-poisoned.json"), serde_json::to_string_pretty(&manifest)?)?;
    println!("{manifest}");
    Ok(())
}
