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
