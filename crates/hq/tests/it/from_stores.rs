//! `rebuild_from_stores` at the library level, on SQLite and PostgreSQL: an honest store's
//! evidence rebuilds HQ; a store that plants HQ entries of its own, claims a key history no
//! one can anchor, or claims HQ's journal ran far beyond what anyone holds is refused.

use crate::fixture::*;
use ed25519_dalek::{Signer, SigningKey};
use std::sync::Arc;
use stockade_hq::rebuild::rebuild_from_stores;
use stockade_journal::backup::{decode, HqEntryCopy, HqEvidence};
use stockade_journal::hq_event::{entry_message, rotation_message, HqEnvelope, HqEvent};

fn evidence(hq: &stockade_hq::Hq, pk: &str) -> HqEvidence {
    let (entries, next, _) = hq.registry_for(pk, 0).unwrap();
    HqEvidence {
        hq_entries: entries
            .into_iter()
            .map(|(hq_seq, _, bytes, signature)| HqEntryCopy { hq_seq, entry: String::from_utf8(bytes).unwrap(), signature })
            .collect(),
        hq_keys: vec![hq.public_key_hex()],
        root_key: hq.root_key().unwrap(),
        tree_heads: vec![hq.tree_head().unwrap()],
        hq_seen: next,
    }
}

fn planted(key: &SigningKey, hq_id: &str, seq: u64, event: HqEvent) -> HqEntryCopy {
    let env = HqEnvelope { v: 1, hq: hq_id.into(), seq, at_ms: START_MS, actor: "system".into(), event };
    let bytes = env.encode().unwrap();
    HqEntryCopy { hq_seq: seq, signature: hex::encode(key.sign(&entry_message(seq, &bytes)).to_bytes()), entry: String::from_utf8(bytes).unwrap() }
}

#[test]
fn a_rebuild_from_the_stores_trusts_only_an_anchored_history() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = store(tmp.path(), "Queen St", 6);
    let pk = hex::encode(fx.store.public_key().to_bytes());
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        hq.add_retailer("acme", "Acme").unwrap();
        hq.add_retailer("bravo", "Bravo").unwrap();
        hq.add_store("bravo", &hex::encode(SigningKey::from_bytes(&[5; 32]).verifying_key().to_bytes()), "Other").unwrap();
        enrol(&hq, &fx);
        push_all(&hq, &fx, 50);
        let backup = decode(std::str::from_utf8(&fx.store.backup().unwrap()).unwrap()).unwrap();
        let mut honest = backup.clone();
        honest.evidence = evidence(&hq, &pk);
        let hq_id = hq.hq_id().to_string();
        let dir = tmp.path().join(format!("hq-{}", b.name));
        let root = stockade_journal::keyfile::read(&dir.join("hq-root.key")).unwrap();
        let heads = hq.db().tx(|tx| tx.query("SELECT store_id, size, head FROM store_heads ORDER BY store_id", &[])).unwrap();
        drop(hq);
        let clock: stockade_hq::NowMs = Arc::new(|| START_MS + 1000);

        // A planted second root key and a rotation to the store's own key: refused.
        let thief = SigningKey::from_bytes(&[66; 32]);
        let mut bad = honest.clone();
        let gap = (1..).find(|s| !bad.evidence.hq_entries.iter().any(|e| e.hq_seq == *s)).unwrap();
        bad.evidence.hq_entries.push(planted(&thief, &hq_id, gap, HqEvent::HqRootKeySet { root_public_key: hex::encode(thief.verifying_key().to_bytes()) }));
        bad.evidence.hq_entries.sort_by_key(|e| e.hq_seq);
        let e = rebuild_from_stores(&dir, (b.open)("planted"), &[bad], None, clock.clone()).err().unwrap();
        assert!(e.to_string().contains("second root key"), "{}: {e}", b.name);

        // A rotation signed by a root key nobody recorded: refused even with the real key file.
        let mut bad = honest.clone();
        let old = honest.evidence.hq_keys[0].clone();
        let to = hex::encode(thief.verifying_key().to_bytes());
        let sig = hex::encode(thief.sign(&rotation_message(&hq_id, &old, &to)).to_bytes());
        let last = bad.evidence.hq_seen + 1;
        bad.evidence.hq_entries.push(planted(&thief, &hq_id, last, HqEvent::HqKeyRotated { old_public_key: old, new_public_key: to, root_signature: sig }));
        let e = rebuild_from_stores(&dir, (b.open)("rotated"), &[bad], Some(&root), clock.clone()).err().unwrap();
        assert!(e.to_string().contains("root key did not sign"), "{}: {e}", b.name);

        // A store that claims HQ's journal ran far beyond what anyone holds: refused.
        let mut bad = honest.clone();
        bad.evidence.hq_seen = u64::MAX;
        let e = rebuild_from_stores(&dir, (b.open)("far"), &[bad], None, clock.clone()).err().unwrap();
        assert!(e.to_string().contains("far beyond"), "{}: {e}", b.name);

        // The honest evidence: HQ back, the store's head as before, bravo's entries lost.
        let (rebuilt, report) = rebuild_from_stores(&dir, (b.open)("rebuilt"), &[honest], None, clock.clone()).unwrap();
        assert!(report.lost >= 2 && !report.rotated, "{}: {report:?}", b.name);
        let again = rebuilt.db().tx(|tx| tx.query("SELECT store_id, size, head FROM store_heads ORDER BY store_id", &[])).unwrap();
        assert_eq!(format!("{again:?}"), format!("{heads:?}"), "{}", b.name);
        stockade_hq::verify::verify(&rebuilt).unwrap_or_else(|e| panic!("{}: {e:?}", b.name));
    }
}
