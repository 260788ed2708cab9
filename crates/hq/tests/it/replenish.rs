//! Forecasts, proposals and purchase orders at HQ, on both engines: a real store's sales drive
//! the proposals; approval is scoped by role and retailer; the order is a signed HQ journal entry
//! the store records and closes by receiving, and HQ counts it in transit until then.

use crate::fixture::*;
use stockade_hq::access::{HqRole, Principal};
use stockade_hq::audit::AuditFilter;
use stockade_hq::replenish::{ProposalRow, RunParams};
use stockade_hq::HqError;
use stockade_journal::hq_event::{entry_message, HqEnvelope, HqEvent};
use stockade_store::commands::{ReceiveLineRequest, ReceiveRequest};

fn hq_journal_size(hq: &stockade_hq::Hq) -> i64 {
    hq.db().tx(|tx| Ok::<_, HqError>(tx.one("SELECT COUNT(*) FROM hq_journal", &[])?.and_then(|r| r[0].i()).unwrap_or(0))).unwrap()
}

fn by_product(rows: &[ProposalRow], pid: &str) -> ProposalRow {
    rows.iter().find(|r| r.product_id == pid).cloned().unwrap_or_else(|| panic!("no row for {pid}"))
}

#[test]
fn sales_become_proposals_an_approved_order_reaches_the_store_and_is_in_transit_until_received() {
    let tmp = tempfile::tempdir().unwrap();
    for b in backends(tmp.path()) {
        // 60 units of each product, 20 sales a day for 10 days: the fast sellers run low. The
        // test changes the store's stock, so each engine gets a store of its own.
        let fx = selling_store(tmp.path(), &format!("Queen St {}", b.name), 60, 10, 20);
        let store_id = fx.store.info().store_id.clone();
        let on_hand_at_store =
            |pid: &str| fx.store.read(|c| Ok(c.query_row("SELECT on_hand FROM products WHERE product_id = ?1", [pid], |r| r.get::<_, i64>(0))?)).unwrap();
        let hq = hq(tmp.path(), &b);
        enrol(&hq, &fx);
        push_all(&hq, &fx, 500);
        let root = Principal::local_admin();
        hq.add_retailer("beta", "Beta Retail").unwrap();
        let analyst = hq.add_user(&root, "Wanda Wholesale", HqRole::Analyst, None).unwrap().0;
        let beta_owner = hq.add_user(&root, "Ben Beta", HqRole::Owner, Some("beta")).unwrap().0;
        let acme_owner = hq.add_user(&root, "Ann Acme", HqRole::Owner, Some("acme")).unwrap().0;
        let auditor = hq.add_user(&root, "Otto Audit", HqRole::Auditor, None).unwrap().0;

        // A run over everything HQ holds; the SKU with the most sales is ordered in packs of 6.
        let first = hq.run_forecasts(&RunParams::default(), &|_| {}).unwrap();
        let rows = hq.proposals_for(&root, None, false).unwrap();
        assert_eq!(rows.len() as u64, first.series, "{}", b.name);
        assert!(first.proposals > 0 && rows.iter().all(|r| r.run_id == first.run_id), "{}: {first:?}", b.name);
        for r in &rows {
            // Every figure HQ used is the store's own: stock on hand as the store counts it.
            assert_eq!(r.on_hand, on_hand_at_store(&r.product_id), "{}: {}", b.name, r.sku);
            let expect = stockade_forecast::replenish::proposal(r.order_up_to as f64, r.on_hand, r.in_transit, r.pack as u32);
            assert_eq!(r.units, expect, "{}: {r:?}", b.name);
            assert_eq!(r.status, if r.units > 0 { "open" } else { "none" }, "{}", b.name);
            assert!(r.order_up_to as f64 * 1000.0 >= r.cover_milli as f64 - 1.0, "{}: the quantile is above the mean at 95 %: {r:?}", b.name);
        }
        let top = rows.iter().max_by_key(|r| r.cover_milli).unwrap().clone();
        let packs = [(top.sku.clone(), 6u32)].into_iter().collect();
        let run = hq.run_forecasts(&RunParams { packs, ..RunParams::default() }, &|_| {}).unwrap();
        let rows = hq.proposals_for(&root, None, false).unwrap();
        let top = by_product(&rows, &top.product_id);
        assert_eq!((top.pack, top.units % 6), (6, 0), "{}: {top:?}", b.name);
        assert!(top.units > 0, "{}: the best seller needs stock: {top:?}", b.name);
        assert_ne!(run.run_id, first.run_id);

        // Who may see and approve: the analyst needs acme's agreement; owners their own
        // retailer; auditors change nothing. Refusals write nothing to HQ's journal.
        let size = hq_journal_size(&hq);
        assert!(hq.proposals_for(&analyst, None, true).unwrap().is_empty(), "{}: no agreement, no store-level rows", b.name);
        // An owner's read is scoped to its retailer in the query itself, and audited so.
        assert!(hq.proposals_for(&beta_owner, None, false).unwrap().is_empty(), "{}: another retailer's owner reads nothing", b.name);
        assert!(matches!(hq.proposals_for(&beta_owner, Some("acme"), false), Err(HqError::Forbidden(_))), "{}", b.name);
        assert_eq!(hq.proposals_for(&acme_owner, None, false).unwrap(), rows, "{}: the owner reads its own rows", b.name);
        let owner_reads =
            hq.audit_query(&AuditFilter { user: Some(acme_owner.user_id.clone()), kind: Some("read_forecasts".into()), ..Default::default() }).unwrap();
        assert_eq!(owner_reads.iter().map(|r| (r.retailer_id.as_str(), r.rows)).collect::<Vec<_>>(), [("acme", rows.len() as u64)], "{}", b.name);
        assert!(matches!(hq.approve(&analyst, "acme", &store_id, &[]), Err(HqError::Forbidden(_))), "{}", b.name);
        assert!(matches!(hq.approve(&beta_owner, "acme", &store_id, &[]), Err(HqError::Forbidden(_))), "{}", b.name);
        assert!(matches!(hq.approve(&auditor, "acme", &store_id, &[]), Err(HqError::Forbidden(_))), "{}", b.name);
        assert!(
            matches!(hq.approve(&acme_owner, "acme", &store_id, &["no-such-product".into()]), Err(HqError::Invalid { code: "not_proposed", .. })),
            "{}",
            b.name
        );
        assert_eq!(hq_journal_size(&hq), size, "{}: refused approvals leave no entry", b.name);
        hq.set_sharing(&root, "acme", true).unwrap();
        let open = hq.proposals_for(&analyst, None, true).unwrap();
        assert_eq!(open.len() as u64, run.proposals, "{}", b.name);
        let reads = hq.audit_query(&AuditFilter { user: Some(analyst.user_id.clone()), kind: Some("read_forecasts".into()), ..Default::default() }).unwrap();
        let counts: Vec<u64> = reads.iter().map(|r| r.rows).collect();
        assert_eq!(counts, [0, open.len() as u64], "{}: each read is audited with its row count", b.name);

        let po = hq.approve(&analyst, "acme", &store_id, &[]).unwrap();
        assert_eq!((po.po_id.as_str(), po.store_seq, po.lines.len() as u64), ("PO-000001", 1, run.proposals), "{}", b.name);
        assert!(po.lines.iter().all(|l| open.iter().any(|o| o.product_id == l.product_id && o.units == l.units)), "{}", b.name);
        assert!(
            matches!(hq.approve(&analyst, "acme", &store_id, &[]), Err(HqError::Invalid { code: "nothing_to_approve", .. })),
            "{}: approved once only",
            b.name
        );
        assert!(hq.proposals_for(&root, None, false).unwrap().iter().filter(|r| r.units > 0).all(|r| r.status == "approved" && r.po_id == po.po_id));

        // The store gets it signed by HQ, for itself, and records it through its own journal.
        let pk = hex::encode(fx.store.public_key().to_bytes());
        let signed = hq.orders_for(&pk, 0).unwrap();
        assert_eq!(signed.len(), 1, "{}", b.name);
        let (hq_seq, seq, bytes, sig) = &signed[0];
        let sig = ed25519_dalek::Signature::from_slice(&hex::decode(sig).unwrap()).unwrap();
        hq.public_key().verify_strict(&entry_message(*hq_seq, bytes), &sig).expect("signed by HQ");
        let env = HqEnvelope::decode(bytes).unwrap();
        let HqEvent::PurchaseOrderIssued { store_id: to, po_id, lines, approved_by, .. } = env.event else { panic!("{env:?}") };
        assert_eq!((to.as_str(), *seq, approved_by.as_str()), (store_id.as_str(), 1, analyst.user_id.as_str()));
        assert!(hq.orders_for(&pk, 1).unwrap().is_empty());
        let applied = fx.rt.block_on(fx.store.apply_hq_order(env.hq.clone(), *hq_seq, *seq, po_id.clone(), lines.clone())).unwrap();
        let again = fx.rt.block_on(fx.store.apply_hq_order(env.hq.clone(), *hq_seq, *seq, po_id.clone(), lines.clone())).unwrap();
        assert!(applied && !again, "{}: recorded once", b.name);
        push_all(&hq, &fx, 500);

        // In transit until received: the next run does not order the same units again.
        hq.run_forecasts(&RunParams::default(), &|_| {}).unwrap();
        let rows = hq.proposals_for(&root, None, false).unwrap();
        for l in &lines {
            let r = by_product(&rows, &l.product_id);
            assert_eq!(r.in_transit, l.units, "{}: {r:?}", b.name);
            assert_eq!(r.units, stockade_forecast::replenish::proposal(r.order_up_to as f64, r.on_hand, r.in_transit, 1), "{}", b.name);
        }

        // The manager receives the delivery against the order's number; HQ sees it received.
        let boss = fx.store.first_manager().unwrap();
        let receipt = ReceiveRequest {
            supplier: "Wholesaler".into(),
            document: po_id.clone(),
            lines: lines
                .iter()
                .map(|l| ReceiveLineRequest {
                    product_id: l.product_id.clone(),
                    quantity: l.units,
                    lot_code: po_id.clone(),
                    package_tag: None,
                    unit_cost_minor: 500,
                    lab_thc_mg: None,
                })
                .collect(),
        };
        fx.rt.block_on(fx.store.receive(&boss, receipt)).unwrap();
        let status: String = fx
            .store
            .read(|c| Ok(c.query_row("SELECT CASE WHEN received_seq IS NULL THEN 'open' ELSE 'received' END FROM purchase_orders", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(status, "received");
        push_all(&hq, &fx, 500);
        hq.run_forecasts(&RunParams::default(), &|_| {}).unwrap();
        let rows = hq.proposals_for(&root, None, false).unwrap();
        for l in &lines {
            let r = by_product(&rows, &l.product_id);
            assert_eq!((r.in_transit, r.on_hand), (0, on_hand_at_store(&l.product_id)), "{}: {r:?}", b.name);
        }
        // Derived tables, purchase orders included, replay to the same rows.
        let report = stockade_hq::verify::verify(&hq);
        assert!(report.is_ok(), "{}: {report:?}", b.name);
    }
}

#[test]
fn a_run_with_a_bad_policy_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = selling_store(tmp.path(), "Queen St", 20, 2, 10);
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        assert!(matches!(hq.run_forecasts(&RunParams::default(), &|_| {}), Err(HqError::Invalid { code: "no_sales", .. })), "{}", b.name);
        enrol(&hq, &fx);
        push_all(&hq, &fx, 500);
        for (bad, code) in [
            (RunParams { horizon: 10, ..RunParams::default() }, "invalid_policy"),
            (RunParams { service: 1.0, ..RunParams::default() }, "invalid_service"),
            (RunParams { history_days: 0, ..RunParams::default() }, "invalid_history"),
            (RunParams { as_of: Some("yesterday".into()), ..RunParams::default() }, "invalid_date"),
        ] {
            match hq.run_forecasts(&bad, &|_| {}) {
                Err(HqError::Invalid { code: c, .. }) => assert_eq!(c, code, "{}", b.name),
                other => panic!("{}: {other:?}", b.name),
            }
        }
        assert!(hq.proposals_for(&Principal::local_admin(), None, false).unwrap().is_empty(), "{}", b.name);
    }
}
