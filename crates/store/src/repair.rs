//! `stockade store repair`: a damaged database (pages, indexes, projections or the journal
//! itself) is rebuilt from evidence. What can still be read of the journal is salvaged and
//! checked (chain, the store's own signatures); what is missing comes from HQ's copy or a backup
//! file (checked the same way, with HQ's co-signatures); the projections are replayed; the
//! operational tables (sign-in, HQ link, customer records) are carried over where they can be
//! read. The result must reach every entry the witness file saw, with the witnessed hash —
//! the proof that nothing acknowledged was lost — before it replaces the damaged file, which is
//! kept beside it.

use crate::error::StoreError;
use crate::node::{open_connection, read_key_file, DB_FILE, KEY_FILE};
use ed25519_dalek::VerifyingKey;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use stockade_journal::{ChainVerifier, Checkpoint, Envelope, Hash, SignedCheckpoint};

/// Tables that are not derived from the journal, carried over from the damaged file.
const OPERATIONAL: &[&str] = &[
    "sync",
    "credentials",
    "pins",
    "order_code_failures",
    "customers",
    "sessions",
    "hq_pending",
    "integrity",
    "recoveries",
    "stale_entries",
    "rollback_pending",
    "hq_copy",
    "hq_keys",
    "tree_heads",
];

/// Another copy of the journal: entries `(seq, exact bytes)` from 1, and its checkpoints.
pub type Evidence<'a> = (&'a [(u64, Vec<u8>)], &'a [SignedCheckpoint]);

/// What could be read of a damaged store.
#[derive(Debug, Clone)]
pub struct Salvage {
    pub store_id: String,
    /// The longest prefix of the journal that reads and verifies.
    pub entries: Vec<(u64, Vec<u8>)>,
    pub checkpoints: Vec<SignedCheckpoint>,
    /// Why the prefix stops where it does (none when the whole journal read back).
    pub stopped: Option<String>,
    /// The HQ key the store enrolled with, if that row is readable.
    pub hq_public_key: Option<String>,
    /// Every HQ key the damaged store trusted, oldest first (hex).
    pub hq_keys: Vec<String>,
    pub hq_url: Option<String>,
    /// How far the damaged file says the journal went (its last entry, its signed head, its
    /// checkpoints, what HQ acknowledged), as far as those can be read: the repaired journal
    /// must reach it.
    pub expected: u64,
    /// The size the damaged file's head statement signs, when it verifies.
    pub head_signed: Option<(u64, Hash)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    pub salvaged: u64,
    pub from_elsewhere: u64,
    pub entries: u64,
    pub head_hash: String,
    /// The witnessed size the repaired journal reaches (0 without a witness file).
    pub witnessed: u64,
    /// Operational tables that could not be carried over.
    pub not_carried: Vec<String>,
    /// Where the damaged file was kept.
    pub damaged_copy: String,
}

/// Reads what can be read of the journal of the store in `dir`, entry by entry, and keeps the
/// longest prefix whose chain verifies.
pub fn salvage(dir: &Path) -> Result<Salvage, StoreError> {
    let key = read_key_file(&dir.join(KEY_FILE))?;
    let conn = Connection::open_with_flags(dir.join(DB_FILE), OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let first: Option<Vec<u8>> = conn.query_row("SELECT bytes FROM journal WHERE seq = 1", [], |r| r.get(0)).optional().unwrap_or(None);
    let store_id = first
        .as_deref()
        .and_then(|b| Envelope::decode(b).ok())
        .map(|e| e.store)
        .ok_or_else(|| StoreError::Corrupt("the journal's first entry cannot be read: restore from HQ (`store restore --from-hq`) or a backup".into()))?;
    let max: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM journal", [], |r| r.get(0)).unwrap_or(0);
    let mut chain = ChainVerifier::new(&store_id);
    let mut entries = Vec::new();
    let mut stopped = None;
    let mut st = conn.prepare("SELECT bytes FROM journal WHERE seq = ?1")?;
    for seq in 1..=max.max(0) as u64 {
        let row: Result<Option<Vec<u8>>, _> = st.query_row(params![seq as i64], |r| r.get(0)).optional();
        let bytes = match row {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                stopped = Some(format!("entry {seq} is missing"));
                break;
            }
            Err(e) => {
                stopped = Some(format!("entry {seq} cannot be read: {e}"));
                break;
            }
        };
        // Checked from the bytes alone (the stored hash columns may be the damaged part).
        if let Err(e) = chain.push_bytes(seq, &bytes) {
            stopped = Some(e.to_string());
            break;
        }
        entries.push((seq, bytes));
    }
    drop(st);
    let public = key.verifying_key();
    let mut checkpoints = Vec::new();
    if let Ok(mut st) = conn.prepare("SELECT size, head, signature, hq_signature FROM checkpoints ORDER BY size") {
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, Option<Vec<u8>>>(3)?)));
        if let Ok(rows) = rows {
            // A damaged row ends the list; the ones read are checked when the store is rebuilt.
            for (size, head, sig, hq_sig) in rows.map_while(Result::ok) {
                let Ok(h) = <Hash>::try_from(head.as_slice()) else { continue };
                if (Checkpoint { store_id: store_id.clone(), size: size as u64, head: h }).verify(&public, &sig) {
                    checkpoints.push(SignedCheckpoint {
                        size: size as u64,
                        head: hex::encode(h),
                        signature: hex::encode(sig),
                        hq_signature: hq_sig.map(hex::encode),
                    });
                }
            }
        }
    }
    let sync: Option<(String, String, i64)> = conn
        .query_row("SELECT hq_public_key, hq_url, acked_size FROM sync WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .unwrap_or(None);
    let head: Option<crate::verify::HeadRow> = conn
        .query_row("SELECT size, hash, signature, sale_no FROM head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()
        .unwrap_or(None);
    let head_signed = head.and_then(|(size, hash, sig, sale_no)| {
        let hash: Hash = hash.try_into().ok()?;
        let st = stockade_journal::witness::HeadStatement { store_id: store_id.clone(), size: size as u64, head: hash, sale_no: sale_no? as u64 };
        st.verify(&public, &sig).then_some((size as u64, hash))
    });
    let expected = [
        max.max(0) as u64,
        head_signed.map(|h| h.0).unwrap_or(0),
        checkpoints.iter().map(|c| c.size).max().unwrap_or(0),
        sync.as_ref().map(|s| s.2.max(0) as u64).unwrap_or(0),
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    // Every HQ key the store trusted (old co-signatures were made with them), best effort.
    let mut hq_keys: Vec<String> = conn
        .prepare("SELECT public_key FROM hq_keys WHERE role = 'hq' ORDER BY ord")
        .and_then(|mut st| st.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>())
        .unwrap_or_default();
    hq_keys.extend(sync.as_ref().map(|s| s.0.clone()));
    Ok(Salvage {
        store_id,
        entries,
        checkpoints,
        stopped,
        hq_public_key: sync.as_ref().map(|s| s.0.clone()),
        hq_keys,
        hq_url: sync.map(|s| s.1),
        expected,
        head_signed,
    })
}

fn refused(m: String) -> StoreError {
    StoreError::invalid("repair_refused", m)
}

/// Rebuilds the store in `dir` from the salvaged prefix and `more` (HQ's copy or a backup's
/// entries and checkpoints, from entry 1), keeps the damaged file as
/// `store.db.damaged-<now_ms>` and puts the rebuilt one in its place. Refused, changing
/// nothing, if the evidence does not verify or does not reach the witnessed head.
pub fn repair(dir: &Path, salvage: &Salvage, more: Option<Evidence<'_>>, hq_keys: &[VerifyingKey], now_ms: i64) -> Result<RepairReport, StoreError> {
    let key = read_key_file(&dir.join(KEY_FILE))?;
    let public = key.verifying_key();
    let store_id = salvage.store_id.clone();
    // Nobody else may have the store open while its file is replaced.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(crate::node::LOCK_FILE))
        .map_err(|e| StoreError::Io(format!("cannot open the lock file: {e}")))?;
    lock.try_lock().map_err(|_| refused("the store is open (`stockade store serve` or another command): stop it first".into()))?;
    // The journal: the salvaged prefix, continued by the other copy where it is longer. Where
    // both hold an entry, they must be the same bytes.
    let mut entries: Vec<(u64, Vec<u8>)> = salvage.entries.clone();
    let mut checkpoints: Vec<SignedCheckpoint> = salvage.checkpoints.clone();
    let mut from_elsewhere = 0u64;
    if let Some((other, cps)) = more {
        for (seq, bytes) in other {
            match entries.get((*seq as usize).wrapping_sub(1)) {
                Some((_, mine)) if mine != bytes => {
                    return Err(refused(format!("entry {seq} differs between this store and the other copy: start `store serve` to reconcile with HQ instead")))
                }
                Some(_) => {}
                None if *seq == entries.len() as u64 + 1 => {
                    entries.push((*seq, bytes.clone()));
                    from_elsewhere += 1;
                }
                None => return Err(refused(format!("the other copy skips to entry {seq}"))),
            }
        }
        for c in cps {
            if !checkpoints.iter().any(|x| x.size == c.size) {
                checkpoints.push(c.clone());
            }
        }
    }
    let mut chain = ChainVerifier::new(&store_id);
    let mut sealed = Vec::with_capacity(entries.len());
    for (seq, bytes) in &entries {
        sealed.push(chain.push_bytes(*seq, bytes).map_err(|e| refused(e.to_string()))?);
    }
    // Only what the store's key signed is kept (a checkpoint, the head statement, the witness):
    // entries after the last signature are not re-signed by the repair.
    let witness = crate::integrity::read_witness(dir, &store_id, &public)?;
    let signed_hash = |size: u64| sealed.get((size as usize).wrapping_sub(1)).map(|(e, _)| e.hash);
    let mut signed_to = 0u64;
    for c in &checkpoints {
        let ok =
            hex::decode(&c.head).ok().and_then(|h| <Hash>::try_from(h).ok()).filter(|h| signed_hash(c.size) == Some(*h)).is_some_and(|h| {
                Checkpoint { store_id: store_id.clone(), size: c.size, head: h }.verify(&public, &hex::decode(&c.signature).unwrap_or_default())
            });
        if ok {
            signed_to = signed_to.max(c.size);
        }
    }
    if let Some((size, h)) = salvage.head_signed.filter(|(size, h)| signed_hash(*size) == Some(*h)) {
        let _ = h;
        signed_to = signed_to.max(size);
    }
    if let Some(f) = witness.as_ref().and_then(|w| w.furthest.as_ref()).filter(|f| signed_hash(f.size) == Some(f.head)) {
        signed_to = signed_to.max(f.size);
    }
    if (sealed.len() as u64) > signed_to {
        tracing::warn!(from = signed_to + 1, to = sealed.len(), "entries after the store's last signature are not kept");
        sealed.truncate(signed_to as usize);
        chain = ChainVerifier::new(&store_id);
        for (e, _) in &sealed {
            chain.push(e).map_err(|e| refused(e.to_string()))?;
        }
    }
    if chain.size() < salvage.expected {
        return Err(refused(format!(
            "the evidence reaches entry {} but the damaged file shows the journal went to entry {}: pass --from-hq (HQ's copy) or --backup FILE",
            chain.size(),
            salvage.expected
        )));
    }
    let hashes: std::collections::HashMap<u64, Hash> = sealed.iter().map(|(e, _)| (e.seq, e.hash)).collect();
    let mut cps = Vec::new();
    for c in checkpoints.iter().filter(|c| c.size <= chain.size()) {
        let head: Option<Hash> = hex::decode(&c.head).ok().and_then(|h| h.try_into().ok());
        let cp = Checkpoint { store_id: store_id.clone(), size: c.size, head: head.ok_or_else(|| refused(format!("checkpoint {}: bad head", c.size)))? };
        if hashes.get(&c.size) != Some(&cp.head) {
            return Err(refused(format!("checkpoint {} does not match the journal", c.size)));
        }
        let sig = hex::decode(&c.signature).unwrap_or_default();
        if !cp.verify(&public, &sig) {
            return Err(refused(format!("checkpoint {} is not signed by this store's key", c.size)));
        }
        let hq_sig = match &c.hq_signature {
            Some(h) if !hq_keys.is_empty() => {
                let h = hex::decode(h).unwrap_or_default();
                if !hq_keys.iter().any(|k| cp.verify(k, &h)) {
                    return Err(refused(format!("checkpoint {}: HQ's co-signature does not verify", c.size)));
                }
                Some(h)
            }
            _ => None,
        };
        cps.push((cp, sig, hq_sig));
    }
    // The proof: every entry the witness saw is back, with the witnessed hash.
    let witnessed = witness.as_ref().and_then(|w| w.furthest.clone());
    if let Some(f) = &witnessed {
        if chain.size() < f.size || hashes.get(&f.size) != Some(&f.head) {
            return Err(refused(format!(
                "the evidence reaches entry {} but the witness file saw entry {}: {}",
                chain.size(),
                f.size,
                match &salvage.stopped {
                    Some(why) => format!("the damaged file stops at {why}; pass --from-hq (HQ's copy) or --backup FILE"),
                    None => "pass --from-hq (HQ's copy) or --backup FILE".into(),
                }
            )));
        }
    }

    let db = dir.join(DB_FILE);
    let tmp = dir.join(format!("{DB_FILE}.repairing"));
    let remove_tmp = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
        }
    };
    remove_tmp();
    let mut not_carried = Vec::new();
    let built = (|| -> Result<(), StoreError> {
        let conn = open_connection(&tmp, false)?;
        crate::node::create_schema(&conn, dir, now_ms)?;
        conn.execute_batch("BEGIN")?;
        for (e, env) in &sealed {
            crate::node::insert_entry(&conn, e)?;
            crate::migrate::replay_entry(&conn, e.seq, env)?;
        }
        for (cp, sig, hq_sig) in &cps {
            crate::node::insert_checkpoint(&conn, cp, sig, hq_sig.as_deref())?;
        }
        // Operational rows, table by table, as far as the damaged file lets them be read.
        conn.execute("ATTACH DATABASE ?1 AS damaged", params![format!("file:{}?mode=ro", db.display())])?;
        for table in OPERATIONAL {
            conn.execute_batch("SAVEPOINT carry")?;
            // Row by row (the WHERE turns off SQLite's transfer optimisation, which would copy
            // the damaged file's index pages as they are): indexes are built afresh.
            match conn.execute(&format!("INSERT OR REPLACE INTO main.{table} SELECT * FROM damaged.{table} WHERE 1"), []) {
                Ok(_) => conn.execute_batch("RELEASE carry")?,
                Err(e) => {
                    conn.execute_batch("ROLLBACK TO carry; RELEASE carry")?;
                    tracing::warn!(table, error = %e, "not carried over from the damaged database");
                    not_carried.push(format!("{table}: {e}"));
                }
            }
        }
        if let Some(w) = &witness {
            crate::integrity::raise_floor(&conn, w.sale_no)?;
        }
        crate::integrity::write_head(&conn, &store_id, &key, chain.size(), &chain.head())?;
        conn.execute_batch("COMMIT")?;
        conn.execute_batch("DETACH DATABASE damaged")?;
        if let Some(problem) = crate::integrity::sqlite_check(&conn, true) {
            return Err(StoreError::Corrupt(format!("the rebuilt database does not pass SQLite's check: {problem}")));
        }
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        Ok(())
    })();
    if let Err(e) = built {
        remove_tmp();
        return Err(e);
    }
    // The damaged file is kept as evidence; the rebuilt one takes its place.
    let kept: PathBuf = dir.join(format!("{DB_FILE}.damaged-{now_ms}"));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        if from.exists() {
            std::fs::rename(&from, format!("{}{suffix}", kept.display()))
                .map_err(|e| StoreError::Io(format!("cannot move the damaged database aside: {e}")))?;
        }
    }
    std::fs::rename(&tmp, &db).map_err(|e| StoreError::Io(format!("cannot move the rebuilt database into place: {e}")))?;
    remove_tmp();
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    let conn = open_connection(&db, true)?;
    let record =
        stockade_journal::witness::WitnessRecord { size: chain.size(), head: chain.head(), sale_no: crate::integrity::sale_no_high(&conn)?, truth: None };
    crate::integrity::WitnessFile::open(dir)
        .and_then(|mut w| w.rewrite(&store_id, &key, &record))
        .map_err(|e| StoreError::Io(format!("cannot write the witness file: {e}")))?;
    Ok(RepairReport {
        salvaged: salvage.entries.len() as u64,
        from_elsewhere,
        entries: chain.size(),
        head_hash: hex::encode(chain.head()),
        witnessed: witnessed.map(|f| f.size).unwrap_or(0),
        not_carried,
        damaged_copy: kept.display().to_string(),
    })
}
