//! Backups of HQ's own journal and `rebuild`: a fresh HQ database from HQ's journal backup and
//! the stores' journals, every signature checked again on the way in, then digests that prove
//! the result equals what was there.

use crate::db::{Db, Tx, Val};
use crate::{create_schema, project, Hq, HqError, NowMs};
use sha2::{Digest, Sha256};
use std::path::Path;
use stockade_journal::backup::{encode, Backup, Header, FORMAT};
use stockade_journal::hq_event::{HqEnvelope, HqEvent};
use stockade_journal::SignedCheckpoint;
use stockade_journal::{chain_hash, Checkpoint, GENESIS};

fn invalid(message: String) -> HqError {
    HqError::Invalid { code: "rebuild_refused", message }
}

impl Hq {
    /// HQ's own journal (the registry) as a self-verifying backup file.
    pub fn backup_hq_journal(&self) -> Result<Vec<u8>, HqError> {
        backup_hq_journal_of(self.db(), self.now_ms())
    }

    /// One store's journal as HQ holds it, with the co-signed checkpoints, as a backup file.
    pub fn backup_store(&self, store_id: &str) -> Result<Vec<u8>, HqError> {
        let (_, key) = self.store_key(store_id)?.ok_or_else(|| HqError::NotFound { what: "store", id: store_id.into() })?;
        let mut entries = Vec::new();
        let mut cps = Vec::new();
        loop {
            let from = entries.last().map(|e: &(u64, Vec<u8>)| e.0 + 1).unwrap_or(1);
            let (page, c) = self.journal(store_id, from, 10_000)?;
            if page.is_empty() {
                break;
            }
            entries.extend(page);
            cps.extend(c);
        }
        let header =
            Header { format: FORMAT.into(), journal: "store".into(), id: store_id.into(), public_key: hex::encode(key.to_bytes()), created_ms: self.now_ms() };
        Ok(encode(&header, &entries, &cps))
    }

    /// Digests of the evidence and of every derived table (ordered rows), to prove two HQ
    /// databases hold the same thing.
    pub fn digests(&self) -> Result<Vec<(String, String)>, HqError> {
        self.db().snapshot(|tx| {
            let mut out = Vec::new();
            let mut tables: Vec<(&str, String)> = vec![
                ("hq_journal", "SELECT seq, bytes FROM hq_journal ORDER BY seq".into()),
                ("entries", "SELECT retailer_id, store_id, seq, hash FROM entries ORDER BY retailer_id, store_id, seq".into()),
            ];
            for (t, keys, cols) in crate::schema::DERIVED {
                tables.push((t, format!("SELECT {} FROM {t} ORDER BY {}", cols.join(", "), keys.join(", "))));
            }
            for (t, sql) in tables {
                let mut h = Sha256::new();
                for row in tx.query(&sql, &[])? {
                    for v in row {
                        match v {
                            Val::Null => h.update([0u8]),
                            Val::I(i) => {
                                h.update([1u8]);
                                h.update(i.to_be_bytes());
                            }
                            Val::T(s) => {
                                h.update([2u8]);
                                h.update((s.len() as u64).to_be_bytes());
                                h.update(s.as_bytes());
                            }
                            Val::B(b) => {
                                h.update([3u8]);
                                h.update((b.len() as u64).to_be_bytes());
                                h.update(&b);
                            }
                        }
                    }
                }
                out.push((t.to_string(), hex::encode(h.finalize())));
            }
            Ok(out)
        })
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RebuildReport {
    pub hq_entries: u64,
    /// (store id, entries, head hash).
    pub stores: Vec<(String, u64, String)>,
    pub digests: Vec<(String, String)>,
}

/// HQ's journal in `db` as a self-verifying backup file (its id and key from its first entry).
pub(crate) fn backup_hq_journal_of(db: &Db, now_ms: i64) -> Result<Vec<u8>, HqError> {
    let (rows, head) = db.snapshot(|tx| {
        let rows = tx.query("SELECT seq, bytes FROM hq_journal ORDER BY seq", &[])?;
        let head = tx.one("SELECT size, hash, signature FROM hq_head WHERE id = 1", &[])?;
        Ok::<_, HqError>((rows, head))
    })?;
    let entries: Vec<(u64, Vec<u8>)> = rows.into_iter().filter_map(|r| Some((r[0].i()? as u64, r[1].b()?.to_vec()))).collect();
    let first =
        entries.first().map(|e| HqEnvelope::decode(&e.1)).transpose().map_err(|e| HqError::Corrupt(format!("HQ journal entry 1 is unreadable: {e}")))?;
    let Some(HqEnvelope { event: HqEvent::HqInitialized { hq_id, public_key, .. }, .. }) = first else {
        return Err(HqError::Corrupt("HQ journal entry 1 is not the initialization".into()));
    };
    let cps = head
        .map(|h| SignedCheckpoint {
            size: h[0].i().unwrap_or(0) as u64,
            head: hex::encode(h[1].b().unwrap_or(&[])),
            signature: hex::encode(h[2].b().unwrap_or(&[])),
            hq_signature: None,
        })
        .into_iter()
        .collect::<Vec<_>>();
    let header = Header { format: FORMAT.into(), journal: "hq".into(), id: hq_id, public_key, created_ms: now_ms };
    Ok(encode(&header, &entries, &cps))
}

/// Rebuilds HQ into `db`, which must be empty, from HQ's journal backup and store journal
/// backups (from the stores themselves or from earlier HQ backups). HQ's key is read from `dir`.
pub fn rebuild(dir: &Path, db: Db, hq_journal: &Backup, stores: &[Backup], now: NowMs) -> Result<(Hq, RebuildReport), HqError> {
    let key = stockade_journal::keyfile::read(&dir.join(crate::KEY_FILE)).map_err(|e| HqError::Io(e.to_string()))?;
    if hq_journal.header.journal != "hq" {
        return Err(invalid("the first backup must be HQ's own journal (`stockade hq backup`)".into()));
    }
    create_schema(&db)?;
    let empty = db.tx(|tx| tx.one("SELECT COUNT(*) FROM hq_journal", &[]))?.and_then(|r| r[0].i()).unwrap_or(0) == 0;
    if !empty {
        return Err(HqError::Conflict { code: "not_empty", message: "rebuild writes into an empty database".into(), hq_size: None });
    }
    // HQ's journal: chain, ids, and a head signed by this HQ's key.
    let mut head = GENESIS;
    let mut envs = Vec::new();
    for (seq, bytes) in &hq_journal.entries {
        head = chain_hash(&head, bytes);
        let env = HqEnvelope::decode(bytes).map_err(|e| invalid(format!("HQ journal entry {seq}: {e}")))?;
        if env.seq != *seq {
            return Err(invalid(format!("HQ journal entry {seq} is numbered {}", env.seq)));
        }
        envs.push((head, env));
    }
    let Some((_, first)) = envs.first() else { return Err(invalid("HQ's journal backup is empty".into())) };
    let HqEvent::HqInitialized { hq_id, public_key, .. } = &first.event else { return Err(invalid("HQ journal entry 1 is not the initialization".into())) };
    if *public_key != hex::encode(key.verifying_key().to_bytes()) {
        return Err(invalid("HQ's journal backup belongs to another HQ key".into()));
    }
    let signed = hq_journal.checkpoints.iter().any(|c| {
        c.size == envs.len() as u64
            && c.head == hex::encode(head)
            && Checkpoint { store_id: hq_id.clone(), size: c.size, head }.verify(&key.verifying_key(), &hex::decode(&c.signature).unwrap_or_default())
    });
    if !signed {
        return Err(invalid("HQ's journal backup does not end at a head signed by this HQ".into()));
    }
    let hq_id = hq_id.clone();
    db.tx(|tx: &mut dyn Tx| {
        for ((h, env), (seq, bytes)) in envs.iter().zip(&hq_journal.entries) {
            tx.exec(
                "INSERT INTO hq_journal (seq, at_ms, kind, bytes, hash) VALUES ($1, $2, $3, $4, $5)",
                &[(*seq).into(), env.at_ms.into(), env.event.kind().into(), Val::B(bytes.clone()), Val::B(h.to_vec())],
            )?;
            project::apply_hq(tx, env)?;
        }
        let cp = Checkpoint { store_id: hq_id.clone(), size: envs.len() as u64, head };
        tx.exec(
            "INSERT INTO hq_head (id, size, hash, signature) VALUES (1, $1, $2, $3)",
            &[cp.size.into(), Val::B(head.to_vec()), Val::B(cp.sign(&key).to_vec())],
        )?;
        Ok::<_, HqError>(())
    })?;
    let hq = Hq::open(dir, db, now)?;

    // Each store: pushed again, interval by interval between the checkpoints HQ had co-signed
    // (and the last store-signed one), so every signature is checked as on first arrival.
    let mut report_stores = Vec::new();
    for b in stores {
        let store_id = b.header.id.clone();
        let (_, key) = hq.store_key(&store_id)?.ok_or_else(|| invalid(format!("store {store_id} is not enrolled in HQ's journal")))?;
        let hq_key = hq.public_key();
        let last = b.entries.len() as u64;
        let mut ends: Vec<&SignedCheckpoint> = b
            .checkpoints
            .iter()
            .filter(|c| {
                c.hq_signature.as_ref().is_some_and(|s| {
                    let head = hex::decode(&c.head).ok().and_then(|h| h.try_into().ok()).unwrap_or([0; 32]);
                    Checkpoint { store_id: store_id.clone(), size: c.size, head }.verify(&hq_key, &hex::decode(s).unwrap_or_default())
                }) || c.size == last
            })
            .collect();
        ends.sort_by_key(|c| c.size);
        ends.dedup_by_key(|c| c.size);
        let mut from = 0u64;
        for c in ends {
            if c.size <= from || c.size > last {
                continue;
            }
            let head = hex::decode(&c.head)
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| invalid(format!("store {store_id}: checkpoint {} is malformed", c.size)))?;
            let cp = Checkpoint { store_id: store_id.clone(), size: c.size, head };
            let sig = hex::decode(&c.signature).map_err(|_| invalid(format!("store {store_id}: checkpoint {} is malformed", c.size)))?;
            if !cp.verify(&key, &sig) {
                return Err(invalid(format!("store {store_id}: checkpoint {} is not signed by the store's enrolled key", c.size)));
            }
            let batch = &b.entries[from as usize..c.size as usize];
            hq.push_unbounded(&store_id, batch, &cp, &sig, last)?;
            from = c.size;
        }
        if from != last {
            return Err(invalid(format!("store {store_id}: its last {} entries are not covered by a signed checkpoint", last - from)));
        }
        let retailer = hq.store_key(&store_id)?.map(|k| k.0).unwrap_or_default();
        let (size, head) = hq.db().tx(|tx| crate::head_in(tx, &retailer, &store_id))?;
        report_stores.push((store_id, size, hex::encode(head)));
    }
    let digests = hq.digests()?;
    Ok((hq, RebuildReport { hq_entries: envs.len() as u64, stores: report_stores, digests }))
}
