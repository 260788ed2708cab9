//! The audit log: every read of sensitive data (store-level sales and stock, exports) and every
//! permission change, with who, when, what and how many rows. Append-only and hash-chained like
//! the journals; HQ signs its head at every append, so a changed, inserted or deleted record —
//! even the last one — is found by [`Hq::verify_audit`].

use crate::db::Val;
use crate::{hash32, Hq, HqError};
use serde::{Deserialize, Serialize};
use stockade_journal::{chain_hash, Checkpoint, Hash, GENESIS};

/// One audited event, exactly as it is hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    /// UTC milliseconds.
    pub at_ms: i64,
    pub user_id: String,
    pub user_name: String,
    /// `read_sales`, `read_status`, `export`, `permission_change`, `denied`.
    pub kind: String,
    /// The retailer and store read, empty when the read spans all of them.
    pub retailer_id: String,
    pub store_id: String,
    /// What was asked: the report and its parameters, the export's recipient, the change made.
    pub what: String,
    pub rows: u64,
    /// Which stores' figures the read could show: `all`, `retailer:R`, `per-retailer`
    /// (totals only) or `store-level:R1,R2` (those retailers per store, the others in totals);
    /// empty for records that read no sales.
    #[serde(default)]
    pub scope: String,
}

/// A record to append: everything but its number and time.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub user_id: &'a str,
    pub user_name: &'a str,
    pub kind: &'a str,
    pub retailer_id: &'a str,
    pub store_id: &'a str,
    pub what: String,
    pub rows: u64,
    pub scope: String,
}

/// Filters for [`Hq::audit_query`]; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub store: Option<String>,
    pub kind: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: Option<u64>,
}

fn audit_key_id(hq_id: &str) -> String {
    format!("audit:{hq_id}")
}

impl Hq {
    /// Appends one record. Callers append before they answer, so a read that cannot be audited
    /// is not served.
    pub fn audit(&self, e: AuditEvent<'_>) -> Result<u64, HqError> {
        let at_ms = self.now_ms();
        self.db.tx(|tx| {
            let last = tx.one("SELECT size, hash FROM audit_head WHERE id = 1", &[])?;
            let (size, head) = match last {
                Some(r) => (r[0].i().unwrap_or(0) as u64, hash32(&r[1], "audit head")?),
                None => (0, GENESIS),
            };
            let rec = AuditRecord {
                seq: size + 1,
                at_ms,
                user_id: e.user_id.into(),
                user_name: e.user_name.into(),
                kind: e.kind.into(),
                retailer_id: e.retailer_id.into(),
                store_id: e.store_id.into(),
                what: e.what.clone(),
                rows: e.rows,
                scope: e.scope.clone(),
            };
            let bytes = serde_json::to_vec(&rec).map_err(|err| HqError::Io(err.to_string()))?;
            let hash = chain_hash(&head, &bytes);
            tx.exec(
                "INSERT INTO audit_log (seq, at_ms, user_id, kind, retailer_id, store_id, rows_read, bytes, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    rec.seq.into(),
                    at_ms.into(),
                    rec.user_id.as_str().into(),
                    rec.kind.as_str().into(),
                    rec.retailer_id.as_str().into(),
                    rec.store_id.as_str().into(),
                    rec.rows.into(),
                    Val::B(bytes),
                    Val::B(hash.to_vec()),
                ],
            )?;
            let sig = Checkpoint { store_id: audit_key_id(&self.hq_id), size: rec.seq, head: hash }.sign(&self.key);
            tx.exec("DELETE FROM audit_head", &[])?;
            tx.exec(
                "INSERT INTO audit_head (id, size, hash, signature) VALUES (1, $1, $2, $3)",
                &[rec.seq.into(), Val::B(hash.to_vec()), Val::B(sig.to_vec())],
            )?;
            Ok(rec.seq)
        })
    }

    /// Re-checks the whole audit log: numbering, every hash, every indexed column against the
    /// hashed record, and HQ's signature on the head. Returns the number of records, or the
    /// first record (or the head) that does not check out.
    pub fn verify_audit(&self) -> Result<u64, HqError> {
        let (rows, head) = self.db.snapshot(|tx| {
            let rows = tx.query("SELECT seq, at_ms, user_id, kind, retailer_id, store_id, rows_read, bytes, hash FROM audit_log ORDER BY seq", &[])?;
            let head = tx.one("SELECT size, hash, signature FROM audit_head WHERE id = 1", &[])?;
            Ok::<_, HqError>((rows, head))
        })?;
        let bad = |seq: u64, why: &str| HqError::Corrupt(format!("audit record {seq}: {why}"));
        let mut prev: Hash = GENESIS;
        let mut n = 0u64;
        for r in &rows {
            n += 1;
            let seq = r[0].i().unwrap_or(-1);
            if seq != n as i64 {
                return Err(bad(n, &format!("expected record {n}, found {seq} (a record was deleted or inserted)")));
            }
            let bytes = r[7].b().ok_or_else(|| bad(n, "no bytes"))?;
            let rec: AuditRecord = serde_json::from_slice(bytes).map_err(|_| bad(n, "unreadable"))?;
            let cols = (r[1].i(), r[2].show(), r[3].show(), r[4].show(), r[5].show(), r[6].i());
            let want = (Some(rec.at_ms), rec.user_id.clone(), rec.kind.clone(), rec.retailer_id.clone(), rec.store_id.clone(), Some(rec.rows as i64));
            if rec.seq != n || cols != want {
                return Err(bad(n, "its columns differ from the hashed record (changed)"));
            }
            let h = chain_hash(&prev, bytes);
            if hash32(&r[8], "audit record")? != h {
                return Err(bad(n, "its hash does not follow from the previous record (changed)"));
            }
            prev = h;
        }
        let Some(head) = head else {
            return if n == 0 { Ok(0) } else { Err(HqError::Corrupt("audit log: the signed head is missing".into())) };
        };
        let size = head[0].i().unwrap_or(-1);
        let cp = Checkpoint { store_id: audit_key_id(&self.hq_id), size: n, head: prev };
        if size != n as i64 || hash32(&head[1], "audit head")? != prev {
            return Err(HqError::Corrupt(format!("audit log: HQ signed {size} records, {n} are there (records were deleted or added)")));
        }
        if !head[2].b().map(|sig| cp.verify(&self.key.verifying_key(), sig)).unwrap_or(false) {
            return Err(HqError::Corrupt("audit log: the head's signature is not HQ's".into()));
        }
        Ok(n)
    }

    /// Records matching `f`, oldest first (after checking nothing in them was changed).
    pub fn audit_query(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>, HqError> {
        let rows = self.db.snapshot(|tx| {
            tx.query(
                "SELECT bytes FROM audit_log
                 WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR store_id = $2) AND ($3 = '' OR kind = $3)
                   AND at_ms >= $4 AND at_ms <= $5 ORDER BY seq LIMIT $6",
                &[
                    f.user.as_deref().unwrap_or("").into(),
                    f.store.as_deref().unwrap_or("").into(),
                    f.kind.as_deref().unwrap_or("").into(),
                    f.from_ms.unwrap_or(i64::MIN).into(),
                    f.to_ms.unwrap_or(i64::MAX).into(),
                    f.limit.unwrap_or(10_000).min(1_000_000).into(),
                ],
            )
        })?;
        rows.iter()
            .map(|r| r[0].b().and_then(|b| serde_json::from_slice(b).ok()).ok_or_else(|| HqError::Corrupt("an audit record is unreadable".into())))
            .collect()
    }
}

/// What an account (or one export) could have seen, from the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Impact {
    /// Audited reads and exports in the window.
    pub reads: u64,
    pub rows: u64,
    /// Stores whose sales the account could see store by store: (retailer, store id, name).
    pub stores: Vec<(String, String, String)>,
    /// Retailers the account saw only as totals over their stores.
    pub totals_only: Vec<String>,
    /// Exports made: (export id, recipient, UTC ms, rows).
    pub exports: Vec<(String, String, i64, u64)>,
    /// Customer records the account could read. HQ keeps none (store journals carry only keyed
    /// hashes of ID numbers), so this is empty unless that changes.
    pub customers: Vec<String>,
}

impl Hq {
    /// Which stores' sales and which exports `user` (id or name) could have seen from `from_ms`
    /// to `to_ms`, or, with `export`, what that one export carried.
    pub fn breach_impact(&self, user: Option<&str>, export: Option<&str>, from_ms: Option<i64>, to_ms: Option<i64>) -> Result<Impact, HqError> {
        let user_id = match user {
            Some(u) => Some(self.user_id_of(u)?.ok_or_else(|| HqError::NotFound { what: "user", id: u.into() })?),
            None => None,
        };
        if user_id.is_none() && export.is_none() {
            return Err(HqError::Invalid { code: "user_or_export", message: "name a user or an export".into() });
        }
        let records = self.audit_query(&AuditFilter { user: user_id.clone(), from_ms, to_ms, ..Default::default() })?;
        let records: Vec<AuditRecord> = records
            .into_iter()
            .filter(|r| matches!(r.kind.as_str(), "read_sales" | "export"))
            .filter(|r| export.is_none_or(|id| r.kind == "export" && r.what.contains(&format!("(export {id})"))))
            .collect();
        if let Some(id) = export {
            if records.is_empty() {
                return Err(HqError::NotFound { what: "export", id: id.into() });
            }
        }
        let stores = self.db.snapshot(|tx| tx.query("SELECT retailer_id, store_id, name FROM store_heads ORDER BY retailer_id, name", &[]))?;
        let stores: Vec<(String, String, String)> = stores.iter().map(|s| (s[0].show(), s[1].show(), s[2].show())).collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut totals = std::collections::BTreeSet::new();
        for r in &records {
            let asked = |retailer: &str| r.retailer_id.is_empty() || r.retailer_id == retailer;
            let (store_level, only_totals): (Vec<String>, bool) = match r.scope.split_once(':') {
                Some(("retailer", x)) => (vec![x.to_string()], false),
                Some(("store-level", list)) => (list.split(',').map(str::to_string).collect(), true),
                _ if r.scope == "all" => (stores.iter().map(|s| s.0.clone()).collect(), false),
                _ if r.scope == "per-retailer" => (vec![], true),
                _ => (vec![], false),
            };
            for s in stores.iter().filter(|s| asked(&s.0)) {
                if store_level.contains(&s.0) {
                    seen.insert(s.clone());
                } else if only_totals {
                    totals.insert(s.0.clone());
                }
            }
        }
        let exports = match &user_id {
            Some(u) => self.db.snapshot(|tx| {
                tx.query(
                    "SELECT export_id, recipient, at_ms, rows_out FROM exports WHERE user_id = $1 AND at_ms >= $2 AND at_ms <= $3 ORDER BY at_ms",
                    &[u.as_str().into(), from_ms.unwrap_or(i64::MIN).into(), to_ms.unwrap_or(i64::MAX).into()],
                )
            })?,
            None => self
                .db
                .snapshot(|tx| tx.query("SELECT export_id, recipient, at_ms, rows_out FROM exports WHERE export_id = $1", &[export.unwrap_or("").into()]))?,
        };
        let exports = exports.iter().map(|e| (e[0].show(), e[1].show(), e[2].i().unwrap_or(0), e[3].i().unwrap_or(0) as u64)).collect();
        Ok(Impact {
            reads: records.len() as u64,
            rows: records.iter().map(|r| r.rows).sum(),
            stores: seen.into_iter().collect(),
            totals_only: totals.into_iter().collect(),
            exports,
            customers: Vec::new(),
        })
    }
}
