//! Traceable exports. Every file HQ hands out carries, in its identifier columns, references
//! keyed to its recipient and to the export itself:
//!
//! - `store_ref` and `product_ref`: keyed per recipient (stable across that recipient's exports,
//!   so their joins keep working; different for every other recipient);
//! - `row_ref`: keyed per export, naming the exact file.
//!
//! Figures are never touched. A leaked copy is traced by any one surviving reference, so
//! shuffling rows, dropping columns or keeping a subset of rows does not hide where it came
//! from. A copy stripped of all three columns carries no fingerprint and is reported as such.

use crate::access::Principal;
use crate::audit::AuditEvent;
use crate::db::Val;
use crate::report::DailyRow;
use crate::{Hq, HqError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Hex digits of a reference: 40 bits, so a random string matches one given reference with
/// probability 2⁻⁴⁰.
const REF_HEX: usize = 10;
/// An export with more rows than this raises a `bulk_export` alert.
pub const BULK_EXPORT_ROWS: usize = 10_000;
/// The export that makes this many by one user within an hour raises a `bulk_export` alert.
pub const BULK_EXPORTS_PER_HOUR: i64 = 20;

/// One row of an exported daily report: the figures of [`DailyRow`] with keyed references in
/// place of internal ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    pub date: String,
    pub retailer_id: String,
    pub store_ref: String,
    pub store_name: String,
    pub product_ref: String,
    pub sku: String,
    pub gtin: String,
    pub product_name: String,
    pub units_sold: i64,
    pub units_returned: i64,
    pub weight_sold_mg: i64,
    pub net_sales_minor: i64,
    pub tax_minor: i64,
    pub refunds_minor: i64,
    pub closing_units: i64,
    pub row_ref: String,
}

pub const EXPORT_CSV_HEADER: &str = "date,retailer_id,store_ref,store_name,product_ref,sku,gtin,product_name,units_sold,units_returned,weight_sold_mg,net_sales_minor,tax_minor,refunds_minor,closing_units,row_ref";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, Clone)]
pub struct Export {
    pub export_id: String,
    pub recipient: String,
    pub rows: Vec<ExportRow>,
    pub text: String,
}

/// Where a file came from, as far as its references tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// Reference-shaped values found in the file.
    pub refs_found: usize,
    /// Best match first.
    pub matches: Vec<TraceMatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceMatch {
    pub recipient: String,
    /// The export, when a per-export reference survived; otherwise every export to that
    /// recipient is a candidate.
    pub export_id: Option<String>,
    pub exported_at_ms: Option<i64>,
    pub exported_by: Option<String>,
    /// References in the file that only this recipient's (or export's) key produces.
    pub matched_refs: usize,
    /// 1 − the chance that this many matches arise by accident.
    pub confidence: f64,
}

fn keyed_ref(prefix: char, key: &[u8; 32], what: &str) -> String {
    let h = blake3::keyed_hash(key, what.as_bytes());
    format!("{prefix}-{}", &h.to_hex()[..REF_HEX])
}

fn key32(v: &Val) -> Result<[u8; 32], HqError> {
    v.b().and_then(|b| b.try_into().ok()).ok_or_else(|| HqError::Corrupt("an export key is not 32 bytes".into()))
}

fn random_key() -> [u8; 32] {
    use rand::RngCore;
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

/// Every `[SPR]-<10 hex>` token in a text of any layout (CSV, JSON, TSV, a spreadsheet saved as text).
pub fn find_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let len = 2 + REF_HEX;
    let mut i = 0;
    while i + len <= b.len() {
        let boundary_before = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let boundary_after = i + len == b.len() || !b[i + len].is_ascii_alphanumeric();
        if boundary_before
            && boundary_after
            && matches!(b[i], b'S' | b'P' | b'R')
            && b[i + 1] == b'-'
            && b[i + 2..i + len].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        {
            out.insert(text[i..i + len].to_string());
            i += len;
        } else {
            i += 1;
        }
    }
    out
}

impl Hq {
    fn recipient_key(&self, recipient: &str) -> Result<[u8; 32], HqError> {
        let r = recipient.to_string();
        let existing = self.db.tx(|tx| tx.one("SELECT fp_key FROM recipients WHERE recipient = $1", &[r.as_str().into()]))?;
        if let Some(row) = existing {
            return key32(&row[0]);
        }
        let key = random_key();
        self.db.tx(|tx| {
            tx.exec("INSERT INTO recipients (recipient, fp_key) VALUES ($1, $2) ON CONFLICT (recipient) DO NOTHING", &[r.as_str().into(), Val::B(key.to_vec())])
        })?;
        let row = self.db.tx(|tx| tx.one("SELECT fp_key FROM recipients WHERE recipient = $1", &[r.as_str().into()]))?;
        key32(&row.ok_or_else(|| HqError::Corrupt("recipient key vanished".into()))?[0])
    }

    /// The daily report for `recipient`, as `p` may see it, fingerprinted and logged: the
    /// export is in the audit log (kind `export`, with its row count and recipient) and in the
    /// export register `trace_leak` reads.
    pub fn export_daily(&self, p: &Principal, date: &str, retailer: Option<&str>, recipient: &str, format: Format) -> Result<Export, HqError> {
        let recipient = recipient.trim();
        if recipient.is_empty() || recipient.len() > 200 {
            return Err(HqError::Invalid { code: "invalid_recipient", message: "name the recipient of the export (1 to 200 characters)".into() });
        }
        let (rows, scope) = self.daily_scoped(p, date, retailer)?;
        let rkey = self.recipient_key(recipient)?;
        let ekey = random_key();
        let export_id = uuid::Uuid::new_v4().to_string();
        let rows: Vec<ExportRow> = rows.into_iter().map(|r| export_row(r, &rkey, &ekey)).collect();
        let at_ms = self.now_ms();
        self.db.tx(|tx| {
            tx.exec(
                "INSERT INTO exports (export_id, recipient, user_id, user_name, at_ms, what, rows_out) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    export_id.as_str().into(),
                    recipient.into(),
                    p.user_id.as_str().into(),
                    p.name.as_str().into(),
                    at_ms.into(),
                    format!("daily report {date}").into(),
                    (rows.len() as i64).into(),
                ],
            )?;
            for r in &rows {
                tx.exec("INSERT INTO export_rows (row_ref, export_id) VALUES ($1, $2)", &[r.row_ref.as_str().into(), export_id.as_str().into()])?;
            }
            Ok::<_, HqError>(())
        })?;
        let hour_ago = at_ms - 3_600_000;
        let recent =
            self.db.tx(|tx| tx.one("SELECT COUNT(*) FROM exports WHERE user_id = $1 AND at_ms >= $2", &[p.user_id.as_str().into(), hour_ago.into()]))?;
        let recent = recent.and_then(|r| r[0].i()).unwrap_or(0);
        if rows.len() > BULK_EXPORT_ROWS || recent == BULK_EXPORTS_PER_HOUR {
            self.security_alert(
                retailer.unwrap_or(""),
                "bulk_export",
                &format!("{} ({}) exported {} rows for '{recipient}'; {recent} exports in the last hour", p.name, p.user_id, rows.len()),
            );
        }
        self.audit(AuditEvent {
            scope: crate::report::scope_code(&scope),
            user_id: &p.user_id,
            user_name: &p.name,
            kind: "export",
            retailer_id: retailer.unwrap_or(""),
            store_id: "",
            what: format!("daily report {date} for '{recipient}' (export {export_id})"),
            rows: rows.len() as u64,
        })?;
        let text = match format {
            Format::Csv => crate::report::rows_to_csv(EXPORT_CSV_HEADER, &rows),
            Format::Json => serde_json::to_string_pretty(&rows).map_err(|e| HqError::Io(e.to_string()))?,
        };
        Ok(Export { export_id, recipient: recipient.into(), rows, text })
    }

    /// Names the recipient (and, when a per-export reference survived, the export and its time)
    /// of a leaked copy. No reference found: the file carries no fingerprint of this HQ.
    pub fn trace_leak(&self, text: &str) -> Result<Trace, HqError> {
        let found = find_refs(text);
        let mut trace = Trace { refs_found: found.len(), matches: Vec::new() };
        if found.is_empty() {
            return Ok(trace);
        }
        // Per-export references, looked up directly.
        let mut by_export: BTreeMap<String, usize> = BTreeMap::new();
        for r in found.iter().filter(|r| r.starts_with("R-")) {
            if let Some(row) = self.db.tx(|tx| tx.one("SELECT export_id FROM export_rows WHERE row_ref = $1", &[r.as_str().into()]))? {
                *by_export.entry(row[0].show()).or_default() += 1;
            }
        }
        // Per-recipient references: recompute each recipient's store and product references.
        let (recipients, stores, products) = self.db.snapshot(|tx| {
            let rec = tx.query("SELECT recipient, fp_key FROM recipients ORDER BY recipient", &[])?;
            let stores = tx.query("SELECT DISTINCT retailer_id, store_id FROM store_heads", &[])?;
            let products = tx.query("SELECT DISTINCT retailer_id, sku FROM products", &[])?;
            Ok::<_, HqError>((rec, stores, products))
        })?;
        let shape: Vec<String> = found.iter().filter(|r| !r.starts_with("R-")).cloned().collect();
        let mut by_recipient: BTreeMap<String, usize> = BTreeMap::new();
        if !shape.is_empty() {
            for rec in &recipients {
                let key = key32(&rec[1])?;
                let mut mine: BTreeSet<String> = stores.iter().map(|s| keyed_ref('S', &key, &store_key(&s[0].show(), &s[1].show()))).collect();
                let retailers: BTreeSet<String> = stores.iter().map(|s| s[0].show()).collect();
                mine.extend(retailers.iter().map(|r| keyed_ref('S', &key, &store_key(r, crate::report::ALL_STORES))));
                mine.extend(products.iter().map(|p| keyed_ref('P', &key, &product_key(&p[0].show(), &p[1].show()))));
                let n = shape.iter().filter(|r| mine.contains(*r)).count();
                if n > 0 {
                    by_recipient.insert(rec[0].show(), n);
                }
            }
        }
        // Exports whose row references matched, with their recipient's matches added.
        for (export_id, n) in &by_export {
            let row = self.db.tx(|tx| tx.one("SELECT recipient, at_ms, user_name FROM exports WHERE export_id = $1", &[export_id.as_str().into()]))?;
            let Some(row) = row else { continue };
            let recipient = row[0].show();
            let m = n + by_recipient.remove(&recipient).unwrap_or(0);
            trace.matches.push(TraceMatch {
                recipient,
                export_id: Some(export_id.clone()),
                exported_at_ms: row[1].i(),
                exported_by: Some(row[2].show()),
                matched_refs: m,
                confidence: confidence(m),
            });
        }
        for (recipient, n) in by_recipient {
            trace.matches.push(TraceMatch { recipient, export_id: None, exported_at_ms: None, exported_by: None, matched_refs: n, confidence: confidence(n) });
        }
        trace.matches.sort_by(|a, b| b.matched_refs.cmp(&a.matched_refs).then_with(|| a.recipient.cmp(&b.recipient)));
        Ok(trace)
    }
}

/// Products are named by retailer and SKU: the same across that retailer's stores, so rows an
/// analyst sees per retailer carry one too.
fn product_key(retailer_id: &str, sku: &str) -> String {
    format!("product:{retailer_id}/{sku}")
}

fn store_key(retailer_id: &str, store_id: &str) -> String {
    format!("store:{retailer_id}/{store_id}")
}

fn export_row(r: DailyRow, rkey: &[u8; 32], ekey: &[u8; 32]) -> ExportRow {
    let store_ref = keyed_ref('S', rkey, &store_key(&r.retailer_id, &r.store_id));
    let product_ref = keyed_ref('P', rkey, &product_key(&r.retailer_id, &r.sku));
    let row_ref = keyed_ref('R', ekey, &format!("row:{}/{}/{}/{}", r.date, r.retailer_id, r.store_id, r.sku));
    ExportRow {
        date: r.date,
        retailer_id: r.retailer_id,
        store_ref,
        store_name: r.store_name,
        product_ref,
        sku: r.sku,
        gtin: r.gtin,
        product_name: r.product_name,
        units_sold: r.units_sold,
        units_returned: r.units_returned,
        weight_sold_mg: r.weight_sold_mg,
        net_sales_minor: r.net_sales_minor,
        tax_minor: r.tax_minor,
        refunds_minor: r.refunds_minor,
        closing_units: r.closing_units,
        row_ref,
    }
}

/// With `m` matching 40-bit references, the chance of an accidental match is at most
/// (refs known / 2⁴⁰)^m; with under a million references known, ≤ (2⁻²⁰)^m.
fn confidence(m: usize) -> f64 {
    1.0 - 2f64.powi(-20 * m.min(50) as i32)
}
