use crate::fixture::*;
use stockade_hq::HqError;
use stockade_journal::{Envelope, StoredEntry};

#[test]
fn a_store_journal_replicates_exactly_and_pushing_twice_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = store(tmp.path(), "Queen St", 90);
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        enrol(&hq, &fx);
        let pushes = push_all(&hq, &fx, 25);
        assert!(pushes > 3, "{}: several batches", b.name);

        let (size, head) = store_head(&fx);
        let report = stockade_hq::verify::verify(&hq).unwrap_or_else(|e| panic!("{}: {e:?}", b.name));
        assert_eq!(report.heads, vec![(fx.store.info().store_id.clone(), size, head.clone())], "{}: same head hash", b.name);
        let status = hq.status().unwrap();
        assert_eq!((status[0].size, status[0].lag, status[0].integrity.as_str()), (size, 0, "ok"), "{}", b.name);

        // The same batch again: the same co-signature, nothing added.
        let batch = fx.store.batch_after(size - 10, 10).unwrap().unwrap();
        let a1 = hq.push(&fx.store.info().store_id, &batch.entries, &batch.checkpoint, &batch.signature, size).unwrap();
        let a2 = hq.push(&fx.store.info().store_id, &batch.entries, &batch.checkpoint, &batch.signature, size).unwrap();
        assert_eq!(a1, a2);
        let again = stockade_hq::verify::verify(&hq).unwrap();
        assert_eq!((again.entries, again.derived_rows), (report.entries, report.derived_rows), "{}: nothing duplicated", b.name);

        // A position past 2^63 asks for nothing (it used to wrap and answer from entry 1), at HQ
        // and at the store.
        for from in [1u64 << 63, u64::MAX] {
            let sid = fx.store.info().store_id.clone();
            assert!(hq.journal(&sid, from, 100).unwrap().0.is_empty(), "{}: from={from}", b.name);
            assert!(fx.store.journal_page(from, 100).unwrap().0.is_empty(), "{}: from={from}", b.name);
        }
        assert_eq!(hq.journal(&fx.store.info().store_id, 1, 5).unwrap().0.len(), 5);
    }
}

#[test]
fn hq_derived_stock_and_sales_equal_the_stores_own_projections() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = store(tmp.path(), "Queen St", 60);
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        enrol(&hq, &fx);
        push_all(&hq, &fx, 500);
        let store_stock: Vec<(String, i64)> = fx
            .store
            .read(|c| {
                Ok(c.prepare("SELECT product_id, on_hand FROM products WHERE on_hand <> 0 ORDER BY product_id")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?)
            })
            .unwrap();
        let hq_stock: Vec<(String, i64)> = hq
            .db()
            .tx(|t| t.query("SELECT product_id, on_hand FROM stock WHERE on_hand <> 0 ORDER BY product_id", &[]))
            .unwrap()
            .into_iter()
            .map(|r| (r[0].show(), r[1].i().unwrap()))
            .collect();
        assert_eq!(store_stock, hq_stock, "{}: stock on hand", b.name);

        // Per sale day, HQ counts every sale made that day (a later void is reported on the day
        // of the void, as a negative). The fixture voids and returns on the day after the sales.
        let q = |sql: &str, day: &str| -> (i64, i64) { fx.store.read(|c| Ok(c.query_row(sql, [day], |r| Ok((r.get(0)?, r.get(1)?)))?)).unwrap() };
        let days: Vec<String> = fx
            .store
            .read(|c| Ok(c.prepare("SELECT DISTINCT local_date FROM sales ORDER BY 1")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?))
            .unwrap();
        assert_eq!(days.len(), 3);
        let sold_sql = "SELECT COALESCE(SUM(l.quantity), 0), COALESCE(SUM(l.net_minor), 0) FROM sale_lines l JOIN sales s ON s.sale_id = l.sale_id WHERE s.local_date = ?1";
        for day in &days {
            let (units, net) = q(sold_sql, day);
            let rows = hq.report_daily(day, Some("acme")).unwrap();
            let (hq_units, hq_net) = rows.iter().fold((0, 0), |a, r| (a.0 + r.units_sold, a.1 + r.net_sales_minor));
            assert_eq!((hq_units, hq_net), (units, net), "{}: {day}", b.name);
            assert!(units > 0);
        }
        let void_day = stockade_domain::local_date(fx.store.info().timezone, START_MS + 3 * 86_400_000);
        let (voided_units, voided_net) = q(&format!("{} AND s.status = 'voided'", sold_sql.replace("s.local_date = ?1", "?1 = ?1")), &void_day);
        let refunded: i64 = fx.store.read(|c| Ok(c.query_row("SELECT SUM(refund_minor) FROM returns", [], |r| r.get(0))?)).unwrap();
        let rows = hq.report_daily(&void_day, Some("acme")).unwrap();
        let sum = |f: fn(&stockade_hq::report::DailyRow) -> i64| rows.iter().map(f).sum::<i64>();
        assert_eq!((sum(|r| r.units_sold), sum(|r| r.net_sales_minor)), (-voided_units, -voided_net), "{}: the void", b.name);
        assert_eq!((sum(|r| r.units_returned), sum(|r| r.refunds_minor)), (1, refunded), "{}: the return", b.name);
        assert!(voided_units > 0 && refunded > 0);
        // Closing stock on the last day is the store's stock now.
        let closing: i64 = sum(|r| r.closing_units);
        assert_eq!(closing, store_stock.iter().map(|s| s.1).sum::<i64>(), "{}: closing stock", b.name);
    }
}

#[test]
fn a_gap_is_refused_with_the_size_hq_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = store(tmp.path(), "Queen St", 15);
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        enrol(&hq, &fx);
        let first = fx.store.batch_after(0, 10).unwrap().unwrap();
        hq.push(&fx.store.info().store_id, &first.entries, &first.checkpoint, &first.signature, 0).unwrap();
        let later = fx.store.batch_after(15, 10).unwrap().unwrap();
        match hq.push(&fx.store.info().store_id, &later.entries, &later.checkpoint, &later.signature, 0) {
            Err(HqError::Conflict { code: "gap", hq_size: Some(10), .. }) => {}
            other => panic!("{}: expected a gap at 10, got {other:?}", b.name),
        }
        assert_eq!(hq.status().unwrap()[0].integrity, "ok", "a gap is not an attack");
    }
}

#[test]
fn forged_batches_are_refused_logged_and_flag_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = store(tmp.path(), "Queen St", 15);
    let sid = fx.store.info().store_id.clone();
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        enrol(&hq, &fx);
        let batch = fx.store.batch_after(0, 20).unwrap().unwrap();
        hq.push(&sid, &batch.entries, &batch.checkpoint, &batch.signature, 0).unwrap();
        let refused = |r: Result<stockade_hq::PushAck, HqError>, want: &str| match r {
            Err(HqError::Refused { code, .. }) if code == want => {}
            other => panic!("{}: expected {want}, got {other:?}", b.name),
        };

        // 1. Signed by another key.
        let next = fx.store.batch_after(20, 10).unwrap().unwrap();
        let mallory = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let forged = next.checkpoint.sign(&mallory);
        refused(hq.push(&sid, &next.entries, &next.checkpoint, &forged, 0), "bad_signature");

        // 2. Reordered entries.
        let mut swapped = next.entries.clone();
        swapped.swap(2, 3);
        refused(hq.push(&sid, &swapped, &next.checkpoint, &next.signature, 0), "bad_batch");

        // 3. Unknown store.
        refused(hq.push("no-such-store", &next.entries, &next.checkpoint, &next.signature, 0), "unknown_store");

        // 3b. Positions at the integer edges, signed with the store's own key (only the store
        //     could send them): refused as a bad batch before any arithmetic on them, no panic.
        let store_key = stockade_journal::keyfile::read(&fx.store.dir().join("store.key")).unwrap();
        let n = next.entries.len() as u64;
        let renumbered = |first: u64| next.entries.iter().enumerate().map(|(i, (_, b))| (first.wrapping_add(i as u64), b.clone())).collect::<Vec<_>>();
        for (entries, size) in [(renumbered(0), n - 1), (renumbered(u64::MAX - n + 1), u64::MAX), (vec![], u64::MAX), (renumbered(1 << 63), (1 << 63) + n - 1)]
        {
            let cp = checkpoint(&sid, size, next.checkpoint.head);
            refused(hq.push(&sid, &entries, &cp, &cp.sign(&store_key), 0), "bad_batch");
        }

        // 4. A rewritten history: after entry 10, properly signed with the store's own key. HQ
        //    keeps what it co-signed and answers "rollback" with its size: the store fetches
        //    HQ's copy and re-records its own entries after it (see the store's `integrity`).
        let mut prev =
            fx.store.read(|c| Ok(c.query_row("SELECT hash FROM journal WHERE seq = 10", [], |r| r.get::<_, Vec<u8>>(0))?)).unwrap().try_into().unwrap();
        let mut rewritten = Vec::new();
        for (seq, bytes) in &batch.entries[10..] {
            let mut env = Envelope::decode(bytes).unwrap();
            env.at_ms += 1; // a different time: a different history
            let e = StoredEntry::seal(&env, prev).unwrap();
            prev = e.hash;
            rewritten.push((*seq, e.bytes));
        }
        let cp = checkpoint(&sid, batch.checkpoint.size, prev);
        let key = stockade_journal::keyfile::read(&fx.store.dir().join("store.key")).unwrap();
        let sig = cp.sign(&key);
        let rolled_back = |r: Result<stockade_hq::PushAck, HqError>| match r {
            Err(HqError::Conflict { code: "rollback", hq_size: Some(20), .. }) => {}
            other => panic!("{}: expected rollback with HQ's size 20, got {other:?}", b.name),
        };
        for _ in 0..3 {
            rolled_back(hq.push(&sid, &rewritten, &cp, &sig, 0));
        }
        // 5. A head below what HQ co-signed (an old copy of the database): never co-signed.
        let (old, old_sig) = fx.store.checkpoint_at(12).unwrap();
        rolled_back(hq.push(&sid, &[], &old, &old_sig, 12));
        rolled_back(hq.push(&sid, &batch.entries[..12], &old, &old_sig, 12));

        let status = hq.status().unwrap();
        assert!(status[0].integrity.starts_with("rollback"), "{}: the store needs attention: {}", b.name, status[0].integrity);
        let alerts = hq.alerts(20).unwrap();
        let kinds: Vec<String> = alerts.iter().map(|a| a.kind.clone()).collect();
        for k in ["bad_signature", "bad_batch", "rollback"] {
            assert!(kinds.iter().any(|x| x == k), "{}: alert {k} raised: {kinds:?}", b.name);
        }
        // One alert per incident, not one per retry: the rewritten history (3 tries) and the
        // old head (2 tries) are two.
        assert_eq!(kinds.iter().filter(|k| *k == "rollback").count(), 2, "{}: {kinds:?}", b.name);
        // Nothing of the forged batches was stored.
        stockade_hq::verify::verify(&hq).unwrap();
        assert_eq!(hq.status().unwrap()[0].size, 20);
    }
}

#[test]
fn enrolment_needs_the_right_code_and_is_single_use() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = store(tmp.path(), "Queen St", 3);
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        hq.add_retailer("acme", "Acme").unwrap();
        let pk = hex::encode(fx.store.public_key().to_bytes());
        let code = hq.add_store("acme", &pk, "Queen St").unwrap();
        assert_eq!(code.len(), 35, "128 bits as 32 hex digits in 4 groups");
        assert!(matches!(hq.enroll("00000000-0000-0000-0000-000000000000", "x", &pk), Err(HqError::Refused { .. })));
        hq.enroll(&code, &fx.store.info().store_id, &pk).unwrap();
        // The same store again is fine; another store id with the same code is not.
        hq.enroll(&code, &fx.store.info().store_id, &pk).unwrap();
        assert!(matches!(hq.enroll(&code, "another-store", &pk), Err(HqError::Conflict { code: "already_enrolled", .. })));
        assert!(matches!(hq.add_store("acme", &pk, "Copy"), Err(HqError::Conflict { code: "key_registered", .. })));
        assert!(matches!(hq.add_store("nobody", "00", "X"), Err(HqError::Invalid { .. })));
    }
}
