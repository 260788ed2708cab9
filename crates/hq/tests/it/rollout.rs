//! Mixed releases during a rollout, on both engines. A store on release N+1 pushes event kinds
//! HQ on release N does not know: HQ stores and co-signs them byte for byte, verifies their
//! chain and signatures, leaves them out of its figures with an alert naming kind and version,
//! and projects them after its own upgrade. Nothing is lost; the chain verifies throughout.
//!
//! "HQ on release N" is this HQ told to treat `sale_voided` as unknown (as a release predating
//! it would); the truly unknown `loyalty_earned_v2` entry is a synthetic future kind, signed by
//! the store's key, that no release of ours knows.

use crate::fixture::*;
use stockade_hq::{verify, Hq};
use stockade_journal::{chain_hash, Checkpoint, Hash};

/// Derived tables that hold store data (the registry tables carry each HQ's own ids).
const STORE_TABLES: &[&str] = &["store_heads", "products", "sale_lines", "stock", "daily_sales", "daily_stock", "po_events", "unprojected"];

fn store_digests(hq: &Hq) -> Vec<(String, String)> {
    hq.digests().unwrap().into_iter().filter(|(t, _)| STORE_TABLES.contains(&t.as_str())).collect()
}

fn unprojected(hq: &Hq) -> Vec<(i64, String)> {
    let rows = hq.db().tx(|tx| tx.query("SELECT seq, kind FROM unprojected ORDER BY seq", &[])).unwrap();
    rows.into_iter().map(|r| (r[0].i().unwrap(), r[1].show())).collect()
}

/// An entry of a kind no release knows, appended after the store's head and signed with its key.
fn future_entry(fx: &StoreFx) -> ((u64, Vec<u8>), Checkpoint, [u8; 64]) {
    let (size, head) = store_head(fx);
    let seq = size + 1;
    let bytes = format!(
        r#"{{"v":1,"store":"{}","seq":{seq},"at_ms":{},"actor":"system","event":{{"kind":"loyalty_earned_v2","customer":"c1","points":12,"tiers":[{{"gold":true}}]}}}}"#,
        fx.store.info().store_id,
        START_MS + 30 * 86_400_000
    )
    .into_bytes();
    let prev: Hash = hex::decode(head).unwrap().try_into().unwrap();
    let cp = Checkpoint { store_id: fx.store.info().store_id.clone(), size: seq, head: chain_hash(&prev, &bytes) };
    let key = stockade_journal::keyfile::read(&fx.store.dir().join("store.key")).unwrap();
    let sig = cp.sign(&key);
    ((seq, bytes), cp, sig)
}

#[test]
fn an_older_hq_keeps_and_cosigns_unknown_kinds_and_projects_them_after_its_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    for b in backends(tmp.path()) {
        let fx = store(tmp.path(), &format!("Rollout {}", b.name), 60);
        let sid = fx.store.info().store_id.clone();
        let voids: Vec<i64> = fx
            .store
            .read(|c| Ok(c.prepare("SELECT seq FROM journal WHERE kind = 'sale_voided'")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?))
            .unwrap();
        assert_eq!(voids.len(), 1, "{}", b.name);

        // Release N: does not know `sale_voided`.
        let dir = tmp.path().join(format!("hq-rollout-{}", b.name));
        let clock = std::sync::Arc::new(|| START_MS);
        let old = Hq::init(&dir, (b.open)("rollout"), "Rollout HQ", clock.clone()).unwrap().as_release_without(&["sale_voided"]);
        enrol(&old, &fx);
        push_all(&old, &fx, 100); // asserts every co-signature verifies
        let (future, cp, sig) = future_entry(&fx);
        let ack = old.push(&sid, std::slice::from_ref(&future), &cp, &sig, future.0).unwrap();
        assert!(cp.verify(&old.public_key(), &hex::decode(&ack.hq_signature).unwrap()), "{}: HQ co-signs the unknown entry", b.name);

        // Held byte for byte, chain verified, left out of the figures with an alert.
        let (held, _) = old.journal(&sid, 1, 10_000).unwrap();
        let (page, _) = fx.store.journal_page(1, 10_000).unwrap();
        let mut expected: Vec<(u64, Vec<u8>)> = page.clone();
        expected.push(future.clone());
        assert_eq!(held, expected, "{}: HQ holds every entry as the store wrote it", b.name);
        assert_eq!(unprojected(&old), [(voids[0], "sale_voided".to_string()), (future.0 as i64, "loyalty_earned_v2".to_string())], "{}", b.name);
        let alerts = old.alerts(100).unwrap();
        for needle in ["sale_voided v1", "loyalty_earned v2"] {
            assert!(alerts.iter().any(|a| a.kind == "unprojected" && a.message.contains(needle)), "{}: an alert names {needle}: {alerts:?}", b.name);
        }
        let status = old.status().unwrap();
        assert!(status.iter().any(|s| s.store_id == sid && s.integrity.contains("loyalty_earned v2")), "{}: {status:?}", b.name);
        verify::verify(&old).unwrap_or_else(|e| panic!("{}: release N verifies its own copy: {e:?}", b.name));
        let before_upgrade = store_digests(&old);
        drop(old);

        // The same entries at an HQ that knew every kind all along (the truth to reach).
        let knowing = Hq::init(&tmp.path().join(format!("hq-knowing-{}", b.name)), (b.open)("knowing"), "Knowing HQ", clock.clone()).unwrap();
        enrol(&knowing, &fx);
        let (cp_all, sig_all) = fx.store.checkpoint_at(page.len() as u64).unwrap();
        knowing.push(&sid, &page, &cp_all, &sig_all, page.len() as u64).unwrap();

        // A release that predates `sale_recorded` itself: the void of a sale it left out depends
        // on it and is left out too (not a refused push, not a stuck store); the upgrade
        // projects both.
        let older_dir = tmp.path().join(format!("hq-older-{}", b.name));
        let older = Hq::init(&older_dir, (b.open)("older"), "Older HQ", clock.clone()).unwrap().as_release_without(&["sale_recorded"]);
        enrol(&older, &fx);
        older.push(&sid, &page, &cp_all, &sig_all, page.len() as u64).unwrap_or_else(|e| panic!("{}: an older HQ keeps ingesting: {e}", b.name));
        let left = unprojected(&older);
        let sales = fx.store.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM journal WHERE kind = 'sale_recorded'", [], |r| r.get::<_, i64>(0))?)).unwrap();
        assert_eq!(left.len() as i64, sales + 1, "{}: every sale and the void that depends on one: {left:?}", b.name);
        assert!(left.contains(&(voids[0], "sale_voided".to_string())), "{}", b.name);
        drop(older);
        let older = Hq::open(&older_dir, (b.open)("older"), clock.clone()).unwrap();
        assert!(unprojected(&older).is_empty(), "{}", b.name);
        assert_eq!(store_digests(&older), store_digests(&knowing), "{}", b.name);
        verify::verify(&older).unwrap_or_else(|e| panic!("{}: {e:?}", b.name));

        knowing.push(&sid, std::slice::from_ref(&future), &cp, &sig, future.0).unwrap();
        assert_eq!(unprojected(&knowing), [(future.0 as i64, "loyalty_earned_v2".to_string())], "{}", b.name);
        assert_ne!(before_upgrade, store_digests(&knowing), "{}: release N's figures leave the void out", b.name);

        // Upgrade: opening with this release projects what release N left out.
        let upgraded = Hq::open(&dir, (b.open)("rollout"), clock.clone()).unwrap();
        assert_eq!(unprojected(&upgraded), [(future.0 as i64, "loyalty_earned_v2".to_string())], "{}: only the unknown kind is still out", b.name);
        assert_eq!(store_digests(&upgraded), store_digests(&knowing), "{}: after the upgrade HQ's figures are those of an HQ that knew the kind", b.name);
        verify::verify(&upgraded).unwrap_or_else(|e| panic!("{}: {e:?}", b.name));
        let (after, _) = upgraded.journal(&sid, 1, 10_000).unwrap();
        assert_eq!(after, expected, "{}: nothing lost", b.name);
    }
}
