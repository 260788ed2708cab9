//! Tampering: changing, deleting or inserting any single row of the journal, the signed head or
//! a projection table is detected by `verify`, which names the entry or the projection.

use rand::{Rng, SeedableRng};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use std::path::Path;
use std::sync::Arc;
use stockade_domain::orders::OrderAction;
use stockade_store::clock::ManualClock;
use stockade_store::commands::*;
use stockade_store::schema::PROJECTIONS;
use stockade_store::verify::{verify_store, Finding};
use stockade_store::{InitOptions, Store};

const START_MS: i64 = 1_795_359_600_000;

/// A store with products, lots, sales, a void, a return, counts, adjustments and tills.
fn build_store(dir: &Path) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let opts = InitOptions { name: "T".into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: "long password".into() };
    Store::init(dir, &opts, clock.clone()).unwrap();
    let store = Store::open(dir, clock.clone(), Some(1)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let boss = store.first_manager().unwrap();
        let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../cli/demo/catalog.csv")).unwrap();
        store.import_products(&boss, csv, false).await.unwrap();
        let products = store.read(|c| stockade_store::queries::search_products(c, &Default::default())).unwrap();
        for p in products.iter().take(6) {
            store
                .receive(
                    &boss,
                    ReceiveRequest {
                        supplier: "S".into(),
                        document: "D".into(),
                        lines: vec![ReceiveLineRequest {
                            product_id: p.product_id.clone(),
                            quantity: 50,
                            lot_code: "L".into(),
                            package_tag: None,
                            unit_cost_minor: 100,
                            lab_thc_mg: None,
                        }],
                    },
                )
                .await
                .unwrap();
        }
        store.simulate(&boss, 20, 3, |_| {}).await.unwrap();
        let till = store.open_till(&boss, OpenTillRequest { register: "R9".into(), float_minor: 1000 }).await.unwrap().till_id;
        let p = &products[0].product_id;
        let sale = |q| SaleRequest {
            till_id: till.clone(),
            lines: vec![SaleLineRequest { product_id: p.clone(), quantity: q }],
            customer: CustomerEvidence { age_confirmed: true, ..Default::default() },
            tenders: vec![TenderRequest { kind: "cash".into(), amount_minor: 100_000 }],
        };
        let s1 = store.sell(&boss, sale(1), Some("idem-1".into())).await.unwrap();
        let s2 = store.sell(&boss, sale(2), None).await.unwrap();
        store.void_sale(&boss, s1.sale_id, VoidRequest { reason: "r".into() }).await.unwrap();
        store
            .return_items(
                &boss,
                s2.sale_id,
                ReturnRequest {
                    till_id: till.clone(),
                    lines: vec![ReturnLineRequest { line: 0, quantity: 1, restock: true }],
                    reason: "r".into(),
                    refund_tender: None,
                },
            )
            .await
            .unwrap();
        store
            .adjust(&boss, AdjustRequest { product_id: p.clone(), delta: -2, reason: stockade_domain::inventory::AdjustReason::Damage, note: "n".into() })
            .await
            .unwrap();
        store.count(&boss, CountRequest { lines: vec![CountLineRequest { product_id: products[1].product_id.clone(), counted: 3 }] }).await.unwrap();
        store.change_price(&boss, p.clone(), 4_242).await.unwrap();
        // Online orders (one completed at the counter, one open) and a security alert.
        let order = |kind| stockade_store::orders::OrderRequest {
            kind,
            lines: vec![SaleLineRequest { product_id: products[2].product_id.clone(), quantity: 1 }],
            customer: stockade_store::orders::OnlineCustomer {
                name: "N".into(),
                birth_date: "1980-01-01".parse().unwrap(),
                age_confirmed: true,
                id_number: None,
                phone: Some("+1 416 555 0100".into()),
                email: None,
                postal_code: Some("M5V 2T6".into()),
            },
            window_start_ms: None,
        };
        let o = store.place_order(order(stockade_domain::orders::OrderKind::Pickup)).await.unwrap();
        for a in [OrderAction::Accept, OrderAction::Pick, OrderAction::Ready] {
            store.order_action(&boss, o.order_id.clone(), a, String::new()).await.unwrap();
        }
        let handover = stockade_store::orders::CompleteOrderRequest {
            till_id: till.clone(),
            age_confirmed: true,
            birth_date: None,
            tenders: vec![TenderRequest { kind: "cash".into(), amount_minor: 100_000 }],
        };
        store.complete_order(&boss, o.order_id, handover).await.unwrap();
        store.place_order(order(stockade_domain::orders::OrderKind::Delivery)).await.unwrap();
        store.raise_alert("enumeration", "test alert".into()).await.unwrap();
        // Two purchase orders from HQ: one closed by its receipt, one still in transit.
        for (i, po) in ["PO-1", "PO-2"].iter().enumerate() {
            let lines = products[3..5]
                .iter()
                .map(|p| stockade_journal::hq_event::PurchaseOrderLine { product_id: p.product_id.clone(), sku: p.spec.sku.clone(), units: 12 })
                .collect();
            assert!(store.apply_hq_order("hq".into(), 10 + i as u64, 1 + i as u64, po.to_string(), lines).await.unwrap());
        }
        let receipt = ReceiveLineRequest {
            product_id: products[3].product_id.clone(),
            quantity: 12,
            lot_code: "L2".into(),
            package_tag: None,
            unit_cost_minor: 100,
            lab_thc_mg: None,
        };
        store.receive(&boss, ReceiveRequest { supplier: "HQ".into(), document: "PO-1".into(), lines: vec![receipt] }).await.unwrap();
        store.close_till(&boss, till, CloseTillRequest { counted_minor: 5_000 }).await.unwrap();
    });
    drop(store);
    let c = Connection::open(dir.join("store.db")).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
}

fn copy_store(from: &Path, to: &Path) {
    for f in ["store.db", "store.key"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

fn altered(v: &Value) -> Value {
    match v {
        Value::Null => Value::Integer(0),
        Value::Integer(i) => Value::Integer(i + 1),
        Value::Real(f) => Value::Real(f + 1.0),
        Value::Text(t) => Value::Text(format!("{t}x")),
        Value::Blob(b) => {
            let mut b = b.clone();
            if b.is_empty() {
                b.push(1)
            } else {
                b[0] ^= 1
            }
            Value::Blob(b)
        }
    }
}

fn columns(c: &Connection, table: &str) -> Vec<(String, bool)> {
    let mut st = c.prepare(&format!("PRAGMA table_info({table})")).unwrap();
    st.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)? > 0))).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Applies one random single-row tamper to `table`; returns a description, or None if not applicable.
fn tamper(c: &Connection, table: &str, rng: &mut impl Rng) -> Option<String> {
    let rowids: Vec<i64> = c.prepare(&format!("SELECT rowid FROM {table}")).unwrap().query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
    if rowids.is_empty() {
        // A table the journal leaves empty (e.g. projection_faults of a clean store): a forged row.
        let cols = columns(c, table);
        let v: Vec<Value> =
            cols.iter().enumerate().map(|(i, _)| if i == 0 { Value::Integer(rng.gen_range(1..50)) } else { Value::Text("forged".into()) }).collect();
        let sql = format!("INSERT INTO {table} VALUES ({})", vec!["?"; cols.len()].join(","));
        c.execute(&sql, params_from_iter(v.iter())).ok()?;
        return Some(format!("inserted a forged row into the empty table {table}"));
    }
    let rowid = rowids[rng.gen_range(0..rowids.len())];
    let cols = columns(c, table);
    let values: Vec<Value> =
        c.query_row(&format!("SELECT * FROM {table} WHERE rowid = ?1"), [rowid], |r| (0..cols.len()).map(|i| r.get::<_, Value>(i)).collect()).unwrap();
    match rng.gen_range(0..3) {
        0 => {
            let i = rng.gen_range(0..cols.len());
            let sql = format!("UPDATE {table} SET {} = ?1 WHERE rowid = ?2", cols[i].0);
            c.execute(&sql, rusqlite::params![altered(&values[i]), rowid]).ok()?;
            Some(format!("changed {table}.{} of rowid {rowid}", cols[i].0))
        }
        1 => {
            c.execute(&format!("DELETE FROM {table} WHERE rowid = ?1"), [rowid]).unwrap();
            Some(format!("deleted rowid {rowid} of {table}"))
        }
        _ => {
            // A plausible extra row: a copy with new keys (and new values for unique columns).
            let mut v = values.clone();
            for (i, (name, pk)) in cols.iter().enumerate() {
                let unique = ["sku", "gtin", "username", "sale_no", "idempotency_key", "seq", "id"].contains(&name.as_str());
                if *pk || unique {
                    v[i] = match &v[i] {
                        Value::Integer(n) => Value::Integer(n + 1_000_000),
                        Value::Text(t) => Value::Text(format!("{t}-forged")),
                        other => altered(other),
                    };
                }
            }
            let sql = format!("INSERT INTO {table} VALUES ({})", vec!["?"; cols.len()].join(","));
            c.execute(&sql, params_from_iter(v.iter())).ok()?;
            Some(format!("inserted a copy of rowid {rowid} into {table}"))
        }
    }
}

#[test]
fn any_single_row_change_delete_or_insert_is_detected_and_named() {
    let base = tempfile::tempdir().unwrap();
    build_store(base.path());
    verify_store(base.path()).expect("the untouched store verifies");

    let mut tables: Vec<&str> = vec!["journal", "head"];
    tables.extend(PROJECTIONS.iter().map(|(t, _)| *t));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let mut detected = 0;
    let mut per_table = std::collections::BTreeMap::<&str, u32>::new();
    let trials = 400;
    let mut attempts = 0;
    while detected < trials {
        attempts += 1;
        assert!(attempts < trials * 4, "too many inapplicable tampers");
        let table = tables[rng.gen_range(0..tables.len())];
        let dir = tempfile::tempdir().unwrap();
        copy_store(base.path(), dir.path());
        let c = Connection::open(dir.path().join("store.db")).unwrap();
        let Some(what) = tamper(&c, table, &mut rng) else { continue };
        drop(c);
        match verify_store(dir.path()) {
            Ok(r) => panic!("not detected: {what} (verify said intact: {r:?})"),
            Err(Err(e)) => panic!("verify could not run after {what}: {e}"),
            Err(Ok(finding)) => {
                match (&finding, table) {
                    (Finding::Projection { table: t, .. }, _) => assert_eq!(t, table, "{what}: named {finding}"),
                    (Finding::Journal(_) | Finding::Head(_), "journal" | "head") => {}
                    (Finding::Replay { .. }, _) => {}
                    _ => panic!("{what}: unexpected finding {finding}"),
                }
                if table == "journal" {
                    assert!(finding.seq().is_some() || matches!(finding, Finding::Head(_)), "{what}: {finding} must name the entry");
                }
                detected += 1;
                *per_table.entry(table).or_default() += 1;
            }
        }
    }
    println!("{detected} tampers detected, by table: {per_table:?}");
    assert!(per_table.len() >= tables.len() - 1, "every table was tampered with: {per_table:?}");
}

#[test]
fn verify_names_the_first_bad_entry_by_sequence_number() {
    let base = tempfile::tempdir().unwrap();
    build_store(base.path());
    let dir = tempfile::tempdir().unwrap();
    copy_store(base.path(), dir.path());
    let c = Connection::open(dir.path().join("store.db")).unwrap();
    let first_sale: i64 = c.query_row("SELECT MIN(seq) FROM journal WHERE kind = 'sale_recorded'", [], |r| r.get(0)).unwrap();
    let bytes: Vec<u8> = c.query_row("SELECT bytes FROM journal WHERE seq = ?1", [first_sale], |r| r.get(0)).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("\"quantity\":"), "{text}");
    let forged = text.replacen("\"quantity\":", "\"quantity\":9", 1); // 1 unit becomes 91, 2 become 92 …
    c.execute("UPDATE journal SET bytes = ?1 WHERE seq = ?2", rusqlite::params![forged.into_bytes(), first_sale]).unwrap();
    let first_sale = first_sale as u64;
    drop(c);
    let finding = verify_store(dir.path()).unwrap_err().unwrap();
    assert_eq!(finding.seq(), Some(first_sale), "{finding}");
    assert!(finding.to_string().contains("hash does not match"), "{finding}");

    // Deleting the newest entry (and nothing else) is caught by the signed head.
    let dir = tempfile::tempdir().unwrap();
    copy_store(base.path(), dir.path());
    let c = Connection::open(dir.path().join("store.db")).unwrap();
    let last: i64 = c.query_row("SELECT MAX(seq) FROM journal", [], |r| r.get(0)).unwrap();
    c.execute("DELETE FROM journal WHERE seq = ?1", [last]).unwrap();
    drop(c);
    let finding = verify_store(dir.path()).unwrap_err().unwrap();
    assert_eq!(finding.seq(), Some(last as u64), "{finding}");
}
