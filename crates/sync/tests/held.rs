//! A store on release N receiving HQ entries it does not know (catalog updates, purchase
//! orders of a newer kind or version) holds them, verified and unapplied, says so in its status,
//! keeps each stream in order (later entries queue behind a held one), and applies them after
//! its upgrade. "Release N" is the store told to treat `purchase_order_issued` as unknown; the
//! `catalog_published_v2` entry is a synthetic future kind no release knows.

use ed25519_dalek::{Signer, SigningKey};
use std::sync::Arc;
use stockade_journal::hq_event::{entry_message, HqEnvelope, HqEvent, PurchaseOrderLine};
use stockade_store::clock::ManualClock;
use stockade_store::{InitOptions, Store};
use stockade_sync::{apply_held, take_publication, Publication, Stream, Taken};

const START_MS: i64 = 1_795_359_600_000;

fn signed(key: &SigningKey, hq_seq: u64, seq: u64, entry: String) -> Publication {
    let signature = hex::encode(key.sign(&entry_message(hq_seq, entry.as_bytes())).to_bytes());
    Publication { hq_seq, seq, entry, signature }
}

fn known(key: &SigningKey, hq_seq: u64, seq: u64, event: HqEvent) -> Publication {
    let env = HqEnvelope { v: 1, hq: "hq1".into(), seq: hq_seq, at_ms: START_MS, actor: "operator".into(), event };
    signed(key, hq_seq, seq, String::from_utf8(env.encode().unwrap()).unwrap())
}

fn status(store: &Store) -> stockade_store::queries::Status {
    store.read(|c| stockade_store::queries::status(c, store)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hq_entries_are_held_in_order_shown_in_status_and_applied_after_the_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let clock = Arc::new(ManualClock::new(START_MS));
    let opts =
        InitOptions { name: "Queen St".into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: "held entries test".into() };
    let store = {
        let (d, c) = (dir.clone(), clock.clone());
        tokio::task::spawn_blocking(move || {
            Store::init(&d, &opts, c.clone()).unwrap();
            Store::open(&d, c, Some(1)).unwrap()
        })
        .await
        .unwrap()
    };
    let boss = store.first_manager().unwrap();
    store.import_products(&boss, std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../cli/demo/catalog.csv")).unwrap(), false).await.unwrap();
    let (product_id, sku) = store
        .read(|c| Ok(c.query_row("SELECT product_id, sku FROM products ORDER BY sku LIMIT 1", [], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?))
        .unwrap();
    let sid = store.info().store_id.clone();
    let hq = SigningKey::from_bytes(&[9u8; 32]);
    let vk = hq.verifying_key();
    let size = || status(&store).journal_size;

    // Orders stream: a purchase order of a kind "release N" does not know is held, not applied.
    let po = known(
        &hq,
        5,
        1,
        HqEvent::PurchaseOrderIssued {
            retailer_id: "acme".into(),
            store_id: sid.clone(),
            store_seq: 1,
            po_id: "PO-000001".into(),
            approved_by: "u1".into(),
            lines: vec![PurchaseOrderLine { product_id: product_id.clone(), sku: sku.clone(), units: 12 }],
        },
    );
    let before = size();
    assert_eq!(take_publication(&store, &vk, Stream::Orders, "acme", &po, &["purchase_order_issued"]).await.unwrap(), Taken::Held);
    assert_eq!(size(), before, "a held entry writes nothing to the journal");
    assert_eq!(status(&store).held_hq_entries, ["HQ entry 5 (orders 1): purchase_order_issued v1"]);
    // A forged one is refused, not held.
    let mut forged = known(&hq, 6, 2, HqEvent::SharingSet { retailer_id: "acme".into(), store_level: true });
    forged.signature = hex::encode([0u8; 64]);
    assert!(take_publication(&store, &vk, Stream::Orders, "acme", &forged, &[]).await.is_err());

    // Catalog stream: a synthetic future kind is held, and the ordinary update after it queues
    // behind it (a stream is applied in order).
    let v2 = signed(
        &hq,
        7,
        1,
        format!(
            r#"{{"v":1,"hq":"hq1","seq":7,"at_ms":{START_MS},"actor":"operator","event":{{"kind":"catalog_published_v2","retailer_id":"acme","retailer_seq":1,"products":[{{"sku":"X","new_field":1}}]}}}}"#
        ),
    );
    assert_eq!(take_publication(&store, &vk, Stream::Catalog, "acme", &v2, &[]).await.unwrap(), Taken::Held);
    let v1 = known(&hq, 8, 2, HqEvent::CatalogPublished { retailer_id: "acme".into(), retailer_seq: 2, products: vec![] });
    assert_eq!(take_publication(&store, &vk, Stream::Catalog, "acme", &v1, &[]).await.unwrap(), Taken::Held);
    assert_eq!(
        status(&store).held_hq_entries,
        ["HQ entry 5 (orders 1): purchase_order_issued v1", "HQ entry 7 (catalog 1): catalog_published v2", "HQ entry 8 (catalog 2): catalog_published v1"]
    );
    // Numbering continues past held entries: a skipped number is refused.
    let skipped = known(&hq, 9, 4, HqEvent::CatalogPublished { retailer_id: "acme".into(), retailer_seq: 4, products: vec![] });
    assert!(take_publication(&store, &vk, Stream::Catalog, "acme", &skipped, &[]).await.unwrap_err().to_string().contains("missing"));

    // Still release N: nothing can be applied yet.
    assert_eq!(apply_held(&store, &vk, Stream::Orders, "acme", &["purchase_order_issued"]).await.unwrap(), 0);
    // The upgrade knows purchase orders: the held one is checked again and applied.
    assert_eq!(apply_held(&store, &vk, Stream::Orders, "acme", &[]).await.unwrap(), 1);
    assert_eq!(size(), before + 1);
    let in_transit: i64 = store.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM purchase_orders WHERE po_id = 'PO-000001'", [], |r| r.get(0))?)).unwrap();
    assert_eq!(in_transit, 1);
    // The catalog stream stays held behind the kind no release knows.
    assert_eq!(apply_held(&store, &vk, Stream::Catalog, "acme", &[]).await.unwrap(), 0);
    assert_eq!(status(&store).held_hq_entries, ["HQ entry 7 (catalog 1): catalog_published v2", "HQ entry 8 (catalog 2): catalog_published v1"]);
    assert!(stockade_store::verify::verify_store(&dir).is_ok(), "the store's journal verifies");
}
