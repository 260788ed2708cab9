//! `hq verify`: re-checks HQ's own journal and signed head, every store's chain, every
//! checkpoint's two signatures and the chain of checkpoints, then replays everything into a
//! fresh in-memory database and compares every derived row with the stored one. Runs on one
//! read-only snapshot, so it can run while HQ serves.

use crate::db::{Db, Row, Tx, Val};
use crate::project::{self, StoreCtx};
use crate::schema::DERIVED;
use crate::{create_schema, Hq, HqError};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use stockade_journal::hq_event::HqEnvelope;
use stockade_journal::{chain_hash, ChainVerifier, Checkpoint, Envelope, Hash, StoredEntry, GENESIS};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    #[error("HQ journal entry {seq}: {reason}")]
    HqJournal { seq: u64, reason: String },
    #[error("HQ signed head: {0}")]
    HqHead(String),
    #[error("store {store}: entry {seq}: {reason}")]
    Entry { store: String, seq: u64, reason: String },
    #[error("store {store}: checkpoint at size {size}: {reason}")]
    Checkpoint { store: String, size: u64, reason: String },
    #[error("table '{table}': rows of {key} belong to no enrolled store")]
    Orphan { table: String, key: String },
    #[error("derived table '{table}': row ({key}) {problem}")]
    Derived { table: String, key: String, problem: &'static str },
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub hq_entries: u64,
    pub stores: u64,
    pub entries: u64,
    pub checkpoints: u64,
    pub derived_rows: u64,
    /// Per store: (store id, size, head hash hex).
    pub heads: Vec<(String, u64, String)>,
}

type Outcome<T> = Result<T, Result<Finding, HqError>>;

fn db_err<E: Into<HqError>>(e: E) -> Result<Finding, HqError> {
    Err(e.into())
}

const PAGE: u64 = 5000;

/// Verifies `hq`. `Err(Ok(finding))` names the first problem; `Err(Err(e))` means verification
/// could not run.
pub fn verify(hq: &Hq) -> Outcome<VerifyReport> {
    let mem = Db::memory().map_err(db_err)?;
    create_schema(&mem).map_err(Err)?;
    hq.db().snapshot(|tx| -> Result<Outcome<VerifyReport>, HqError> { Ok(run(hq, tx, &mem)) }).map_err(Err)?
}

fn run(hq: &Hq, tx: &mut dyn Tx, mem: &Db) -> Outcome<VerifyReport> {
    let hq_entries = replay_hq_journal(hq, tx, mem)?;
    let enrolled =
        mem.tx(|m| m.query("SELECT retailer_id, store_id, public_key FROM stores WHERE store_id <> '' ORDER BY retailer_id, store_id", &[])).map_err(db_err)?;

    // Rows of stores that are not enrolled (or under the wrong retailer) are extra rows.
    let known: BTreeSet<(String, String)> = enrolled.iter().map(|r| (r[0].show(), r[1].show())).collect();
    for table in ["entries", "checkpoints", "store_heads", "products", "sale_lines", "stock", "daily_sales", "daily_stock", "unprojected"] {
        let pairs = tx.query(&format!("SELECT DISTINCT retailer_id, store_id FROM {table}"), &[]).map_err(db_err)?;
        if let Some(p) = pairs.iter().find(|p| !known.contains(&(p[0].show(), p[1].show()))) {
            return Err(Ok(Finding::Orphan { table: table.into(), key: format!("retailer {} store {}", p[0].show(), p[1].show()) }));
        }
    }

    let mut entries = 0;
    let mut checkpoints = 0;
    let mut heads = Vec::new();
    for r in &enrolled {
        let (retailer_id, store_id) = (r[0].show(), r[1].show());
        let key = stockade_journal::verifying_key_from_hex(&r[2].show())
            .ok_or_else(|| Ok(Finding::HqJournal { seq: 0, reason: format!("store {store_id} has an unreadable public key") }))?;
        let (n, cps, head) = replay_store(hq, tx, mem, &retailer_id, &store_id, &key)?;
        entries += n;
        checkpoints += cps;
        heads.push((store_id, n, hex::encode(head)));
    }
    let derived_rows = compare_derived(tx, mem)?;
    Ok(VerifyReport { hq_entries, stores: enrolled.len() as u64, entries, checkpoints, derived_rows, heads })
}

fn replay_hq_journal(hq: &Hq, tx: &mut dyn Tx, mem: &Db) -> Outcome<u64> {
    let rows = tx.query("SELECT seq, at_ms, kind, bytes, hash FROM hq_journal ORDER BY seq", &[]).map_err(db_err)?;
    let bad = |seq: u64, reason: &str| -> Result<Finding, HqError> { Ok(Finding::HqJournal { seq, reason: reason.into() }) };
    let mut head = GENESIS;
    let mut size = 0u64;
    for r in &rows {
        let seq = r[0].i().unwrap_or(-1);
        if seq != size as i64 + 1 {
            return Err(bad(size + 1, &format!("is missing (found entry {seq} next)")));
        }
        let seq = seq as u64;
        let Some(bytes) = r[3].b() else { return Err(bad(seq, "bytes are unreadable")) };
        let hash = chain_hash(&head, bytes);
        if r[4].b() != Some(&hash[..]) {
            return Err(bad(seq, "hash does not match its bytes (content changed)"));
        }
        let env = HqEnvelope::decode(bytes).map_err(|e| bad(seq, &format!("payload unreadable: {e}")))?;
        if env.seq != seq || env.hq != hq.hq_id() {
            return Err(bad(seq, "sequence or HQ id differs from the signed bytes"));
        }
        if r[1].i() != Some(env.at_ms) || r[2].t() != Some(env.event.kind()) {
            return Err(bad(seq, "a column differs from the signed bytes"));
        }
        mem.tx(|m| project::apply_hq(m, &env)).map_err(|e| bad(seq, &format!("cannot be replayed: {e}")))?;
        head = hash;
        size = seq;
    }
    let h = tx.query("SELECT id, size, hash, signature FROM hq_head", &[]).map_err(db_err)?;
    let [row] = h.as_slice() else { return Err(Ok(Finding::HqHead(format!("expected one signed head row, found {}", h.len())))) };
    let cp = Checkpoint {
        store_id: hq.hq_id().to_string(),
        size: row[1].i().unwrap_or(-1) as u64,
        head: row[2].b().and_then(|b| b.try_into().ok()).unwrap_or([0xff; 32]),
    };
    if row[0].i() != Some(1) || !cp.verify(&hq.public_key(), row[3].b().unwrap_or(&[])) {
        return Err(Ok(Finding::HqHead("signature does not verify".into())));
    }
    if cp.size != size || cp.head != head {
        return Err(Ok(Finding::HqHead(format!("signed head says {} entries, the journal has {size}", cp.size))));
    }
    Ok(size)
}

fn replay_store(hq: &Hq, tx: &mut dyn Tx, mem: &Db, retailer_id: &str, store_id: &str, key: &ed25519_dalek::VerifyingKey) -> Outcome<(u64, u64, Hash)> {
    let key_vals = [Val::T(retailer_id.into()), Val::T(store_id.into())];
    let cp_rows = tx
        .query("SELECT size, prev_size, head, store_signature, hq_signature FROM checkpoints WHERE retailer_id = $1 AND store_id = $2 ORDER BY size", &key_vals)
        .map_err(db_err)?;
    let cp_bad = |size: u64, reason: &str| -> Result<Finding, HqError> { Ok(Finding::Checkpoint { store: store_id.into(), size, reason: reason.into() }) };
    let mut cps: HashMap<u64, &Row> = HashMap::new();
    let mut prev = 0i64;
    for r in &cp_rows {
        let size = r[0].i().unwrap_or(-1);
        if r[1].i() != Some(prev) {
            return Err(cp_bad(
                size as u64,
                &format!("follows checkpoint {} but the previous one is at {prev} (a checkpoint was removed or added)", r[1].show()),
            ));
        }
        prev = size;
        cps.insert(size as u64, r);
    }

    let mut chain = ChainVerifier::new(store_id);
    let mut ctx = StoreCtx { retailer_id: retailer_id.into(), store_id: store_id.into(), tz: None, unknown_kinds: hq.unknown_kinds().to_vec() };
    let entry_bad = |seq: u64, reason: String| -> Result<Finding, HqError> { Ok(Finding::Entry { store: store_id.into(), seq, reason }) };
    loop {
        let from = chain.size() + 1;
        let rows = tx
            .query(
                "SELECT seq, at_ms, kind, bytes, hash FROM entries WHERE retailer_id = $1 AND store_id = $2 AND seq >= $3 ORDER BY seq LIMIT $4",
                &[key_vals[0].clone(), key_vals[1].clone(), from.into(), PAGE.into()],
            )
            .map_err(db_err)?;
        let n = rows.len();
        let mut envs = Vec::with_capacity(n);
        for r in rows {
            let seq = r[0].i().unwrap_or(-1) as u64;
            let e = StoredEntry {
                seq,
                at_ms: r[1].i().unwrap_or(i64::MIN),
                actor: String::new(),
                kind: r[2].show(),
                bytes: r[3].b().map(<[u8]>::to_vec).unwrap_or_default(),
                prev_hash: chain.head(),
                hash: r[4].b().and_then(|b| b.try_into().ok()).unwrap_or([0xff; 32]),
            };
            // HQ keeps no actor column: take it from the bytes so the verifier compares the rest.
            let e = StoredEntry { actor: Envelope::decode(&e.bytes).map(|env| env.actor).unwrap_or_default(), ..e };
            let env = chain.push(&e).map_err(|err| entry_bad(seq, err.to_string()))?;
            if let Some(cp) = cps.get(&seq) {
                let c = Checkpoint { store_id: store_id.into(), size: seq, head: e.hash };
                if cp[2].b() != Some(&e.hash[..]) {
                    return Err(cp_bad(seq, "its head differs from the journal's hash"));
                }
                if !c.verify(key, cp[3].b().unwrap_or(&[])) {
                    return Err(cp_bad(seq, "the store's signature does not verify with its enrolled key"));
                }
                if !c.verify(&hq.public_key(), cp[4].b().unwrap_or(&[])) {
                    return Err(cp_bad(seq, "HQ's co-signature does not verify"));
                }
            }
            envs.push(env);
        }
        mem.tx(|m| project::apply_store_entries(m, &mut ctx, &envs.iter().collect::<Vec<_>>()).map(|_| ()))
            .map_err(|e: HqError| entry_bad(chain.size(), format!("cannot be replayed: {e}")))?;
        if (n as u64) < PAGE {
            break;
        }
    }
    let last_cp = cp_rows.last().and_then(|r| r[0].i()).unwrap_or(0) as u64;
    if last_cp > chain.size() {
        return Err(entry_bad(chain.size() + 1, format!("is missing: a co-signed checkpoint covers {last_cp} entries")));
    }
    if chain.size() > last_cp {
        return Err(entry_bad(last_cp + 1, "is not covered by any co-signed checkpoint (inserted)".into()));
    }
    if chain.size() > 0 {
        mem.tx(|m| project::set_head(m, &ctx, chain.size(), &chain.head())).map_err(Err)?;
    }
    Ok((chain.size(), cp_rows.len() as u64, chain.head()))
}

/// Reads a table in key order, one page at a time (keyset pagination).
struct Cursor<'q> {
    first: &'q str,
    next: &'q str,
    keys: usize,
    buf: std::vec::IntoIter<Row>,
    after: Option<Row>,
    exhausted: bool,
}

impl Cursor<'_> {
    fn next(&mut self, t: &mut dyn Tx) -> Result<Option<Row>, HqError> {
        if self.buf.len() == 0 && !self.exhausted {
            let page = match &self.after {
                None => t.query(self.first, &[])?,
                Some(k) => t.query(self.next, k)?,
            };
            self.exhausted = (page.len() as u64) < PAGE;
            self.buf = page.into_iter();
        }
        let row = self.buf.next();
        if let Some(r) = &row {
            self.after = Some(r[..self.keys].to_vec());
        }
        Ok(row)
    }
}

/// Compares every derived table: replayed (`mem`) against stored (`tx`), merged in key order.
fn compare_derived(tx: &mut dyn Tx, mem: &Db) -> Outcome<u64> {
    let mut total = 0;
    for (table, keys, cols) in DERIVED {
        let first = format!("SELECT {} FROM {table} ORDER BY {} LIMIT {PAGE}", cols.join(", "), keys.join(", "));
        let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        let next = format!(
            "SELECT {} FROM {table} WHERE ({}) > ({}) ORDER BY {} LIMIT {PAGE}",
            cols.join(", "),
            keys.join(", "),
            placeholders.join(", "),
            keys.join(", ")
        );
        let nk = keys.len();
        let cursor = || Cursor { first: &first, next: &next, keys: nk, buf: Vec::new().into_iter(), after: None, exhausted: false };
        let (mut replayed, mut stored) = (cursor(), cursor());
        let finding = |r: &Row, problem| {
            Err(Ok(Finding::Derived { table: table.to_string(), key: r[..nk].iter().map(Val::show).collect::<Vec<_>>().join(", "), problem }))
        };
        let mut a = mem.tx(|m| replayed.next(m)).map_err(Err)?;
        let mut b = stored.next(tx).map_err(Err)?;
        loop {
            match (&a, &b) {
                (None, None) => break,
                (Some(x), None) => return finding(x, "is missing from the stored table"),
                (None, Some(y)) => return finding(y, "is not produced by the journals (inserted or altered)"),
                (Some(x), Some(y)) => match x[..nk].cmp(&y[..nk]) {
                    std::cmp::Ordering::Less => return finding(x, "is missing from the stored table"),
                    std::cmp::Ordering::Greater => return finding(y, "is not produced by the journals (inserted or altered)"),
                    std::cmp::Ordering::Equal if x != y => return finding(x, "differs from the journals"),
                    std::cmp::Ordering::Equal => {
                        total += 1;
                        a = mem.tx(|m| replayed.next(m)).map_err(Err)?;
                        b = stored.next(tx).map_err(Err)?;
                    }
                },
            }
        }
    }
    Ok(total)
}
