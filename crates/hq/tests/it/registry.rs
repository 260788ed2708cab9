//! The part of HQ's journal each store holds to vouch for HQ: its retailer's registry, catalog
//! and owners, HQ's own identity — never another retailer's entries or HQ's staff accounts.

use crate::fixture::*;
use ed25519_dalek::{Signature, SigningKey, Verifier};
use stockade_hq::access::{HqRole, Principal};
use stockade_journal::hq_event::{entry_message, HqEnvelope, HqEvent};

fn key(n: u8) -> String {
    hex::encode(SigningKey::from_bytes(&[n; 32]).verifying_key().to_bytes())
}

#[test]
fn a_store_vouches_for_its_retailers_entries_only_each_signed_by_hq() {
    let tmp = tempfile::tempdir().unwrap();
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        hq.add_retailer("acme", "Acme").unwrap();
        hq.add_retailer("bravo", "Bravo").unwrap();
        for (n, retailer, id) in [(1u8, "acme", "a1"), (2, "acme", "a2"), (3, "bravo", "b1")] {
            let code = hq.add_store(retailer, &key(n), id).unwrap();
            hq.enroll(&code, id, &key(n)).unwrap();
        }
        let admin = Principal::local_admin();
        hq.add_user(&admin, "Olive", HqRole::Owner, Some("acme")).unwrap();
        hq.add_user(&admin, "Brenda", HqRole::Owner, Some("bravo")).unwrap();
        let (analyst, _) = hq.add_user(&admin, "Ana", HqRole::Analyst, None).unwrap();
        hq.revoke_user(&admin, &analyst.user_id).unwrap();
        let accessory = |sku: &str| -> stockade_domain::catalog::ProductSpec {
            serde_json::from_value(serde_json::json!({"sku": sku, "name": "Grinder", "class": "non_cannabis", "price_minor": 999, "tax_class": "general"}))
                .unwrap()
        };
        hq.publish_catalog("acme", vec![accessory("ACC-1")]).unwrap();
        hq.publish_catalog("bravo", vec![accessory("ACC-2")]).unwrap();

        let (entries, next, rebuilt_at) = hq.registry_for(&key(1), 0).unwrap();
        assert_eq!(rebuilt_at, None, "never rebuilt");
        let mut kinds = Vec::new();
        for (seq, _, bytes, sig) in &entries {
            let sig = Signature::from_slice(&hex::decode(sig).unwrap()).unwrap();
            hq.public_key().verify(&entry_message(*seq, bytes), &sig).unwrap_or_else(|_| panic!("{}: entry {seq} not signed by HQ", b.name));
            let env = HqEnvelope::decode(bytes).unwrap();
            let named = match &env.event {
                HqEvent::RetailerAdded { retailer_id, .. }
                | HqEvent::StoreRegistered { retailer_id, .. }
                | HqEvent::StoreEnrolled { retailer_id, .. }
                | HqEvent::CatalogPublished { retailer_id, .. } => format!("{}:{retailer_id}", env.event.kind()),
                HqEvent::UserGranted { name, .. } => format!("user_granted:{name}"),
                e => e.kind().to_string(),
            };
            kinds.push(named);
        }
        assert_eq!(
            kinds,
            [
                "hq_initialized",
                "hq_root_key_set",
                "retailer_added:acme",
                "store_registered:acme",
                "store_enrolled:acme",
                "store_registered:acme",
                "store_enrolled:acme",
                "user_granted:Olive",
                "catalog_published:acme",
            ],
            "{}",
            b.name
        );
        // The cursor passes every entry, whether or not it was for this store.
        let total = hq.db().tx(|tx| tx.one("SELECT MAX(seq) FROM hq_journal", &[])).unwrap().unwrap()[0].i().unwrap() as u64;
        assert_eq!(next, total, "{}", b.name);
        assert!(hq.registry_for(&key(1), next).unwrap().0.is_empty());
        // Bravo's store sees bravo's side and HQ's identity, nothing of acme's.
        let (theirs, _, _) = hq.registry_for(&key(3), 0).unwrap();
        let text: String = theirs.iter().map(|e| String::from_utf8_lossy(&e.2).into_owned()).collect();
        assert!(text.contains("Brenda") && !text.contains("Olive") && !text.contains("\"acme\"") && !text.contains("Ana"), "{}: {text}", b.name);
        // A key that is not an enrolled store learns nothing.
        assert!(hq.registry_for(&key(9), 0).is_err());
    }
}
