//! The store's side of replication, without HTTP: which entries to send next, signing them,
//! recording HQ's co-signature, and restoring a wiped store from verified entries.

use crate::error::StoreError;
use crate::node::Store;
use ed25519_dalek::Signer;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use stockade_journal::{Checkpoint, Hash};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncConfig {
    pub hq_url: String,
    pub hq_public_key: String,
    pub hq_id: String,
    pub retailer_id: String,
    /// Entries HQ has acknowledged with its co-signature.
    pub acked_size: u64,
    pub last_ok_ms: Option<i64>,
    pub last_attempt_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// The next entries to send, ending at a checkpoint the store signs for them.
#[derive(Debug, Clone)]
pub struct Batch {
    pub entries: Vec<(u64, Vec<u8>)>,
    pub checkpoint: Checkpoint,
    pub signature: [u8; 64],
    /// The store's head when the batch was read (for HQ's lag display).
    pub head_size: u64,
}

impl Store {
    pub fn sync_config(&self) -> Result<Option<SyncConfig>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT hq_url, hq_public_key, hq_id, retailer_id, acked_size, last_ok_ms, last_attempt_ms, last_error FROM sync WHERE id = 1",
                [],
                |r| {
                    Ok(SyncConfig {
                        hq_url: r.get(0)?,
                        hq_public_key: r.get(1)?,
                        hq_id: r.get(2)?,
                        retailer_id: r.get(3)?,
                        acked_size: r.get::<_, i64>(4)? as u64,
                        last_ok_ms: r.get(5)?,
                        last_attempt_ms: r.get(6)?,
                        last_error: r.get(7)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// Links the store to HQ (after a successful enrolment).
    pub async fn set_sync_config(&self, cfg: SyncConfig) -> Result<(), StoreError> {
        self.write(move |tx| {
            // What the store held of another HQ goes (before the link changes to the new one).
            crate::evidence::enrolled_with(tx.conn(), &cfg.hq_id, &cfg.hq_public_key)?;
            tx.conn().execute(
                "INSERT INTO sync (id, hq_url, hq_public_key, hq_id, retailer_id, acked_size) VALUES (1, ?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(id) DO UPDATE SET hq_url = excluded.hq_url, hq_public_key = excluded.hq_public_key, hq_id = excluded.hq_id,
                    retailer_id = excluded.retailer_id, acked_size = excluded.acked_size,
                    hq_copy_after = CASE WHEN sync.hq_id = excluded.hq_id THEN sync.hq_copy_after ELSE 0 END,
                    hq_rebuilt_at = CASE WHEN sync.hq_id = excluded.hq_id THEN sync.hq_rebuilt_at ELSE 0 END",
                params![cfg.hq_url, cfg.hq_public_key, cfg.hq_id, cfg.retailer_id, cfg.acked_size as i64],
            )?;
            Ok(())
        })
        .await
    }

    /// Signs an arbitrary message with the store's key (request authentication).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key().sign(message).to_bytes()
    }

    /// Entries after `acked` (at most `max`), with a checkpoint signed for the last one. `None`
    /// when there is nothing to send. Reads one snapshot.
    pub fn batch_after(&self, acked: u64, max: u64) -> Result<Option<Batch>, StoreError> {
        let store_id = self.info().store_id.clone();
        let (entries, head_size) = self.read(|c| {
            c.execute_batch("BEGIN")?;
            let head: i64 = c.query_row("SELECT COALESCE(MAX(seq), 0) FROM journal", [], |r| r.get(0))?;
            let mut st = c.prepare_cached("SELECT seq, bytes, hash FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
            let rows = st
                .query_map(params![acked as i64, max as i64], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?)))?
                .collect::<Result<Vec<_>, _>>();
            drop(st);
            c.execute_batch("COMMIT")?;
            Ok((rows?, head as u64))
        })?;
        let Some((last, _, hash)) = entries.last() else { return Ok(None) };
        let head: Hash = hash.clone().try_into().map_err(|_| StoreError::Corrupt(format!("entry {last}: hash is not 32 bytes")))?;
        let checkpoint = Checkpoint { store_id, size: *last, head };
        let signature = checkpoint.sign(self.signing_key());
        Ok(Some(Batch { entries: entries.into_iter().map(|(s, b, _)| (s, b)).collect(), checkpoint, signature, head_size }))
    }

    /// A signed checkpoint of what HQ already holds (an empty batch: heartbeat and co-signature).
    pub fn checkpoint_at(&self, size: u64) -> Result<(Checkpoint, [u8; 64]), StoreError> {
        let head: Hash = if size == 0 {
            stockade_journal::GENESIS
        } else {
            let h: Vec<u8> = self
                .read(|c| Ok(c.query_row("SELECT hash FROM journal WHERE seq = ?1", params![size as i64], |r| r.get(0)).optional()?))?
                .ok_or_else(|| StoreError::Corrupt(format!("entry {size} is missing")))?;
            h.try_into().map_err(|_| StoreError::Corrupt(format!("entry {size}: hash is not 32 bytes")))?
        };
        let cp = Checkpoint { store_id: self.info().store_id.clone(), size, head };
        let sig = cp.sign(self.signing_key());
        Ok((cp, sig))
    }

    /// Keeps HQ's co-signature of a checkpoint and moves the acknowledged size.
    pub async fn record_ack(&self, checkpoint: Checkpoint, signature: [u8; 64], hq_signature: Vec<u8>, now_ms: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.conn().execute(
                "INSERT INTO checkpoints (size, head, signature, hq_signature) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(size) DO UPDATE SET hq_signature = excluded.hq_signature",
                params![checkpoint.size as i64, &checkpoint.head[..], &signature[..], hq_signature],
            )?;
            tx.conn().execute(
                "UPDATE sync SET acked_size = ?1, last_ok_ms = ?2, last_attempt_ms = ?2, last_error = NULL WHERE id = 1",
                params![checkpoint.size as i64, now_ms],
            )?;
            Ok(())
        })
        .await
    }

    /// Records a failed attempt; with `hq_size`, HQ said where it is (a gap): send from there.
    pub async fn record_sync_error(&self, error: String, hq_size: Option<u64>, now_ms: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.conn().execute("UPDATE sync SET last_attempt_ms = ?1, last_error = ?2 WHERE id = 1", params![now_ms, error])?;
            if let Some(size) = hq_size {
                tx.conn().execute("UPDATE sync SET acked_size = ?1 WHERE id = 1", params![size as i64])?;
            }
            Ok(())
        })
        .await
    }
}

/// Entries `(seq, exact bytes)` and the signed checkpoints they reach.
pub type JournalPage = (Vec<(u64, Vec<u8>)>, Vec<SignedCheckpoint>);

pub use stockade_journal::SignedCheckpoint;

#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub store_id: String,
    pub entries: u64,
    pub checkpoints: u64,
    pub head_hash: String,
}

/// Rebuilds a store in the empty folder `dir` from entries and checkpoints, after checking the
/// whole chain, that every checkpoint is signed by `key` (and co-signed by HQ when its key is given),
/// and that the last checkpoint covers the last entry. The key file is written with mode 0600.
/// Co-signatures are checked when HQ's key is given, and kept with [`CoSignatures::Keep`] (when
/// the store's link to HQ, which `verify` checks them against, is set up after).
/// Staff passwords are not in the journal: `manager` gets `password` so someone can log in.
/// What a restore does with HQ's co-signatures once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoSignatures {
    CheckOnly,
    Keep,
}

pub fn restore(
    dir: &std::path::Path,
    key: &ed25519_dalek::SigningKey,
    hq: Option<(&[ed25519_dalek::VerifyingKey], CoSignatures)>,
    entries: &[(u64, Vec<u8>)],
    checkpoints: &[SignedCheckpoint],
    manager: &str,
    password: &str,
) -> Result<RestoreReport, StoreError> {
    use crate::node::{DB_FILE, KEY_FILE};
    use stockade_journal::{ChainVerifier, Envelope};
    let bad = |m: String| StoreError::invalid("restore_refused", m);
    crate::auth::check_new_credentials(manager, password)?;
    let first = entries.first().ok_or_else(|| bad("there are no entries to restore".into()))?;
    let store_id = Envelope::decode(&first.1).map_err(|e| bad(format!("entry 1 is unreadable: {e}")))?.store;
    let public = key.verifying_key();

    let mut chain = ChainVerifier::new(&store_id);
    let mut sealed = Vec::with_capacity(entries.len());
    for (seq, bytes) in entries {
        // The bytes as they were signed, never re-encoded: any release's entries restore.
        let (e, env) = chain.push_bytes(*seq, bytes).map_err(|err| bad(err.to_string()))?;
        sealed.push((e, env));
    }
    let hashes: std::collections::HashMap<u64, Hash> = sealed.iter().map(|(e, _)| (e.seq, e.hash)).collect();
    let mut cps = Vec::with_capacity(checkpoints.len());
    for c in checkpoints {
        let head: Hash = hex::decode(&c.head).ok().and_then(|h| h.try_into().ok()).ok_or_else(|| bad(format!("checkpoint {}: bad head", c.size)))?;
        if hashes.get(&c.size) != Some(&head) {
            return Err(bad(format!("checkpoint {} does not match the entries", c.size)));
        }
        let cp = Checkpoint { store_id: store_id.clone(), size: c.size, head };
        let sig = hex::decode(&c.signature).unwrap_or_default();
        if !cp.verify(&public, &sig) {
            return Err(bad(format!("checkpoint {} is not signed by this store's key", c.size)));
        }
        let hq_sig = match (&c.hq_signature, hq) {
            (Some(h), Some((keys, keep))) => {
                let h = hex::decode(h).unwrap_or_default();
                if !keys.iter().any(|k| cp.verify(k, &h)) {
                    return Err(bad(format!("checkpoint {}: HQ's co-signature does not verify", c.size)));
                }
                Some(h).filter(|_| keep == CoSignatures::Keep)
            }
            // Without HQ's key a co-signature cannot be checked: it is not kept.
            (_, None) | (None, _) => None,
        };
        cps.push((cp, sig, hq_sig));
    }
    let covered = cps.iter().map(|c| c.0.size).max().unwrap_or(0);
    if covered != chain.size() {
        return Err(bad(format!("the last signed checkpoint covers {covered} entries but {} were supplied", chain.size())));
    }
    if let Some((_, env)) = sealed.first() {
        match &env.event {
            stockade_journal::Event::StoreInitialized { public_key, .. } if *public_key == hex::encode(public.to_bytes()) => {}
            _ => return Err(bad("entry 1 does not initialize a store with this key".into())),
        }
    }

    std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
    if dir.join(DB_FILE).exists() || dir.join(KEY_FILE).exists() {
        return Err(StoreError::conflict("already_initialized", format!("{} already holds a store: restore into an empty folder", dir.display())));
    }
    // Build in a temporary file, then move it into place: a failed restore leaves nothing behind
    // (a manager name that is not in the journal is only found once the staff are replayed).
    let tmp = dir.join(format!("{DB_FILE}.restoring"));
    let remove_tmp = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
        }
    };
    remove_tmp();
    let built = (|| -> Result<(), StoreError> {
        let conn = crate::node::open_connection(&tmp, false)?;
        crate::node::create_schema(&conn, dir, 0)?;
        conn.execute_batch("BEGIN")?;
        for (e, env) in &sealed {
            crate::node::insert_entry(&conn, e)?;
            // An entry that cannot be applied is named in `projection_faults`, not a failed restore.
            crate::migrate::replay_entry(&conn, e.seq, env)?;
        }
        for (cp, sig, hq_sig) in &cps {
            crate::node::insert_checkpoint(&conn, cp, sig, hq_sig.as_deref())?;
        }
        let head = Checkpoint { store_id: store_id.clone(), size: chain.size(), head: chain.head() };
        crate::integrity::write_head(&conn, &store_id, key, head.size, &head.head)?;
        let user: Option<String> =
            conn.query_row("SELECT user_id FROM staff WHERE username = ?1 AND role = 'manager' AND active = 1", params![manager], |r| r.get(0)).optional()?;
        let user = user.ok_or_else(|| bad(format!("'{manager}' is not an active manager of this store: pass --manager with one who is")))?;
        conn.execute("INSERT INTO credentials (user_id, password_hash) VALUES (?1, ?2)", params![user, crate::auth::hash_password(password)?])?;
        conn.execute_batch("COMMIT")?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        Ok(())
    })();
    if let Err(e) = built {
        remove_tmp();
        return Err(e);
    }
    if let Err(e) = stockade_journal::keyfile::write(&dir.join(KEY_FILE), key) {
        remove_tmp();
        return Err(StoreError::Io(e.to_string()));
    }
    if let Err(e) = std::fs::rename(&tmp, dir.join(DB_FILE)) {
        remove_tmp();
        let _ = std::fs::remove_file(dir.join(KEY_FILE));
        return Err(StoreError::Io(format!("cannot move the restored database into place: {e}")));
    }
    remove_tmp();
    // The witness starts at the restored head.
    let witnessed = (|| -> Result<(), StoreError> {
        let conn = crate::node::open_connection(&dir.join(DB_FILE), true)?;
        let record =
            stockade_journal::witness::WitnessRecord { size: chain.size(), head: chain.head(), sale_no: crate::integrity::sale_no_high(&conn)?, truth: None };
        crate::integrity::WitnessFile::open(dir)
            .and_then(|mut w| w.rewrite(&store_id, key, &record))
            .map_err(|e| StoreError::Io(format!("cannot write the witness file: {e}")))
    })();
    witnessed?;
    Ok(RestoreReport { store_id, entries: chain.size(), checkpoints: cps.len() as u64, head_hash: hex::encode(chain.head()) })
}

impl Store {
    /// Applies a verified catalog update from HQ through the store's own journal: products are
    /// matched by SKU (created or updated), then one `HqCatalogApplied` entry records progress.
    /// All in one transaction; a product that cannot be applied refuses the whole update.
    pub async fn apply_hq_catalog(
        &self,
        hq_id: String,
        hq_seq: u64,
        retailer_seq: u64,
        products: Vec<stockade_domain::catalog::ProductSpec>,
    ) -> Result<u64, StoreError> {
        self.write(move |tx| {
            let done: bool =
                tx.conn().query_row("SELECT EXISTS(SELECT 1 FROM hq_catalog WHERE retailer_seq = ?1)", params![retailer_seq as i64], |r| r.get(0))?;
            if done {
                return Ok(0);
            }
            let mut changed = 0u64;
            for spec in products {
                let existing: Option<String> =
                    tx.conn().query_row("SELECT product_id FROM products WHERE sku = ?1", params![spec.sku], |r| r.get(0)).optional()?;
                match existing {
                    Some(product_id) => {
                        let current = crate::queries::load_product(tx.conn(), &product_id)?;
                        if current.spec != spec {
                            crate::commands::update_product_in_tx(tx, "hq", product_id, spec)?;
                            changed += 1;
                        }
                    }
                    None => {
                        crate::commands::create_product_in_tx(tx, "hq", spec)?;
                        changed += 1;
                    }
                }
            }
            tx.append("hq", stockade_journal::Event::HqCatalogApplied { hq_id, hq_seq, retailer_seq, products: changed })?;
            Ok(changed)
        })
        .await
    }

    /// Records a verified purchase order from HQ through the store's own journal: its lines are
    /// in transit until stock is received with `po_id` as the receipt's document. An order
    /// naming a product this store does not have is refused whole.
    pub async fn apply_hq_order(
        &self,
        hq_id: String,
        hq_seq: u64,
        store_seq: u64,
        po_id: String,
        lines: Vec<stockade_journal::hq_event::PurchaseOrderLine>,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let done: bool =
                tx.conn().query_row("SELECT EXISTS(SELECT 1 FROM purchase_orders WHERE store_seq = ?1)", params![store_seq as i64], |r| r.get(0))?;
            if done {
                return Ok(false);
            }
            for l in &lines {
                crate::queries::load_product(tx.conn(), &l.product_id)
                    .map_err(|_| StoreError::invalid("unknown_product", format!("purchase order {po_id} names unknown product '{}'", l.product_id)))?;
                if l.units <= 0 {
                    return Err(StoreError::invalid("invalid_quantity", format!("purchase order {po_id} orders {} units of {}", l.units, l.sku)));
                }
            }
            tx.append("hq", stockade_journal::Event::HqPurchaseOrderApplied { hq_id, hq_seq, store_seq, po_id, lines })?;
            Ok(true)
        })
        .await
    }
}

impl Store {
    /// Entries from `from` (at most `limit`) and the signed checkpoints they reach, from one
    /// snapshot. The signed head counts as a checkpoint when the page ends at the last entry, so
    /// a full read always ends at a signature.
    fn journal_snapshot(&self, from: u64, limit: u64) -> Result<JournalPage, StoreError> {
        let signed = |r: &rusqlite::Row| -> rusqlite::Result<SignedCheckpoint> {
            Ok(SignedCheckpoint {
                size: r.get::<_, i64>(0)? as u64,
                head: hex::encode(r.get::<_, Vec<u8>>(1)?),
                signature: hex::encode(r.get::<_, Vec<u8>>(2)?),
                hq_signature: r.get::<_, Option<Vec<u8>>>(3)?.map(hex::encode),
            })
        };
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let entries = c
                .prepare_cached("SELECT seq, bytes FROM journal WHERE seq >= ?1 ORDER BY seq LIMIT ?2")?
                .query_map(params![i64::try_from(from).unwrap_or(i64::MAX), limit.min(i64::MAX as u64) as i64], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let last = entries.last().map(|e| e.0).unwrap_or(0);
            let mut cps = c
                .prepare_cached("SELECT size, head, signature, hq_signature FROM checkpoints WHERE size >= ?1 AND size <= ?2 ORDER BY size")?
                .query_map(params![i64::try_from(from).unwrap_or(i64::MAX), last as i64], signed)?
                .collect::<Result<Vec<_>, _>>()?;
            let last_hash: Option<Vec<u8>> = c.query_row("SELECT hash FROM journal WHERE seq = ?1", params![last as i64], |r| r.get(0)).optional()?;
            c.execute_batch("COMMIT")?;
            // The last entry is covered by a checkpoint the store signs now (the head row's
            // signature is a head statement, not a checkpoint).
            if let Some(h) = last_hash.filter(|_| last > 0 && !cps.iter().any(|c| c.size == last)) {
                let head: Hash = h.try_into().map_err(|_| StoreError::Corrupt(format!("entry {last}: hash is not 32 bytes")))?;
                let cp = Checkpoint { store_id: self.info().store_id.clone(), size: last, head };
                cps.push(SignedCheckpoint { size: last, head: hex::encode(head), signature: hex::encode(cp.sign(self.signing_key())), hq_signature: None });
            }
            Ok((entries, cps))
        })
    }

    /// A page of the journal: what HQ pulls to rebuild itself.
    pub fn journal_page(&self, from: u64, limit: u64) -> Result<JournalPage, StoreError> {
        self.journal_snapshot(from, limit.min(5000))
    }

    /// A self-verifying backup of the whole journal: entries, every signed checkpoint (with HQ's
    /// co-signatures) and the signed head. One consistent snapshot.
    pub fn backup(&self) -> Result<Vec<u8>, StoreError> {
        use stockade_journal::backup::{encode_with, Header, FORMAT};
        // The evidence first: every tree head in it witnesses a head the journal read after it
        // still has (the journal only grows).
        let evidence = self.hq_evidence()?;
        let (entries, cps) = self.journal_snapshot(1, u64::MAX)?;
        let header = Header {
            format: FORMAT.into(),
            journal: "store".into(),
            id: self.info().store_id.clone(),
            public_key: hex::encode(self.public_key().to_bytes()),
            created_ms: self.clock().now_ms(),
        };
        Ok(encode_with(&header, &entries, &cps, &evidence))
    }
}

/// An HQ entry held unapplied: verified against HQ's key, of a kind this release does not know
/// (or queued behind one, so that a stream is applied in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldEntry {
    pub hq_seq: u64,
    /// `catalog` or `orders`.
    pub stream: String,
    /// Its number in that stream.
    pub seq: u64,
    pub kind: String,
    /// The entry's exact bytes (UTF-8 JSON) and HQ's signature over them, as received.
    pub entry: String,
    pub signature: String,
}

/// "HQ entry 44 (catalog 7): catalog_published v2", oldest first.
pub fn held_hq_entries(conn: &rusqlite::Connection) -> Result<Vec<String>, StoreError> {
    Ok(held_in(conn, None)?.iter().map(|h| format!("HQ entry {} ({} {}): {}", h.hq_seq, h.stream, h.seq, stockade_journal::describe_kind(&h.kind))).collect())
}

fn held_in(conn: &rusqlite::Connection, stream: Option<&str>) -> Result<Vec<HeldEntry>, StoreError> {
    let exists: bool = conn.query_row("SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'hq_pending')", [], |r| r.get(0))?;
    if !exists {
        return Ok(vec![]);
    }
    let mut st = conn.prepare("SELECT hq_seq, stream, seq, kind, entry, signature FROM hq_pending WHERE ?1 IS NULL OR stream = ?1 ORDER BY hq_seq")?;
    let rows = st.query_map(params![stream], |r| {
        Ok(HeldEntry {
            hq_seq: r.get::<_, i64>(0)? as u64,
            stream: r.get(1)?,
            seq: r.get::<_, i64>(2)? as u64,
            kind: r.get(3)?,
            entry: String::from_utf8_lossy(&r.get::<_, Vec<u8>>(4)?).into_owned(),
            signature: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Store {
    /// HQ entries of `stream` held unapplied, in their stream's order.
    pub fn held(&self, stream: &str) -> Result<Vec<HeldEntry>, StoreError> {
        let stream = stream.to_string();
        self.read(move |c| held_in(c, Some(&stream)))
    }

    /// Holds a verified HQ entry this release cannot apply (or one queued behind such an entry).
    pub async fn hold_hq_entry(&self, h: HeldEntry) -> Result<(), StoreError> {
        tracing::warn!(hq_seq = h.hq_seq, stream = %h.stream, seq = h.seq, kind = %h.kind, "HQ entry held unapplied: this release does not know its kind");
        self.write(move |tx| {
            let now = tx.now_ms();
            tx.conn().execute(
                "INSERT OR IGNORE INTO hq_pending (hq_seq, stream, seq, kind, entry, signature, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![h.hq_seq as i64, h.stream, h.seq as i64, h.kind, h.entry.as_bytes(), h.signature, now],
            )?;
            Ok(())
        })
        .await
    }

    /// Forgets a held entry once it has been applied.
    pub async fn release_held(&self, hq_seq: u64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.conn().execute("DELETE FROM hq_pending WHERE hq_seq = ?1", params![hq_seq as i64])?;
            Ok(())
        })
        .await
    }

    /// The last number of `stream` this store has applied or holds.
    pub fn stream_position(&self, stream: &str) -> Result<u64, StoreError> {
        let applied_sql = match stream {
            "catalog" => "SELECT COALESCE(MAX(retailer_seq), 0) FROM hq_catalog",
            "orders" => "SELECT COALESCE(MAX(store_seq), 0) FROM purchase_orders",
            other => return Err(StoreError::invalid("unknown_stream", format!("no HQ stream '{other}'"))),
        };
        let stream = stream.to_string();
        self.read(move |c| {
            let applied: i64 = c.query_row(applied_sql, [], |r| r.get(0))?;
            let held: i64 = c.query_row("SELECT COALESCE(MAX(seq), 0) FROM hq_pending WHERE stream = ?1", params![stream], |r| r.get(0))?;
            Ok(applied.max(held) as u64)
        })
    }
}
