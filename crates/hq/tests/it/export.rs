//! Traceable exports: 100 recipients, each copy perturbed as a leaker would, each traced back.

use crate::fixture::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use stockade_hq::access::{HqRole, Principal};
use stockade_hq::audit::AuditFilter;
use stockade_hq::export::Format;

/// Shuffles the rows, drops two random columns and keeps a random 20 % of the rows (at least
/// one), re-written as CSV the way a spreadsheet would.
fn perturb(text: &str, rng: &mut impl Rng) -> (String, Vec<String>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let mut rows: Vec<Vec<String>> = r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect();
    let mut cols: Vec<usize> = (0..header.len()).collect();
    cols.shuffle(rng);
    let dropped: Vec<usize> = cols[..2].to_vec();
    rows.shuffle(rng);
    let keep = (rows.len() / 5).max(1);
    rows.truncate(keep);
    let mut w = csv::Writer::from_writer(Vec::new());
    let keep_col = |i: &usize| !dropped.contains(i);
    w.write_record((0..header.len()).filter(keep_col).map(|i| header[i].as_str())).unwrap();
    for row in &rows {
        w.write_record((0..header.len()).filter(keep_col).map(|i| row[i].as_str())).unwrap();
    }
    (String::from_utf8(w.into_inner().unwrap()).unwrap(), dropped.iter().map(|&i| header[i].clone()).collect())
}

#[test]
fn a_hundred_perturbed_exports_are_each_traced_to_their_recipient_and_a_plain_file_to_nobody() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = store(tmp.path(), "Queen St", 30);
    let day = fx.store.read(|c| Ok(c.query_row("SELECT MIN(local_date) FROM sales", [], |r| r.get::<_, String>(0))?)).unwrap();
    for b in backends(tmp.path()) {
        let hq = hq(tmp.path(), &b);
        enrol(&hq, &fx);
        push_all(&hq, &fx, 500);
        let analyst = hq.add_user(&Principal::local_admin(), "Wanda Wholesale", HqRole::Analyst, None).unwrap().0;
        hq.set_sharing(&Principal::local_admin(), "acme", true).unwrap();
        let plain = hq.report_daily(&day, None).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
        let mut ref_columns_dropped = 0;
        for i in 0..100 {
            let recipient = format!("recipient-{i:03}@industry.example");
            let format = if i % 10 == 9 { Format::Json } else { Format::Csv };
            let export = hq.export_daily(&analyst, &day, None, &recipient, format).unwrap();
            // The figures are the report's, untouched.
            let figures = |f: &dyn Fn(usize) -> i64| (0..plain.len()).map(f).collect::<Vec<_>>();
            assert_eq!(figures(&|k| export.rows[k].net_sales_minor), figures(&|k| plain[k].net_sales_minor));
            assert_eq!(figures(&|k| export.rows[k].closing_units), figures(&|k| plain[k].closing_units));
            let leaked = if format == Format::Csv {
                let (text, dropped) = perturb(&export.text, &mut rng);
                ref_columns_dropped += dropped.iter().filter(|c| c.ends_with("_ref")).count();
                text
            } else {
                // A JSON copy: rows shuffled and a fifth kept, ids of the kept rows only.
                let mut rows = export.rows.clone();
                rows.shuffle(&mut rng);
                rows.truncate(rows.len() / 5);
                serde_json::to_string(
                    &rows.iter().map(|r| serde_json::json!({"store": r.store_name, "product": r.product_ref, "units": r.units_sold})).collect::<Vec<_>>(),
                )
                .unwrap()
            };
            let trace = hq.trace_leak(&leaked).unwrap();
            let best = trace.matches.first().unwrap_or_else(|| panic!("{}: copy {i} not traced: {leaked}", b.name));
            assert_eq!(best.recipient, recipient, "{}: copy {i}", b.name);
            assert!(best.confidence > 0.999_999, "{}: copy {i}: {best:?}", b.name);
            assert_eq!(trace.matches.len(), 1, "{}: copy {i} points at one recipient only: {:?}", b.name, trace.matches);
            // When a per-export reference survived, the very export (and so its time) is named.
            if export.rows.iter().any(|r| leaked.contains(&r.row_ref)) {
                assert_eq!(best.export_id.as_deref(), Some(export.export_id.as_str()), "{}: copy {i}", b.name);
                assert!(best.exported_at_ms.is_some() && best.exported_by.as_deref() == Some("Wanda Wholesale"));
            } else {
                assert_eq!(best.export_id, None, "{}: copy {i}", b.name);
            }
        }
        assert!(ref_columns_dropped >= 5, "the perturbations did drop reference columns ({ref_columns_dropped})");
        // Each export is in the audit log with its recipient and row count.
        let exports = hq.audit_query(&AuditFilter { kind: Some("export".into()), ..Default::default() }).unwrap();
        assert_eq!(exports.len(), 100, "{}", b.name);
        assert!(exports[7].what.contains("recipient-007@industry.example") && exports[7].rows == plain.len() as u64, "{}: {:?}", b.name, exports[7]);

        // The twentieth export within an hour by one user raised one bulk-export alert.
        let bulk: Vec<_> = hq.alerts(500).unwrap().into_iter().filter(|a| a.kind == "bulk_export").collect();
        assert_eq!(bulk.len(), 1, "{}: {bulk:?}", b.name);
        assert!(bulk[0].message.contains("Wanda Wholesale") && bulk[0].message.contains("20 exports in the last hour"), "{}", bulk[0].message);

        // A file HQ never fingerprinted.
        let trace = hq.trace_leak(&stockade_hq::report::to_csv(&plain)).unwrap();
        assert_eq!((trace.refs_found, trace.matches.len()), (0, 0), "{}", b.name);
        // Reference-shaped values no export produced: found, matched to nobody.
        let trace = hq.trace_leak("store,units\nS-0123456789,4\nP-abcdefabcd,2\n").unwrap();
        assert_eq!((trace.refs_found, trace.matches.len()), (2, 0), "{}", b.name);
    }
}
