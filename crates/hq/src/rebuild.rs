//! Backups of HQ's own journal and `rebuild`: a fresh HQ database from HQ's journal backup and
//! the stores' journals, every signature checked again on the way in, then digests that prove
//! the result equals what was there.

use crate::db::{Db, Tx, Val};
use crate::{create_schema, project, Hq, HqError, NowMs};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use stockade_journal::backup::{encode, Backup, Header, FORMAT};
use stockade_journal::hq_event::{entry_message, rotation_message};
use stockade_journal::hq_event::{HqEnvelope, HqEvent};
use stockade_journal::tree::TreeHead;
use stockade_journal::SignedCheckpoint;
use stockade_journal::{chain_hash, Checkpoint, GENESIS};

/// Most placeholder entries a rebuild writes beyond the last entry any store holds.
const MAX_UNHELD: u64 = 1_000_000;

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
    /// Entries of HQ's old journal no store held (rebuilt from the stores alone).
    pub lost: u64,
    /// HQ's key was replaced (lost), named by the root key.
    pub rotated: bool,
    /// (store id, entries, head hash).
    pub stores: Vec<(String, u64, String)>,
    pub digests: Vec<(String, String)>,
}

/// HQ's journal in `db` as a self-verifying backup file (its id and key from its first entry).
pub(crate) fn backup_hq_journal_of(db: &Db, now_ms: i64) -> Result<Vec<u8>, HqError> {
    let (rows, head, (_, current_key)) = db.snapshot(|tx| {
        let rows = tx.query("SELECT seq, bytes FROM hq_journal ORDER BY seq", &[])?;
        let head = tx.one("SELECT size, hash, signature FROM hq_head WHERE id = 1", &[])?;
        Ok::<_, HqError>((rows, head, crate::trust::current_key_in(tx)?))
    })?;
    let entries: Vec<(u64, Vec<u8>)> = rows.into_iter().filter_map(|r| Some((r[0].i()? as u64, r[1].b()?.to_vec()))).collect();
    let first =
        entries.first().map(|e| HqEnvelope::decode(&e.1)).transpose().map_err(|e| HqError::Corrupt(format!("HQ journal entry 1 is unreadable: {e}")))?;
    let Some(HqEnvelope { event: HqEvent::HqInitialized { hq_id, .. }, .. }) = first else {
        return Err(HqError::Corrupt("HQ journal entry 1 is not the initialization".into()));
    };
    let public_key = current_key;
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
    let current = envs
        .iter()
        .rev()
        .find_map(|(_, e)| match &e.event {
            HqEvent::HqKeyRotated { new_public_key, .. } => Some(new_public_key),
            _ => None,
        })
        .unwrap_or(public_key);
    if *current != hex::encode(key.verifying_key().to_bytes()) {
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
    // Co-signatures made with any key of HQ's history (its first, and every rotation's).
    let mut trusted: Vec<VerifyingKey> = envs
        .iter()
        .filter_map(|(_, e)| match &e.event {
            HqEvent::HqInitialized { public_key, .. } => stockade_journal::verifying_key_from_hex(public_key),
            HqEvent::HqKeyRotated { new_public_key, .. } => stockade_journal::verifying_key_from_hex(new_public_key),
            _ => None,
        })
        .collect();
    trusted.push(hq.public_key());
    let report_stores = replay_stores(&hq, stores, &trusted)?;
    let digests = hq.digests()?;
    Ok((hq, RebuildReport { hq_entries: envs.len() as u64, stores: report_stores, digests, lost: 0, rotated: false }))
}

/// Each store pushed again, interval by interval between the checkpoints HQ had co-signed
/// (with any key in `trusted`) and the last store-signed one, so every signature is checked as
/// on first arrival. Returns (store id, size, head) per store.
fn replay_stores(hq: &Hq, stores: &[Backup], trusted: &[VerifyingKey]) -> Result<Vec<(String, u64, String)>, HqError> {
    let mut report_stores = Vec::new();
    for b in stores {
        let store_id = b.header.id.clone();
        let (_, key) = hq.store_key(&store_id)?.ok_or_else(|| invalid(format!("store {store_id} is not enrolled in HQ's journal")))?;
        let last = b.entries.len() as u64;
        let mut ends: Vec<&SignedCheckpoint> = b
            .checkpoints
            .iter()
            .filter(|c| {
                c.hq_signature.as_ref().is_some_and(|s| {
                    let head = hex::decode(&c.head).ok().and_then(|h| h.try_into().ok()).unwrap_or([0; 32]);
                    let cp = Checkpoint { store_id: store_id.clone(), size: c.size, head };
                    let sig = hex::decode(s).unwrap_or_default();
                    trusted.iter().any(|k| cp.verify(k, &sig))
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
    Ok(report_stores)
}

/// One store's contribution to a rebuild from the stores alone: its journal and its evidence
/// about HQ (a store backup of format 2, or pulled from the running store).
fn store_label(b: &Backup) -> &str {
    &b.header.id
}

/// What the stores agree HQ was: its id, the keys it signed with (oldest first), its root key,
/// and every entry of its journal some store held (number → exact bytes).
struct Vouched {
    hq_id: String,
    keys: Vec<VerifyingKey>,
    key_hex: Vec<String>,
    root: Option<String>,
    entries: BTreeMap<u64, Vec<u8>>,
}

fn vouched(stores: &[Backup]) -> Result<Vouched, HqError> {
    // Entry 1 (HQ's initialization) names HQ and its first key; every store holds it.
    let mut entries: BTreeMap<u64, (Vec<u8>, String)> = BTreeMap::new();
    for b in stores {
        if b.evidence.hq_entries.is_empty() {
            return Err(invalid(format!(
                "store {}: its backup holds no copy of HQ's journal (written by an older release, or the store never synced with this release): take a new backup or pull it with --from-store",
                store_label(b)
            )));
        }
        for e in &b.evidence.hq_entries {
            match entries.get(&e.hq_seq) {
                Some((bytes, from)) if *bytes != e.entry.as_bytes() => {
                    return Err(invalid(format!(
                        "HQ journal entry {} differs between store {from} and store {}: HQ signed two versions of its history",
                        e.hq_seq,
                        store_label(b)
                    )))
                }
                Some(_) => {}
                None => {
                    entries.insert(e.hq_seq, (e.entry.clone().into_bytes(), store_label(b).to_string()));
                }
            }
        }
    }
    let first = entries.get(&1).ok_or_else(|| invalid("no store holds HQ journal entry 1 (HQ's initialization)".into()))?;
    let env = HqEnvelope::decode(&first.0).map_err(|e| invalid(format!("HQ journal entry 1: {e}")))?;
    let HqEvent::HqInitialized { hq_id, public_key, .. } = env.event else { return Err(invalid("HQ journal entry 1 is not the initialization".into())) };
    let first_key = stockade_journal::verifying_key_from_hex(&public_key).ok_or_else(|| invalid("HQ journal entry 1 holds a malformed key".into()))?;
    // The root key: the first one journaled, and the same one every store recorded.
    let mut root: Option<String> = None;
    for (seq, (bytes, from)) in &entries {
        if let Ok(HqEnvelope { event: HqEvent::HqRootKeySet { root_public_key }, .. }) = HqEnvelope::decode(bytes) {
            match &root {
                None => root = Some(root_public_key),
                Some(r) if *r != root_public_key => {
                    return Err(invalid(format!("HQ journal entry {seq} (held by store {from}) names a second root key: refused")));
                }
                Some(_) => {}
            }
        }
    }
    for b in stores {
        if let (Some(theirs), Some(r)) = (&b.evidence.root_key, &root) {
            if theirs != r {
                return Err(invalid(format!("store {} trusts root key {theirs}, the journal held by the stores names {r}: refused", store_label(b))));
            }
        }
    }
    // Keys in force, in journal order: each rotation from the key then in force, signed by the
    // root key.
    let mut keys = vec![first_key];
    let mut key_hex = vec![public_key];
    let mut out = BTreeMap::new();
    for (seq, (bytes, from)) in &entries {
        let env = HqEnvelope::decode(bytes).map_err(|e| invalid(format!("HQ journal entry {seq} (held by store {from}): {e}")))?;
        if env.seq != *seq || env.hq != hq_id {
            return Err(invalid(format!("HQ journal entry {seq} (held by store {from}) is numbered {} of HQ {}", env.seq, env.hq)));
        }
        if let HqEvent::HqKeyRotated { old_public_key, new_public_key, root_signature } = &env.event {
            let root_key = root.as_deref().and_then(stockade_journal::verifying_key_from_hex);
            let signed = root_key.is_some_and(|r| {
                let sig = hex::decode(root_signature).ok().and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok());
                sig.is_some_and(|s| ed25519_dalek::Verifier::verify(&r, &rotation_message(&hq_id, old_public_key, new_public_key), &s).is_ok())
            });
            let new = stockade_journal::verifying_key_from_hex(new_public_key);
            match (signed && key_hex.last() == Some(old_public_key), new) {
                (true, Some(k)) => {
                    keys.push(k);
                    key_hex.push(new_public_key.clone());
                }
                _ => return Err(invalid(format!("HQ journal entry {seq}: a key rotation HQ's root key did not sign"))),
            }
        }
        out.insert(*seq, bytes.clone());
    }
    // Every key a store trusted is one of that history (a store enrolled after a rotation
    // knows only the later keys).
    for b in stores {
        if let Some(k) = b.evidence.hq_keys.iter().find(|k| !key_hex.contains(k)) {
            return Err(invalid(format!("store {} trusted HQ key {k}, which is not in the key history the stores hold: refused", store_label(b))));
        }
    }
    // Every entry is signed by the key in force when it was written or a later one (HQ signs
    // what it hands over with its key in force then): a retired key signs nothing new.
    let rotations: Vec<u64> = out
        .iter()
        .filter(|(_, bytes)| matches!(HqEnvelope::decode(bytes), Ok(HqEnvelope { event: HqEvent::HqKeyRotated { .. }, .. })))
        .map(|(seq, _)| *seq)
        .collect();
    for b in stores {
        for e in &b.evidence.hq_entries {
            let in_force = rotations.iter().filter(|r| **r <= e.hq_seq).count();
            let sig = hex::decode(&e.signature).ok().and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok());
            let msg = entry_message(e.hq_seq, e.entry.as_bytes());
            if !sig.is_some_and(|s| keys.iter().skip(in_force).any(|k| ed25519_dalek::Verifier::verify(k, &msg, &s).is_ok())) {
                return Err(invalid(format!(
                    "store {}: HQ journal entry {} is not signed by HQ {hq_id}'s key in force then or later",
                    store_label(b),
                    e.hq_seq
                )));
            }
        }
    }
    Ok(Vouched { hq_id, keys, key_hex, root, entries: out })
}

/// Witnessed history: every store's journal is checked against the tree heads HQ signed that
/// any store holds. A leaf that matches no prefix of the journal is a contradiction — even
/// when the journal is signed with the store's own key (a copied key, a rewritten history).
/// Returns how many tree heads were checked.
fn cross_check(stores: &[Backup], keys: &[VerifyingKey], hq_id: &str) -> Result<u64, HqError> {
    let mut heads: Vec<(&TreeHead, &str)> = Vec::new();
    for b in stores {
        for t in &b.evidence.tree_heads {
            if t.hq_id == hq_id && keys.iter().any(|k| t.verify(k).is_ok()) {
                heads.push((t, store_label(b)));
            }
        }
    }
    let refs: Vec<&TreeHead> = heads.iter().map(|(t, _)| *t).collect();
    for b in stores {
        let id = store_label(b);
        if let Some((t, agreed)) = stockade_journal::tree::contradiction(id, &b.entries, &refs) {
            let holder = heads.iter().find(|(h, _)| std::ptr::eq(*h, t)).map(|(_, by)| *by).unwrap_or("?");
            let at = chrono::DateTime::from_timestamp_millis(t.at_ms).map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default();
            return Err(HqError::Refused {
                code: "witness_contradicted",
                message: format!(
                    "store {id}: its journal contradicts the head HQ witnessed for it ({at}, tree head held by store {holder}): entries up to {agreed} agree with what HQ witnessed; the first contradicted entry is {}",
                    agreed + 1
                ),
            });
        }
    }
    Ok(heads.len() as u64)
}

/// Rebuilds HQ into `db`, which must be empty, from its stores alone (no HQ backup): the part
/// of HQ's journal each store holds, checked against HQ's signatures, put back at its own
/// number (entries no store held become `entry_lost`), then every store's journal, checked
/// against its key and against the tree heads the other stores hold.
///
/// HQ's key is `hq.key` in `dir` when it survived. When it did not, `root` (the offline root
/// key HQ's journal names) signs a new one, written to `dir`, and the rotation is journaled:
/// stores accept the new key from that statement and keep checking old co-signatures with the
/// old key.
pub fn rebuild_from_stores(dir: &Path, db: Db, stores: &[Backup], root: Option<&SigningKey>, now: NowMs) -> Result<(Hq, RebuildReport), HqError> {
    if stores.is_empty() {
        return Err(invalid("give at least one store (a backup file or --from-store)".into()));
    }
    let v = vouched(stores)?;
    let key_path = dir.join(crate::KEY_FILE);
    let current = v.key_hex.last().cloned().unwrap_or_default();
    // The history must be anchored in a key this operator holds: HQ's own key when no rotation
    // ever happened, else the root key (which alone could have signed the rotations).
    let root_hex = root.map(|r| hex::encode(r.verifying_key().to_bytes()));
    if let Some(r) = &root_hex {
        if v.root.as_deref() != Some(r.as_str()) {
            return Err(invalid(match &v.root {
                Some(known) => format!("the root key given is not HQ's root key ({known})"),
                None => "HQ's stores know no root key: a lost HQ key cannot be replaced; enrol the stores with a new HQ".into(),
            }));
        }
    } else if v.keys.len() > 1 {
        return Err(invalid("HQ's key was replaced before: give HQ's root key (--root-key) to check that history".into()));
    }
    let witnessed = cross_check(stores, &v.keys, &v.hq_id)?;
    let (key, rotation) = if key_path.exists() {
        let key = stockade_journal::keyfile::read(&key_path).map_err(|e| HqError::Io(e.to_string()))?;
        if hex::encode(key.verifying_key().to_bytes()) != current {
            return Err(invalid(format!("{} is not the key HQ's stores trust now ({current})", key_path.display())));
        }
        (key, None)
    } else {
        let root = root.ok_or_else(|| {
            invalid(format!("{} is missing: give HQ's root key (--root-key) to name a new HQ key, or put the old key back", key_path.display()))
        })?;
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let key = SigningKey::from_bytes(&seed);
        let new = hex::encode(key.verifying_key().to_bytes());
        let sig = crate::trust::sign_rotation(root, &v.hq_id, &current, &new);
        (key, Some(HqEvent::HqKeyRotated { old_public_key: current.clone(), new_public_key: new, root_signature: sig }))
    };
    create_schema(&db)?;
    let empty = db.tx(|tx| tx.one("SELECT COUNT(*) FROM hq_journal", &[]))?.and_then(|r| r[0].i()).unwrap_or(0) == 0;
    if !empty {
        return Err(HqError::Conflict { code: "not_empty", message: "rebuild writes into an empty database".into(), hq_size: None });
    }
    // Up to the furthest any store read HQ's journal: entries after the last one held were for
    // others, and a store's next read starts after what it saw.
    // (`hq_seen` is the store's word, not HQ's signature: bounded, so a bad file cannot make the
    // rebuild write millions of placeholders.)
    let held = v.entries.keys().next_back().copied().unwrap_or(0);
    let seen = stores.iter().map(|b| b.evidence.hq_seen).max().unwrap_or(0);
    if seen > held.saturating_add(MAX_UNHELD) {
        return Err(invalid(format!("a store says HQ's journal reached entry {seen}, far beyond the {held} entries the stores hold: refused")));
    }
    let last = held.max(seen);
    let at_ms = now();
    let recovered = v.entries.len() as u64;
    let lost = last - recovered;
    // `hq_rebuilt` first (stores learn where the rebuilt journal's new entries start), then the
    // rotation; a store checks rotations before the entries of a page.
    let mut extra = vec![HqEvent::HqRebuilt { stores: stores.len() as u64, recovered, lost }];
    extra.extend(rotation.clone());
    let hq_id = v.hq_id.clone();
    // A new key is written beside the old place first and moved there only once the journal
    // naming it is committed: a failed rebuild leaves no key the stores would refuse.
    let new_key_path = dir.join(format!("{}.new", crate::KEY_FILE));
    if rotation.is_some() {
        let _ = std::fs::remove_file(&new_key_path);
        stockade_journal::keyfile::write(&new_key_path, &key).map_err(|e| HqError::Io(e.to_string()))?;
    }
    db.tx(|tx: &mut dyn Tx| {
        let mut head = GENESIS;
        let mut put = |tx: &mut dyn Tx, seq: u64, bytes: Vec<u8>, env: &HqEnvelope| -> Result<(), HqError> {
            head = chain_hash(&head, &bytes);
            tx.exec(
                "INSERT INTO hq_journal (seq, at_ms, kind, bytes, hash) VALUES ($1, $2, $3, $4, $5)",
                &[seq.into(), env.at_ms.into(), env.event.kind().into(), Val::B(bytes), Val::B(head.to_vec())],
            )?;
            project::apply_hq(tx, env)
        };
        let envelope =
            |seq: u64, event: HqEvent| HqEnvelope { v: stockade_journal::FORMAT_VERSION, hq: hq_id.clone(), seq, at_ms, actor: "rebuild".into(), event };
        for seq in 1..=last + extra.len() as u64 {
            let (bytes, env) = match v.entries.get(&seq) {
                Some(b) => (b.clone(), HqEnvelope::decode(b).map_err(|e| invalid(format!("HQ journal entry {seq}: {e}")))?),
                None => {
                    let event = if seq > last { extra[(seq - last - 1) as usize].clone() } else { HqEvent::EntryLost {} };
                    let env = envelope(seq, event);
                    (env.encode().map_err(|e| HqError::Io(e.to_string()))?, env)
                }
            };
            put(tx, seq, bytes, &env)?;
        }
        let size = last + extra.len() as u64;
        let cp = Checkpoint { store_id: hq_id.clone(), size, head };
        tx.exec(
            "INSERT INTO hq_head (id, size, hash, signature) VALUES (1, $1, $2, $3)",
            &[size.into(), Val::B(head.to_vec()), Val::B(cp.sign(&key).to_vec())],
        )?;
        Ok::<_, HqError>(())
    })?;
    if rotation.is_some() {
        std::fs::rename(&new_key_path, &key_path).map_err(|e| HqError::Io(format!("cannot move the new key to {}: {e}", key_path.display())))?;
    }
    let replayed = Hq::open(dir, db, now).and_then(|hq| {
        let mut trusted = v.keys.clone();
        trusted.push(hq.public_key());
        let report = replay_stores(&hq, stores, &trusted)?;
        Ok((hq, report))
    });
    // A failed replay leaves no new key in place (the stores would not know it; a retry needs
    // the root key again).
    let (hq, report_stores) = match replayed {
        Ok(x) => x,
        Err(e) => {
            if rotation.is_some() {
                let _ = std::fs::rename(&key_path, &new_key_path);
            }
            return Err(e);
        }
    };
    let digests = hq.digests()?;
    tracing::info!(recovered, lost, witnessed, "HQ rebuilt from its stores");
    Ok((hq, RebuildReport { hq_entries: last + extra.len() as u64, stores: report_stores, digests, lost, rotated: rotation.is_some() }))
}
