//! Roles, tenancy and the audit log at HQ, on both engines.

use crate::fixture::*;
use stockade_hq::access::{HqRole, Principal};
use stockade_hq::audit::AuditFilter;
use stockade_hq::db::Val;
use stockade_hq::report::ALL_STORES;
use stockade_hq::{Hq, HqError};

fn users(hq: &Hq) -> (Principal, Principal, Principal, Principal) {
    let root = Principal::local_admin();
    hq.add_retailer("beta", "Beta Retail").unwrap();
    let analyst = hq.add_user(&root, "Wanda Wholesale", HqRole::Analyst, None).unwrap().0;
    let acme_owner = hq.add_user(&root, "Ann Acme", HqRole::Owner, Some("acme")).unwrap().0;
    let beta_owner = hq.add_user(&root, "Ben Beta", HqRole::Owner, Some("beta")).unwrap().0;
    let auditor = hq.add_user(&root, "Otto Audit", HqRole::Auditor, None).unwrap().0;
    (analyst, acme_owner, beta_owner, auditor)
}

#[test]
fn an_analysts_read_is_audited_with_its_row_count_and_store_level_rows_need_the_retailers_agreement() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = store(tmp.path(), "Queen St", 30);
    let day = fx.store.read(|c| Ok(c.query_row("SELECT MIN(local_date) FROM sales", [], |r| r.get::<_, String>(0))?)).unwrap();
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        enrol(&hq, &fx);
        push_all(&hq, &fx, 500);
        let (analyst, acme_owner, beta_owner, auditor) = users(&hq);

        // No agreement: the analyst sees acme per retailer, never per store.
        let rows = hq.report_daily_for(&analyst, &day, None).unwrap();
        assert!(!rows.is_empty() && rows.iter().all(|r| r.store_name == ALL_STORES && r.store_id == ALL_STORES), "{}", b.name);
        let full = hq.report_daily_for(&Principal::local_admin(), &day, None).unwrap();
        let sum = |rows: &[stockade_hq::report::DailyRow]| rows.iter().map(|r| r.net_sales_minor).sum::<i64>();
        assert_eq!(sum(&rows), sum(&full), "{}: aggregates add up to the same figures", b.name);
        let reads = hq.audit_query(&AuditFilter { user: Some(analyst.user_id.clone()), kind: Some("read_sales".into()), ..Default::default() }).unwrap();
        assert_eq!(reads.len(), 1, "{}", b.name);
        assert_eq!((reads[0].rows, reads[0].user_name.as_str()), (rows.len() as u64, "Wanda Wholesale"), "{}", b.name);
        assert!(reads[0].what.contains(&day) && reads[0].what.contains("per retailer"), "{}: {}", b.name, reads[0].what);

        // With acme's agreement, store-level rows; the change itself is audited.
        hq.set_sharing(&Principal::local_admin(), "acme", true).unwrap();
        let rows = hq.report_daily_for(&analyst, &day, None).unwrap();
        assert!(rows.iter().all(|r| r.store_name == "Queen St"), "{}", b.name);
        assert_eq!(rows, full, "{}", b.name);

        // Owners: their own retailer only; asking for another is refused and audited.
        assert_eq!(hq.report_daily_for(&acme_owner, &day, None).unwrap(), full, "{}", b.name);
        assert!(hq.report_daily_for(&beta_owner, &day, None).unwrap().is_empty(), "{}: beta has no stores", b.name);
        assert!(matches!(hq.report_daily_for(&beta_owner, &day, Some("acme")), Err(HqError::Forbidden(_))), "{}", b.name);
        assert!(matches!(hq.add_user(&auditor, "x", HqRole::Admin, None), Err(HqError::Forbidden(_))), "{}", b.name);
        assert!(matches!(hq.set_sharing(&analyst, "acme", false), Err(HqError::Forbidden(_))), "{}", b.name);
        let denied = hq.audit_query(&AuditFilter { kind: Some("denied".into()), ..Default::default() }).unwrap();
        assert_eq!(denied.len(), 3, "{}", b.name);
        assert_eq!((denied[0].user_id.as_str(), denied[0].retailer_id.as_str()), (beta_owner.user_id.as_str(), "acme"));
        // Each refusal is also an alert, at HQ and in its API.
        let out_of_scope: Vec<_> = hq.alerts(100).unwrap().into_iter().filter(|a| a.kind == "out_of_scope").collect();
        assert_eq!(out_of_scope.len(), 3, "{}: {out_of_scope:?}", b.name);
        assert!(out_of_scope.iter().any(|a| a.retailer_id == "acme" && a.message.contains("Ben Beta")), "{}: {out_of_scope:?}", b.name);
        // Ten unknown tokens within ten minutes raise one failed-login alert, not one per try.
        let failed = |hq: &Hq| hq.alerts(100).unwrap().into_iter().filter(|a| a.kind == "failed_logins").count();
        for i in 1..=12 {
            assert!(matches!(hq.authenticate(&format!("{i:064x}")), Err(HqError::Unauthorized)));
            assert_eq!(failed(&hq), usize::from(i >= stockade_hq::FAILED_SIGN_INS_ALERT as i32), "{}: after {i} failures", b.name);
        }
        let changes = hq.audit_query(&AuditFilter { kind: Some("permission_change".into()), ..Default::default() }).unwrap();
        assert_eq!(changes.len(), 5, "{}: four users, one agreement", b.name);

        // The market report is open to every role, and with one store every cell is suppressed.
        let month = &day[..7];
        let market = hq.market_report(&beta_owner, month, month, &stockade_hq::sdc::Rules::default()).unwrap();
        assert!(!market.is_empty() && market.iter().all(|c| c.net_sales_minor.is_none()), "{}: one store is never published", b.name);
        let reads = hq.audit_query(&AuditFilter { kind: Some("read_market".into()), ..Default::default() }).unwrap();
        assert_eq!((reads.len(), reads[0].rows), (1, market.len() as u64), "{}", b.name);

        // Breach impact: what each account could have seen.
        let store_id = fx.store.info().store_id.clone();
        let impact = hq.breach_impact(Some("Wanda Wholesale"), None, None, None).unwrap();
        assert_eq!(impact.stores, vec![("acme".to_string(), store_id.clone(), "Queen St".to_string())], "{}: store level after the agreement", b.name);
        assert_eq!(impact.totals_only, vec!["acme".to_string()], "{}: totals before it", b.name);
        assert_eq!((impact.reads, impact.exports.len(), impact.customers.len()), (2, 0, 0), "{}", b.name);
        let impact = hq.breach_impact(Some(&beta_owner.user_id), None, None, None).unwrap();
        assert!(impact.stores.is_empty() && impact.totals_only.is_empty(), "{}: refused reads expose nothing: {impact:?}", b.name);
        let export = hq.export_daily(&acme_owner, &day, None, "Acme's accountant", stockade_hq::export::Format::Csv).unwrap();
        let impact = hq.breach_impact(None, Some(&export.export_id), None, None).unwrap();
        assert_eq!(impact.exports, vec![(export.export_id.clone(), "Acme's accountant".to_string(), START_MS, export.rows.len() as u64)], "{}", b.name);
        assert_eq!(impact.stores.len(), 1, "{}", b.name);

        // Revoked: the token stops working.
        let (temp, token) = hq.add_user(&Principal::local_admin(), "Temp", HqRole::Analyst, None).unwrap();
        assert_eq!(hq.authenticate(&token).unwrap().user_id, temp.user_id);
        hq.revoke_user(&Principal::local_admin(), &temp.user_id).unwrap();
        assert!(matches!(hq.authenticate(&token), Err(HqError::Unauthorized)), "{}", b.name);
    }
}

#[test]
fn any_change_deletion_or_insertion_in_the_audit_log_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        hq.add_retailer("acme", "Acme Cannabis").unwrap();
        users(&hq);
        let n = hq.verify_audit().unwrap();
        assert_eq!(n, 4, "{}: four users granted", b.name);
        let saved = hq
            .db()
            .tx(|t| t.query("SELECT seq, at_ms, user_id, kind, retailer_id, store_id, rows_read, bytes, hash FROM audit_log ORDER BY seq", &[]))
            .unwrap();
        let head = hq.db().tx(|t| t.query("SELECT id, size, hash, signature FROM audit_head", &[])).unwrap();
        let restore = |hq: &Hq| {
            hq.db()
                .tx(|t| {
                    t.exec("DELETE FROM audit_log", &[])?;
                    t.exec("DELETE FROM audit_head", &[])?;
                    for r in &saved {
                        t.exec("INSERT INTO audit_log (seq, at_ms, user_id, kind, retailer_id, store_id, rows_read, bytes, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", r)?;
                    }
                    t.exec("INSERT INTO audit_head (id, size, hash, signature) VALUES ($1, $2, $3, $4)", &head[0])
                })
                .unwrap();
            assert_eq!(hq.verify_audit().unwrap(), 4);
        };
        let forged_bytes = String::from_utf8(saved[1][7].b().unwrap().to_vec()).unwrap().replace("Ann Acme", "Someone Else");
        let tampers: Vec<(&str, String, Vec<Val>)> = vec![
            ("a row count changed", "UPDATE audit_log SET rows_read = 99 WHERE seq = 2".into(), vec![]),
            ("a user changed", "UPDATE audit_log SET user_id = 'nobody' WHERE seq = 3".into(), vec![]),
            ("a record rewritten", "UPDATE audit_log SET bytes = $1 WHERE seq = 2".into(), vec![Val::B(forged_bytes.into_bytes())]),
            ("a middle record deleted", "DELETE FROM audit_log WHERE seq = 3".into(), vec![]),
            ("the last record deleted", "DELETE FROM audit_log WHERE seq = 4".into(), vec![]),
            (
                "a record appended",
                "INSERT INTO audit_log SELECT seq + 4, at_ms, user_id, kind, retailer_id, store_id, rows_read, bytes, hash FROM audit_log WHERE seq = 1".into(),
                vec![],
            ),
            ("the head deleted", "DELETE FROM audit_head".into(), vec![]),
        ];
        for (what, sql, params) in tampers {
            hq.db().tx(|t| t.exec(&sql, &params)).unwrap();
            let found = hq.verify_audit();
            assert!(matches!(found, Err(HqError::Corrupt(_))), "{}: {what} went unnoticed: {found:?}", b.name);
            restore(&hq);
        }
    }
}
